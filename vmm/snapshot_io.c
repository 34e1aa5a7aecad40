/* The device-row side of snapshots: what a save or restore hook writes and reads,
 * on every architecture (the capture and restore of KVM state are per arch). */
#include "snapshot.h"

#include <string.h>

/* --- device node accessors --------------------------------------------------------- */

int snap_out__u32(struct snapshot_out *s, const char *name, uint32_t v)
{
	return vmstate_writer__set_u32(s->w, s->node, name, v);
}

int snap_out__u64(struct snapshot_out *s, const char *name, uint64_t v)
{
	return vmstate_writer__set_u64(s->w, s->node, name, v);
}

int snap_out__string(struct snapshot_out *s, const char *name, const char *v)
{
	return vmstate_writer__set_string(s->w, s->node, name, v);
}

int snap_out__blob(struct snapshot_out *s, const char *name, const void *data, size_t len)
{
	return vmstate_writer__set_blob(s->w, s->node, name, data, len);
}

int snap_in__u32(struct snapshot_in *s, const char *name, uint32_t *v, struct error *e)
{
	return vmstate__get_u32(s->vs, s->node, name, v, e);
}

int snap_in__u64(struct snapshot_in *s, const char *name, uint64_t *v, struct error *e)
{
	return vmstate__get_u64(s->vs, s->node, name, v, e);
}

int snap_in__string(struct snapshot_in *s, const char *name, const char **v, struct error *e)
{
	return vmstate__get_string(s->vs, s->node, name, v, e);
}

int snap_in__bytes(struct snapshot_in *s, const char *name, void *out, size_t len, struct error *e)
{
	return vmstate__get_bytes(s->vs, s->node, name, out, len, e);
}

bool snap_in__has(struct snapshot_in *s, const char *name)
{
	const void *data;
	size_t len;
	struct error absent;
	return vmstate__get_blob(s->vs, s->node, name, &data, &len, &absent) == 0;
}

int snap_in__blob(struct snapshot_in *s, const char *name, const void **data, size_t *len,
		  struct error *e)
{
	return vmstate__get_blob(s->vs, s->node, name, data, len, e);
}

/* A node whose children have unit addresses (vcpu@N, dev@N), as dtc expects it. */
void snapshot__indexed_parent(struct vmstate_writer *w, const char *path)
{
	vmstate_writer__node(w, path);
	vmstate_writer__set_u32(w, path, "#address-cells", 1);
	vmstate_writer__set_u32(w, path, "#size-cells", 0);
}

/* --- the CPU template ---------------------------------------------------------------- */

void snapshot__save_cpu_template(struct vmstate_writer *w, const struct cpu_template *t)
{
	vmstate_writer__set_string(w, SNAPSHOT_CPU_TEMPLATE, "name", cpu_tpl__name(t->kind));
	vmstate_writer__set_u64(w, SNAPSHOT_CPU_TEMPLATE, "digest", cpu_tpl__digest(t));
}

int snapshot__check_cpu_template(const struct vmstate *vs, const struct cpu_template *t,
				 struct error *e)
{
	/* A snapshot from before templates has no node: it ran without one. */
	if (!vmstate__has_node(vs, SNAPSHOT_CPU_TEMPLATE)) {
		if (t->kind == CPU_TPL_NONE)
			return 0;
		return error__fail(e, EXIT_USAGE,
				   "snapshot: it records no CPU template, its configuration has %s",
				   cpu_tpl__name(t->kind));
	}
	const char *name;
	uint64_t digest;
	if (vmstate__get_string(vs, SNAPSHOT_CPU_TEMPLATE, "name", &name, e) ||
	    vmstate__get_u64(vs, SNAPSHOT_CPU_TEMPLATE, "digest", &digest, e))
		return -1;
	if (strcmp(name, cpu_tpl__name(t->kind)) || digest != cpu_tpl__digest(t))
		return error__fail(e, EXIT_USAGE,
				   "snapshot: its CPU template (%s, digest %016llx) is not the one "
				   "its configuration gives (%s, digest %016llx)",
				   name, (unsigned long long)digest, cpu_tpl__name(t->kind),
				   (unsigned long long)cpu_tpl__digest(t));
	return 0;
}

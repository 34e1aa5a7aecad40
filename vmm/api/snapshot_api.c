#include "snapshot_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bodies.h"
#include "cpu_config.h"
#include "log.h"
#include "vmm.h"

static const char *const snapshot_types[] = {"Full", "Diff", NULL};
#define CREATE(m) offsetof(struct snapshot_create_params, m)
static const struct field create_fields[] = {
    {.name = "snapshot_path",
     .kind = FIELD_PATH,
     .flags = FIELD_REQUIRED,
     .off = CREATE(snapshot_path),
     .size = CONFIG_PATH_MAX},
    {.name = "mem_file_path",
     .kind = FIELD_PATH,
     .flags = FIELD_REQUIRED,
     .off = CREATE(mem_file_path),
     .size = CONFIG_PATH_MAX},
    {.name = "snapshot_type",
     .kind = FIELD_ENUM,
     .off = CREATE(type),
     .choices = snapshot_types,
     .dflt = SNAPSHOT_FULL},
    /* Firecracker before 1.7 took a target version; it is ignored there since. */
    {.name = "version", .kind = FIELD_IGNORED},
};

int snapshot_api__decode_create(const struct json_doc *d, struct snapshot_create_params *p,
				struct error *e)
{
	memset(p, 0, sizeof(*p));
	return fields__decode(create_fields, FIELD_TABLE_LEN(create_fields), FIELDS_PUT,
			      "snapshot/create", d, 0, p, e);
}

/* --- load ------------------------------------------------------------------------- */

enum { BACKEND_FILE, BACKEND_UFFD };
static const char *const backend_types[] = {"File", "Uffd", NULL};
struct mem_backend {
	uint32_t type;
	char path[CONFIG_PATH_MAX];
};
static const struct field backend_fields[] = {
    {.name = "backend_type",
     .kind = FIELD_ENUM,
     .flags = FIELD_REQUIRED,
     .off = offsetof(struct mem_backend, type),
     .choices = backend_types},
    {.name = "backend_path",
     .kind = FIELD_PATH,
     .flags = FIELD_REQUIRED,
     .off = offsetof(struct mem_backend, path),
     .size = CONFIG_PATH_MAX},
};

static const struct field net_override_fields[] = {
    {.name = "iface_id",
     .kind = FIELD_STR,
     .flags = FIELD_REQUIRED,
     .off = offsetof(struct snapshot_net_override, iface_id),
     .size = CONFIG_ID_MAX + 1},
    {.name = "host_dev_name",
     .kind = FIELD_STR,
     .flags = FIELD_REQUIRED,
     .off = offsetof(struct snapshot_net_override, host_dev_name),
     .size = CONFIG_IFNAME_MAX},
};

struct vsock_override {
	char uds_path[CONFIG_UDS_MAX];
};
static const struct field vsock_override_fields[] = {
    {.name = "uds_path",
     .kind = FIELD_PATH,
     .flags = FIELD_REQUIRED,
     .off = offsetof(struct vsock_override, uds_path),
     .size = CONFIG_UDS_MAX},
};

static const char *const huge_pages_choices[] = {"Snapshot", "None", "Transparent", "2M", NULL};

/* The scalar members, decoded one at a time through a one-row table. */
struct load_scalars {
	char snapshot_path[CONFIG_PATH_MAX];
	char mem_file_path[CONFIG_PATH_MAX];
	bool track_dirty_pages, enable_diff_snapshots, resume_vm, clock_realtime;
	uint32_t huge_pages;
};
#define LS(m) offsetof(struct load_scalars, m)
static const struct field load_fields[] = {
    {.name = "snapshot_path",
     .kind = FIELD_PATH,
     .off = LS(snapshot_path),
     .size = CONFIG_PATH_MAX},
    {.name = "mem_file_path",
     .kind = FIELD_PATH,
     .off = LS(mem_file_path),
     .size = CONFIG_PATH_MAX},
    {.name = "track_dirty_pages", .kind = FIELD_BOOL, .off = LS(track_dirty_pages)},
    {.name = "enable_diff_snapshots", .kind = FIELD_BOOL, .off = LS(enable_diff_snapshots)},
    {.name = "resume_vm", .kind = FIELD_BOOL, .off = LS(resume_vm)},
    {.name = "clock_realtime", .kind = FIELD_BOOL, .off = LS(clock_realtime)},
    {.name = "huge_pages",
     .kind = FIELD_ENUM,
     .off = LS(huge_pages),
     .choices = huge_pages_choices},
};

/* The load body mixes scalars with objects and an array that the field decoder does
 * not nest into, so each scalar member is decoded alone: its tokens are copied into
 * a one-member object and decoded with its one row. */
static int decode_scalar(const struct json_doc *d, unsigned key, const struct field *row,
			 struct load_scalars *s, struct error *e)
{
	struct json_tok toks[1 + 2 + JSON_MAX_DEPTH];
	unsigned v = key + 1;
	if (d->toks[v].next - key > sizeof(toks) / sizeof(toks[0]) - 1)
		return error__fail(e, EXIT_USAGE, "%s: must be a %s", row->name,
				   row->kind == FIELD_BOOL ? "boolean" : "string");
	unsigned n = d->toks[v].next - key;
	toks[0] = (struct json_tok){.type = JSON_OBJECT, .next = n + 1, .count = 1};
	for (unsigned i = 0; i < n; i++) {
		toks[1 + i] = d->toks[key + i];
		toks[1 + i].next = d->toks[key + i].next - key + 1;
	}
	struct json_doc one = {.text = d->text, .toks = toks, .ntoks = n + 1};
	return fields__decode(row, 1, FIELDS_PATCH, "snapshot/load", &one, 0, s, e);
}

static int decode_member(const struct json_doc *d, unsigned k, struct snapshot_load_params *p,
			 struct load_scalars *s, bool *has_backend, struct error *e)
{
	unsigned v = k + 1;
	for (size_t i = 0; i < FIELD_TABLE_LEN(load_fields); i++)
		if (json__string_eq(d, k, load_fields[i].name))
			return decode_scalar(d, k, &load_fields[i], s, e);
	if (json__string_eq(d, k, "mem_backend")) {
		if (d->toks[v].type == JSON_NULL)
			return 0;
		struct mem_backend mb;
		if (fields__decode(backend_fields, FIELD_TABLE_LEN(backend_fields), FIELDS_PUT,
				   "mem_backend", d, v, &mb, e))
			return -1;
		if (mb.type == BACKEND_UFFD && strlen(mb.path) >= SNAPSHOT_UFFD_PATH_MAX)
			return error__fail(e, EXIT_USAGE,
					   "mem_backend.backend_path: a Uffd handler's socket path "
					   "must be shorter than %d bytes",
					   SNAPSHOT_UFFD_PATH_MAX);
		p->mem_uffd = mb.type == BACKEND_UFFD;
		snprintf(p->mem_path, sizeof(p->mem_path), "%s", mb.path);
		*has_backend = true;
		return 0;
	}
	if (json__string_eq(d, k, "vsock_override")) {
		if (d->toks[v].type == JSON_NULL)
			return 0;
		struct vsock_override vo;
		if (fields__decode(vsock_override_fields, FIELD_TABLE_LEN(vsock_override_fields),
				   FIELDS_PUT, "vsock_override", d, v, &vo, e))
			return -1;
		p->has_vsock_override = true;
		memcpy(p->vsock_uds_path, vo.uds_path, sizeof(vo.uds_path));
		return 0;
	}
	if (json__string_eq(d, k, "network_overrides")) {
		if (d->toks[v].type == JSON_NULL)
			return 0;
		if (d->toks[v].type != JSON_ARRAY)
			return error__fail(e, EXIT_USAGE,
					   "network_overrides: expected array, got %s",
					   json__type_name(d->toks[v].type));
		for (unsigned el = v + 1; el < d->toks[v].next; el = d->toks[el].next) {
			if (p->nr_nets == CONFIG_MAX_NETS)
				return error__fail(e, EXIT_USAGE,
						   "network_overrides: at most %d entries",
						   CONFIG_MAX_NETS);
			struct snapshot_net_override *o = &p->nets[p->nr_nets];
			if (fields__decode(net_override_fields,
					   FIELD_TABLE_LEN(net_override_fields), FIELDS_PUT,
					   "network_overrides", d, el, o, e))
				return -1;
			if (!o->host_dev_name[0])
				return error__fail(e, EXIT_USAGE,
						   "network_overrides: host_dev_name must not be "
						   "empty");
			p->nr_nets++;
		}
		return 0;
	}
	char name[64];
	if (json__string(d, k, name, sizeof(name)))
		snprintf(name, sizeof(name), "(long or invalid name)");
	return error__fail(e, EXIT_USAGE, "snapshot/load: unknown field '%s'", name);
}

int snapshot_api__decode_load(const struct json_doc *d, struct snapshot_load_params *p,
			      struct error *e)
{
	memset(p, 0, sizeof(*p));
	struct load_scalars s;
	memset(&s, 0, sizeof(s));
	bool has_backend = false;
	/* Twice-given members: the scalar decoder sees one member at a time. */
	unsigned k = 1;
	for (uint32_t m = 0; m < d->toks[0].count; m++, k = d->toks[k + 1].next) {
		for (unsigned j = 1; j < k; j = d->toks[j + 1].next)
			if (d->toks[j].len == d->toks[k].len &&
			    !memcmp(d->text + d->toks[j].start, d->text + d->toks[k].start,
				    d->toks[k].len)) {
				char name[64];
				if (json__string(d, k, name, sizeof(name)))
					snprintf(name, sizeof(name), "(long or invalid name)");
				return error__fail(e, EXIT_USAGE,
						   "snapshot/load: field '%s' given twice", name);
			}
		if (decode_member(d, k, p, &s, &has_backend, e))
			return -1;
	}
	if (!s.snapshot_path[0])
		return error__fail(e, EXIT_USAGE, "snapshot/load: missing field 'snapshot_path'");
	if (has_backend == (s.mem_file_path[0] != 0))
		return error__fail(e, EXIT_USAGE,
				   "snapshot/load: exactly one of mem_backend and mem_file_path "
				   "must be given");
	if (s.huge_pages >= 2)
		return error__fail(e, EXIT_USAGE, "huge_pages: %s is not supported yet",
				   huge_pages_choices[s.huge_pages]);
	memcpy(p->snapshot_path, s.snapshot_path, sizeof(p->snapshot_path));
	if (!has_backend)
		memcpy(p->mem_path, s.mem_file_path, sizeof(p->mem_path));
	p->track_dirty_pages = s.track_dirty_pages || s.enable_diff_snapshots;
	p->resume_vm = s.resume_vm;
	p->clock_realtime = s.clock_realtime;
	return 0;
}

/* --- configuration ---------------------------------------------------------------- */

void snapshot_api__config_json(const struct vmm_config *c, struct json_out *o)
{
	bool first = true;
	for (size_t i = 0; i < BODY_COUNT; i++) {
		if (bodies[i].hidden || i == BODY_LOGGER || i == BODY_METRICS)
			continue;
		json_out__printf(o, "%s\"%s\":", first ? "{" : ",", bodies[i].key);
		body__encode(&bodies[i], c, o);
		first = false;
	}
	/* A custom template's content, for the restore (GET /vm/config shows null). */
	if (c->vm.cpu_template.kind == CPU_TPL_CUSTOM) {
		json_out__raw(o, ",\"cpu-config\":", 14);
		cpu_config__encode(&c->vm.cpu_template, o);
	}
	json_out__raw(o, "}", 1);
}

int snapshot_api__apply_overrides(const struct snapshot_load_params *p, struct vmm_config *c,
				  struct error *e)
{
	struct vm_config *vm = &c->vm;
	for (unsigned i = 0; i < p->nr_nets; i++) {
		unsigned j;
		for (j = 0; j < vm->nr_nets; j++)
			if (!strcmp(vm->nets[j].id, p->nets[i].iface_id))
				break;
		if (j == vm->nr_nets)
			return error__fail(
			    e, EXIT_USAGE,
			    "network_overrides: the snapshot has no network interface "
			    "'%s'",
			    p->nets[i].iface_id);
		memcpy(vm->nets[j].host_dev_name, p->nets[i].host_dev_name,
		       sizeof(vm->nets[j].host_dev_name));
	}
	if (p->has_vsock_override) {
		if (!vm->vsock.present)
			return error__fail(e, EXIT_USAGE,
					   "vsock_override: the snapshot has no vsock device");
		memcpy(vm->vsock.uds_path, p->vsock_uds_path, sizeof(vm->vsock.uds_path));
	}
	vm->track_dirty_pages = p->track_dirty_pages;
	return 0;
}

/* The boot source of a snapshot is a record, not something to load: its kernel and
 * initrd may be gone (as with Firecracker), so it is taken without the file checks
 * and blanked to null in json, whose parse then skips it. */
static int take_boot_source(struct api *a, char *json, size_t len, struct vmm_config *c,
			    struct error *e)
{
	struct json_doc d;
	char why[200];
	if (json__parse(&d, json, len, a->toks, API_MAX_TOKENS, why, sizeof(why)))
		return error__fail(e, EXIT_USAGE, "invalid JSON: %s", why);
	if (d.toks[0].type != JSON_OBJECT)
		return 0; /* the configuration's parse says what is wrong */
	const struct body *b = &bodies[BODY_BOOT_SOURCE];
	unsigned k = 1;
	for (uint32_t m = 0; m < d.toks[0].count; m++, k = d.toks[k + 1].next) {
		unsigned v = k + 1;
		if (!json__string_eq(&d, k, b->key) || d.toks[v].type != JSON_OBJECT)
			continue;
		struct field t[8];
		if (b->nr_fields > sizeof(t) / sizeof(t[0]))
			return error__fail(e, EXIT_ERROR, "boot-source: too many fields");
		memcpy(t, b->fields, b->nr_fields * sizeof(t[0]));
		for (size_t i = 0; i < b->nr_fields; i++)
			t[i].check = NULL;
		if (fields__decode(t, b->nr_fields, FIELDS_PUT, b->what, &d, v, c, e))
			return -1;
		memset(json + d.toks[v].start, ' ', d.toks[v].len);
		memcpy(json + d.toks[v].start, "null", 4);
		return 0;
	}
	return 0;
}

/* --- handlers --------------------------------------------------------------------- */

int snapshot_api__create(struct api *a, const struct json_doc *d, struct error *e)
{
	struct snapshot_create_params p;
	if (snapshot_api__decode_create(d, &p, e))
		return -1;
	struct json_out cfg = {0};
	snapshot_api__config_json(vmm__config(a->vmm), &cfg);
	json_out__raw(&cfg, "", 1); /* the NUL */
	int rc = cfg.oom ? error__fail(e, EXIT_ERROR, "out of memory")
			 : vmm__snapshot(a->vmm, &p, cfg.buf, e);
	json_out__free(&cfg);
	return rc;
}

int snapshot_api__load(struct api *a, const struct json_doc *d, struct error *e)
{
	static struct snapshot_load_params p; /* VMM thread only; 9 KiB */
	if (snapshot_api__decode_load(d, &p, e) || vmm__check_restorable(a->vmm, e))
		return -1;
	uint64_t t0 = now_us();
	struct snapshot_load l;
	if (snapshot__open(&l, &p, e))
		return -1;
	l.times.start_us = t0;
	l.times.open = now_us() - t0;
	/* d's tokens are a->toks, which the configuration's parse reuses: p holds all. */
	size_t len = strlen(snapshot__config_json(&l));
	char *json = malloc(len + 1);
	int rc = -1;
	if (!json) {
		error__fail(e, EXIT_ERROR, "out of memory");
		goto out;
	}
	memcpy(json, snapshot__config_json(&l), len + 1);
	struct vmm_config *c = &a->scratch;
	config__assign(c, vmm__config(a->vmm), sizeof(*c));
	if (take_boot_source(a, json, len, c, e) || api__parse_config(a, json, len, c, e)) {
		error__wrap(e, "snapshot '%s': its configuration", p.snapshot_path);
		goto out;
	}
	if (snapshot_api__apply_overrides(&p, c, e))
		goto out;
	l.times.config = now_us() - t0 - l.times.open;
	rc = vmm__restore(a->vmm, c, &l, p.resume_vm, e);
out:
	free(json);
	snapshot__close(&l);
	return rc;
}

/* Opening a snapshot for load: the vmstate's container checks, its configuration and
 * regions, the host's CPU vendor, and the memory file. No KVM here: the API's fuzzer
 * links it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "api/json.h"
#include "file.h"
#include "snapshot.h"

int snapshot__open(struct snapshot_load *l, const struct snapshot_load_params *p, struct error *e)
{
	memset(l, 0, sizeof(*l));
	l->mem_fd = -1;
	l->clock_realtime = p->clock_realtime;
	if (vmstate__open(&l->vs, p->snapshot_path, e))
		return error__wrap(e, "snapshot_path '%s'", p->snapshot_path);
	const char *json;
	if (vmstate__get_string(&l->vs, "/config", "json", &json, e) ||
	    vmstate__regions(&l->vs, l->regions, sizeof(l->regions) / sizeof(l->regions[0]),
			     &l->nr_regions, e)) {
		error__wrap(e, "snapshot_path '%s'", p->snapshot_path);
		goto fail;
	}
	if (p->mem_uffd) /* the API checked its length */
		memcpy(l->uffd_path, p->mem_path, strnlen(p->mem_path, sizeof(l->uffd_path) - 1));
	else
		l->mem_fd = file__open(p->mem_path, FILE_IMAGE);
	if (!p->mem_uffd && l->mem_fd < 0) {
		error__fail(e, EXIT_USAGE, "memory file '%s': %s", p->mem_path, file__error());
		goto fail;
	}
	/* The guest keeps the CPUID it was given; another vendor's CPU cannot run it. */
	char vendor[13];
	vmstate__host_cpu_vendor(vendor);
	if (l->vs.cpu_vendor && strcmp(l->vs.cpu_vendor, vendor)) {
		error__fail(e, EXIT_USAGE,
			    "snapshot_path '%s': taken on a %s host, this host is %s",
			    p->snapshot_path, l->vs.cpu_vendor, vendor);
		goto fail;
	}
	if (!p->mem_uffd && vmstate__check_mem_fd(l->regions, l->nr_regions, l->mem_fd, e)) {
		error__wrap(e, "memory file '%s'", p->mem_path);
		goto fail;
	}
	return 0;
fail:
	snapshot__close(l);
	return -1;
}

const char *snapshot__config_json(const struct snapshot_load *l)
{
	const char *json = NULL;
	struct error e;
	if (vmstate__get_string(&l->vs, "/config", "json", &json, &e))
		return NULL;
	return json;
}

void snapshot__close(struct snapshot_load *l)
{
	vmstate__close(&l->vs);
	if (l->mem_fd >= 0)
		close(l->mem_fd);
	l->mem_fd = -1;
}

/* The steps in the order a load takes them; the VMM thread's filter comes after the
 * resume. */
#define TIMES(X)                                                                                   \
	X(open)                                                                                    \
	X(config)                                                                                  \
	X(create_vm)                                                                               \
	X(map_memory)                                                                              \
	X(devices)                                                                                 \
	X(create_vcpus)                                                                            \
	X(set_vcpu_state)                                                                          \
	X(set_vm_state)                                                                            \
	X(start_vcpus)                                                                             \
	X(resume)                                                                                  \
	X(seccomp)

void snapshot__times_json(const struct snapshot_load_times *t, struct json_out *o)
{
#define JSON_STEP(f)                                                                               \
	json_out__printf(o, ",\"load_snapshot_" #f "\":%llu", (unsigned long long)t->f);
	TIMES(JSON_STEP)
#undef JSON_STEP
	json_out__printf(o, ",\"load_snapshot_warm\":%d", t->warm ? 1 : 0);
}

void snapshot__times_text(const struct snapshot_load_times *t, char *buf, size_t len)
{
	size_t n = 0;
	buf[0] = 0;
#define TEXT_STEP(f)                                                                               \
	if (n < len)                                                                               \
		n += (size_t)snprintf(buf + n, len - n, "%s" #f " %llu", n ? ", " : "",            \
				      (unsigned long long)t->f);
	TIMES(TEXT_STEP)
#undef TEXT_STEP
}

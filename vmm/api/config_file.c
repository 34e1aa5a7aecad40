/* The JSON config file (--config-file): the document GET /vm/config writes, read
 * through the same body tables as the API. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "file.h"
#include "bodies.h"
#include "cpu_config.h"
#include "mmds_api.h"
#include "virtio/mmds.h"
#include "vmm.h"

/* Sections Firecracker has and ember refuses unless null (or, for the pmem array,
 * empty): GET /vm/config writes them that way, as Firecracker does when unset;
 * "cpu-config" is taken (an object or a path) and, as in Firecracker, GET shows it
 * null. */
static const char *const unsupported[] = {"mmds-config", "cpu-config", "pmem", "memory-hotplug"};
#define MMDS_CONFIG (BODY_COUNT + 0)
#define CPU_CONFIG  (BODY_COUNT + 1)
#define PMEM	    (BODY_COUNT + 2)
enum { NR_UNSUPPORTED = sizeof(unsupported) / sizeof(unsupported[0]) };

void api__put_vm_config(const struct api *a, struct json_out *o)
{
	const struct vmm_config *c = vmm__config(a->vmm);
	bool first = true;
	for (size_t i = 0; i < BODY_COUNT; i++) {
		if (bodies[i].hidden)
			continue;
		json_out__printf(o, "%s\"%s\":", first ? "{" : ",", bodies[i].key);
		body__encode(&bodies[i], c, o);
		first = false;
	}
	json_out__raw(o, ",\"cpu-config\":null,\"mmds-config\":", 33);
	api__mmds_config_encode(&c->vm.mmds, o);
	static const char unset[] = ",\"pmem\":[],\"memory-hotplug\":null}";
	json_out__raw(o, unset, sizeof(unset) - 1);
}

int api__parse_config(struct api *a, const char *json, size_t len, struct vmm_config *c,
		      struct error *e)
{
	struct json_doc d;
	char why[ERROR_MSG_MAX];
	if (json__parse(&d, json, len, a->toks, API_MAX_TOKENS, why, sizeof(why)))
		return error__fail(e, EXIT_USAGE, "invalid JSON: %s", why);
	if (d.toks[0].type != JSON_OBJECT)
		return error__fail(e, EXIT_USAGE, "config file: expected an object, got %s",
				   json__type_name(d.toks[0].type));
	/* Every member is a known section, given once, of the right type or null. */
	int tok[BODY_COUNT + NR_UNSUPPORTED];
	for (size_t i = 0; i < BODY_COUNT + NR_UNSUPPORTED; i++)
		tok[i] = -1;
	unsigned k = 1;
	for (uint32_t m = 0; m < d.toks[0].count; m++, k = d.toks[k + 1].next) {
		size_t i;
		for (i = 0; i < BODY_COUNT + NR_UNSUPPORTED; i++)
			if (json__string_eq(&d, k,
					    i < BODY_COUNT ? bodies[i].key
							   : unsupported[i - BODY_COUNT]))
				break;
		if (i == BODY_COUNT + NR_UNSUPPORTED) {
			char name[64];
			if (json__string(&d, k, name, sizeof(name)))
				snprintf(name, sizeof(name), "(long or invalid name)");
			return error__fail(e, EXIT_USAGE, "config file: unknown field `%s`", name);
		}
		const char *key = i < BODY_COUNT ? bodies[i].key : unsupported[i - BODY_COUNT];
		if (tok[i] != -1)
			return error__fail(e, EXIT_USAGE, "config file: field '%s' given twice",
					   key);
		tok[i] = -2; /* seen */
		enum json_type want =
		    (i < BODY_COUNT && bodies[i].array) || i == PMEM ? JSON_ARRAY : JSON_OBJECT;
		enum json_type got = d.toks[k + 1].type;
		if (got == JSON_NULL || (i == PMEM && got == JSON_ARRAY && !d.toks[k + 1].count))
			continue;
		/* A custom CPU template, inline or (as Firecracker allows) a file's path. */
		if (i == CPU_CONFIG && (got == JSON_OBJECT || got == JSON_STRING)) {
			tok[i] = (int)k + 1;
			continue;
		}
		if (got != want)
			return error__fail(e, EXIT_USAGE, "%s: expected %s, got %s", key,
					   json__type_name(want), json__type_name(got));
		if (i == MMDS_CONFIG) {
			if (api__mmds_config_decode(&d, k + 1, &c->vm.mmds, e))
				return error__wrap(e, "mmds-config");
			continue;
		}
		if (i >= BODY_COUNT)
			return error__fail(e, EXIT_USAGE, "%s: not supported by ember yet", key);
		tok[i] = (int)k + 1;
	}

	for (size_t i = 0; i < BODY_COUNT; i++) {
		const struct body *b = &bodies[i];
		if (tok[i] < 0)
			continue;
		unsigned t = (unsigned)tok[i];
		if (!b->array) {
			if (body__apply(b, FIELDS_PUT, &d, t, NULL, c, e))
				return -1;
			continue;
		}
		for (unsigned el = t + 1; el < d.toks[t].next; el = d.toks[el].next)
			if (body__apply(b, FIELDS_PUT, &d, el, NULL, c, e))
				return -1;
	}
	/* After machine-config: the custom template wins over a static one. */
	if (tok[CPU_CONFIG] >= 0) {
		unsigned t = (unsigned)tok[CPU_CONFIG];
		if (d.toks[t].type == JSON_OBJECT)
			return cpu_config__decode(&d, t, &c->vm.cpu_template, e);
		char path[CONFIG_PATH_MAX];
		if (json__string(&d, t, path, sizeof(path)) || !path[0])
			return error__fail(e, EXIT_USAGE, "cpu-config: not a path");
		return cpu_config__load_file(path, &c->vm.cpu_template, e);
	}
	return 0;
}

int api__load_config(struct api *a, const char *json, size_t len, struct error *e)
{
	struct vmm_config *c = &a->scratch;
	config__assign(c, vmm__config(a->vmm), sizeof(*c));
	if (api__parse_config(a, json, len, c, e))
		return -1;
	char why[ERROR_MSG_MAX];
	if (config__validate(&c->vm, why, sizeof(why)))
		return error__from_text(e, EXIT_USAGE, why);
	if (vmm__configure(a->vmm, c, e))
		return -1;
	if (c->vm.mmds.present && mmds_store__default())
		mmds_store__touch(mmds_store__default());
	return 0;
}

int api__load_config_file(struct api *a, const char *path, struct error *e)
{
	char *buf;
	size_t len;
	if (file__read_small(path, 1024 * 1024, &buf, &len)) {
		if (errno == EFBIG)
			return error__fail(e, EXIT_USAGE, "config file '%s': larger than 1 MiB",
					   path);
		return error__fail(e, errno == ENOMEM ? EXIT_ERROR : EXIT_USAGE,
				   "config file '%s': %s", path, file__error());
	}
	int rc = api__load_config(a, buf, len, e);
	if (rc)
		error__wrap(e, "config file '%s'", path);
	free(buf);
	return rc;
}

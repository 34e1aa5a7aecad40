/* The MMDS endpoints, with Firecracker's rules: the data store may be PUT, PATCHed
 * and read before and after start (after start only if something made it before, as
 * Firecracker creates its store lazily); /mmds/config only before start. */
#include "mmds_api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file.h"

#include "virtio/mmds.h"
#include "vmm.h"

static const char *const fields[] = {"version", "network_interfaces", "ipv4_address",
				     "imds_compat"};

/* Rust's Ipv4Addr syntax: four decimal octets, no leading zeros. */
static int parse_ipv4(const char *s, uint32_t *out)
{
	uint32_t v = 0;
	for (int part = 0; part < 4; part++) {
		if (part && *s++ != '.')
			return -1;
		if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] >= '0' && s[1] <= '9'))
			return -1;
		unsigned o = 0;
		for (int k = 0; *s >= '0' && *s <= '9'; k++, s++) {
			o = o * 10 + (unsigned)(*s - '0');
			if (k > 2 || o > 255)
				return -1;
		}
		v = v << 8 | o;
	}
	if (*s)
		return -1;
	*out = v;
	return 0;
}

int api__mmds_config_decode(const struct json_doc *d, unsigned obj, struct mmds_config *m,
			    struct error *e)
{
	memset(m, 0, sizeof(*m));
	m->present = true;
	m->ipv4 = MMDS_DEFAULT_IPV4;
	bool seen[4] = {false};
	unsigned k = obj + 1;
	for (uint32_t i = 0; i < d->toks[obj].count; i++, k = d->toks[k + 1].next) {
		unsigned f;
		for (f = 0; f < 4; f++)
			if (json__string_eq(d, k, fields[f]))
				break;
		if (f == 4) {
			char name[64];
			if (json__string(d, k, name, sizeof(name)))
				snprintf(name, sizeof(name), "(long or invalid name)");
			return error__fail(e, EXIT_USAGE,
					   "unknown field `%s`, expected one of `version`, "
					   "`network_interfaces`, `ipv4_address`, `imds_compat`",
					   name);
		}
		if (seen[f])
			return error__fail(e, EXIT_USAGE, "duplicate field `%s`", fields[f]);
		seen[f] = true;
		unsigned v = k + 1;
		enum json_type t = d->toks[v].type;
		switch (f) {
		case 0:
			if (json__string_eq(d, v, "V1"))
				m->version = 0;
			else if (json__string_eq(d, v, "V2"))
				m->version = 1;
			else
				return error__fail(
				    e, EXIT_USAGE,
				    "version: unknown variant, expected `V1` or `V2`");
			break;
		case 1:
			if (t != JSON_ARRAY)
				return error__fail(e, EXIT_USAGE,
						   "network_interfaces: expected an array, got %s",
						   json__type_name(t));
			for (unsigned el = v + 1; el < d->toks[v].next; el = d->toks[el].next) {
				if (m->nr_ifaces == CONFIG_MAX_NETS)
					return error__fail(e, EXIT_USAGE,
							   "network_interfaces: at most %d",
							   CONFIG_MAX_NETS);
				if (json__string(d, el, m->ifaces[m->nr_ifaces],
						 sizeof(m->ifaces[0])))
					return error__fail(e, EXIT_USAGE,
							   "network_interfaces: expected interface "
							   "ids (strings of "
							   "at most %d bytes)",
							   CONFIG_ID_MAX);
				m->nr_ifaces++;
			}
			break;
		case 2: {
			if (t == JSON_NULL)
				break;
			char ip[32];
			if (json__string(d, v, ip, sizeof(ip)) || parse_ipv4(ip, &m->ipv4))
				return error__fail(e, EXIT_USAGE,
						   "ipv4_address: invalid IPv4 address syntax");
			break;
		}
		default:
			if (t != JSON_BOOL)
				return error__fail(e, EXIT_USAGE,
						   "imds_compat: expected a boolean, got %s",
						   json__type_name(t));
			m->imds_compat = d->text[d->toks[v].start] == 't';
			break;
		}
	}
	if (!seen[1])
		return error__fail(e, EXIT_USAGE, "missing field `network_interfaces`");
	return 0;
}

void api__mmds_config_encode(const struct mmds_config *m, struct json_out *o)
{
	if (!m->present) {
		json_out__raw(o, "null", 4);
		return;
	}
	json_out__printf(o, "{\"version\":\"V%u\",\"network_interfaces\":[", m->version + 1);
	for (unsigned i = 0; i < m->nr_ifaces; i++) {
		if (i)
			json_out__raw(o, ",", 1);
		json_out__str(o, m->ifaces[i]);
	}
	json_out__printf(o, "],\"ipv4_address\":\"%u.%u.%u.%u\",\"imds_compat\":%s}", m->ipv4 >> 24,
			 m->ipv4 >> 16 & 0xff, m->ipv4 >> 8 & 0xff, m->ipv4 & 0xff,
			 m->imds_compat ? "true" : "false");
}

static int put_config(struct api *a, const char *body, size_t len, bool *deprecated,
		      struct error *e)
{
	if (vmm__check_configurable(a->vmm, e))
		return 400;
	if (!body || !len) {
		error__fail(e, EXIT_USAGE, "the request needs a JSON body");
		return 400;
	}
	struct json_doc d;
	char why[200];
	if (json__parse(&d, body, len, a->toks, API_MAX_TOKENS, why, sizeof(why))) {
		error__fail(e, EXIT_USAGE, "invalid JSON body: %s", why);
		return 400;
	}
	if (d.toks[0].type != JSON_OBJECT) {
		error__fail(e, EXIT_USAGE, "the request body must be a JSON object, not %s",
			    json__type_name(d.toks[0].type));
		return 400;
	}
	struct vmm_config *next = &a->scratch;
	*next = *vmm__config(a->vmm);
	if (api__mmds_config_decode(&d, 0, &next->vm.mmds, e) || vmm__configure(a->vmm, next, e))
		return 400;
	mmds_store__touch(mmds_store__default());
	/* Firecracker answers a V1 configuration with a deprecation warning. */
	*deprecated = next->vm.mmds.version == 0;
	return 204;
}

int api__mmds(struct api *a, enum http_method m, bool config, const char *body, size_t len,
	      struct json_out *out, bool *deprecated, struct error *e)
{
	struct mmds_store *s = mmds_store__default();
	if (!s) {
		error__fail(e, EXIT_ERROR, "MMDS: no data store (out of memory)");
		return 500;
	}
	if (config) {
		if (m == HTTP_PUT)
			return put_config(a, body, len, deprecated, e);
		error__fail(e, EXIT_USAGE, "Invalid request method and/or path: %s mmds/config.",
			    http__method_name(m));
		return 400;
	}
	if (m != HTTP_GET && m != HTTP_PUT && m != HTTP_PATCH) {
		error__fail(e, EXIT_USAGE, "Invalid request method and/or path: %s mmds.",
			    http__method_name(m));
		return 400;
	}
	bool started = vmm__state(a->vmm) != VMM_NOT_STARTED;
	if (started && !mmds_store__touched(s)) {
		error__fail(e, EXIT_USAGE, "MMDS error: The MMDS data store is not initialized.");
		return 400;
	}
	if (m == HTTP_GET) {
		mmds_store__touch(s);
		mmds_store__get(s, out);
		return 200;
	}
	if (!body || !len) {
		error__fail(e, EXIT_USAGE, "the request needs a JSON body");
		return 400;
	}
	char why[200] = "";
	int rc = m == HTTP_PUT ? mmds_store__put(s, body, len, why, sizeof(why))
			       : mmds_store__patch(s, body, len, why, sizeof(why));
	switch (rc) {
	case MMDS_OK:
		return 204;
	case MMDS_EJSON:
		error__fail(e, EXIT_USAGE, "invalid JSON body: %s", why);
		return 400;
	case MMDS_ETOOBIG:
		error__fail(e, EXIT_USAGE,
			    "MMDS limit exceeded error: The MMDS patch request doesn't fit.");
		return 413;
	case MMDS_EUNINIT:
		error__fail(e, EXIT_USAGE, "MMDS error: The MMDS data store is not initialized.");
		return 400;
	default:
		error__fail(e, EXIT_ERROR, "MMDS: out of memory");
		return 500;
	}
}

int api__load_metadata(const char *path, struct error *e)
{
	struct mmds_store *s = mmds_store__default();
	if (!s)
		return error__fail(e, EXIT_ERROR, "MMDS: no data store (out of memory)");
	/* Bigger than this can only fail; the read stays bounded. */
	char *buf;
	size_t got;
	if (file__read_small(path, 4 * (size_t)mmds_store__limit(s) + 4096, &buf, &got)) {
		if (errno == EFBIG)
			return error__fail(
			    e, EXIT_USAGE,
			    "--metadata '%s': MMDS limit exceeded error: The MMDS patch "
			    "request doesn't fit.",
			    path);
		return error__fail(e, errno == ENOMEM ? EXIT_ERROR : EXIT_USAGE,
				   "--metadata '%s': %s", path, file__error());
	}
	int rc = -1;
	char why[200] = "";
	switch (mmds_store__put(s, buf, got, why, sizeof(why))) {
	case MMDS_OK:
		rc = 0;
		break;
	case MMDS_EJSON:
		error__fail(e, EXIT_USAGE, "--metadata '%s': invalid JSON: %s", path, why);
		break;
	case MMDS_ETOOBIG:
		error__fail(e, EXIT_USAGE,
			    "--metadata '%s': MMDS limit exceeded error: The MMDS patch request "
			    "doesn't fit.",
			    path);
		break;
	default:
		error__fail(e, EXIT_ERROR, "--metadata '%s': out of memory", path);
		break;
	}
	free(buf);
	return rc;
}

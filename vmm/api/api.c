#include "api.h"

#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ERR_AFTER_START	 "The requested operation is not supported after starting the microVM."
#define ERR_BEFORE_START "The requested operation is not supported before starting the microVM."

void api__init(struct api *a, const struct vm_config *initial, const char *id, const char *version,
	       const struct api_ops *ops, void *ctx)
{
	memset(a, 0, sizeof(*a));
	if (initial)
		a->cfg.vm = *initial;
	else
		config__init(&a->cfg.vm);
	a->cfg.logger.level = LOG_INFO;
	snprintf(a->id, sizeof(a->id), "%s", id && *id ? id : "anonymous-instance");
	a->version = version ? version : "0";
	a->ops = ops;
	a->ctx = ctx;
	a->metrics_fd = -1;
}

void api__destroy(struct api *a)
{
	if (a->metrics_fd >= 0)
		close(a->metrics_fd);
	a->metrics_fd = -1;
}

/* --- request body schemas ---------------------------------------------------------- */

struct field {
	const char *name;
	enum json_type type;
	bool required;
	int tok; /* out: the value's token, or -1 when absent (or null) */
};

/* Binds the members of object `obj` to fields: unknown, repeated, mistyped and
 * missing members are errors naming the field. */
static int bind(const struct json_doc *d, unsigned obj, const char *what, struct field *f,
		size_t nf, char *err, size_t errlen)
{
	if (d->toks[obj].type != JSON_OBJECT)
		return error__set(err, errlen, "%s: expected an object, got %s", what,
				  json__type_name(d->toks[obj].type));
	for (size_t i = 0; i < nf; i++)
		f[i].tok = -1;
	bool seen[16] = {0};
	unsigned k = obj + 1;
	for (uint32_t m = 0; m < d->toks[obj].count; m++) {
		unsigned key = k, val = k + 1;
		k = d->toks[val].next;
		size_t i;
		for (i = 0; i < nf; i++)
			if (json__string_eq(d, key, f[i].name))
				break;
		if (i == nf) {
			char name[64];
			if (json__string(d, key, name, sizeof(name)))
				snprintf(name, sizeof(name), "(long or invalid name)");
			return error__set(err, errlen, "%s: unknown field '%s'", what, name);
		}
		if (seen[i])
			return error__set(err, errlen, "%s: field '%s' given twice", what,
					  f[i].name);
		seen[i] = true;
		enum json_type t = d->toks[val].type;
		if (t == JSON_NULL && !f[i].required)
			continue;
		if (t != f[i].type)
			return error__set(err, errlen, "%s: expected %s, got %s", f[i].name,
					  json__type_name(f[i].type), json__type_name(t));
		f[i].tok = (int)val;
	}
	for (size_t i = 0; i < nf; i++)
		if (f[i].required && f[i].tok < 0)
			return error__set(err, errlen, "%s: missing required field '%s'", what,
					  f[i].name);
	return 0;
}

static int get_str(const struct json_doc *d, const struct field *f, char *out, size_t outlen,
		   char *err, size_t errlen)
{
	if (json__string(d, (unsigned)f->tok, out, outlen))
		return error__set(err, errlen, "%s: longer than %zu bytes or holds a NUL character",
				  f->name, outlen - 1);
	return 0;
}

static int get_path(const struct json_doc *d, const struct field *f, char *out, size_t outlen,
		    char *err, size_t errlen)
{
	char tmp[CONFIG_PATH_MAX];
	if (get_str(d, f, tmp, outlen < sizeof(tmp) ? outlen : sizeof(tmp), err, errlen))
		return -1;
	return config__set_path(out, outlen, f->name, tmp, err, errlen);
}

static int get_u64(const struct json_doc *d, const struct field *f, uint64_t min, uint64_t max,
		   uint64_t *out, char *err, size_t errlen)
{
	const struct json_tok *t = &d->toks[f->tok];
	int rc = json__u64(d, (unsigned)f->tok, max, out);
	if (rc == JSON_ENOTINT)
		return error__set(err, errlen, "%s: %.*s is not an integer", f->name,
				  (int)(t->len > 40 ? 40 : t->len), d->text + t->start);
	if (rc == JSON_ERANGE || *out < min)
		return error__set(err, errlen, "%s: %.*s is out of range %llu..%llu", f->name,
				  (int)(t->len > 40 ? 40 : t->len), d->text + t->start,
				  (unsigned long long)min, (unsigned long long)max);
	return 0;
}

static bool get_bool(const struct json_doc *d, const struct field *f, bool dflt)
{
	if (f->tok < 0)
		return dflt;
	return d->text[d->toks[f->tok].start] == 't';
}

/* One of `choices` (NULL-terminated); returns its index, or -1 with err. */
static int get_enum(const struct json_doc *d, const struct field *f, const char *const *choices,
		    char *err, size_t errlen)
{
	for (int i = 0; choices[i]; i++)
		if (json__string_eq(d, (unsigned)f->tok, choices[i]))
			return i;
	char v[64];
	if (json__string(d, (unsigned)f->tok, v, sizeof(v)))
		snprintf(v, sizeof(v), "(long value)");
	int n = snprintf(err, errlen, "%s: '%s' is not one of", f->name, v);
	for (int i = 0; choices[i] && n > 0 && (size_t)n < errlen; i++)
		n += snprintf(err + n, errlen - (size_t)n, "%s %s", i ? "," : "", choices[i]);
	return -1;
}

static int unsupported_if(const struct field *f, char *err, size_t errlen)
{
	if (f->tok >= 0)
		return error__set(err, errlen, "%s: not supported yet", f->name);
	return 0;
}

static int check_readable(const char *field, const char *path, bool write, char *err, size_t errlen)
{
	if (file__check(path, write ? FILE_DISK_RW : FILE_DISK_RO))
		return error__set(err, errlen, "%s: cannot open '%s': %s", field, path,
				  file__error());
	return 0;
}

/* --- handlers: each applies one body to a candidate configuration ------------------ */

typedef int (*body_fn)(struct api *a, struct api_config *c, const struct json_doc *d, unsigned obj,
		       const char *id, char *err, size_t errlen);

static int machine_config(struct api_config *c, const struct json_doc *d, unsigned obj,
			  bool partial, char *err, size_t errlen)
{
	struct field f[] = {
	    {"vcpu_count", JSON_NUMBER, !partial, -1},
	    {"mem_size_mib", JSON_NUMBER, !partial, -1},
	    {"smt", JSON_BOOL, false, -1},
	    {"track_dirty_pages", JSON_BOOL, false, -1},
	    {"cpu_template", JSON_STRING, false, -1},
	    {"huge_pages", JSON_STRING, false, -1},
	};
	if (bind(d, obj, "machine-config", f, 6, err, errlen))
		return -1;
	uint64_t v;
	if (f[0].tok >= 0) {
		if (get_u64(d, &f[0], 1, CONFIG_MAX_VCPUS, &v, err, errlen))
			return -1;
		c->vm.vcpus = (unsigned)v;
	}
	if (f[1].tok >= 0) {
		if (get_u64(d, &f[1], 1, CONFIG_MAX_MEM_MIB, &v, err, errlen))
			return -1;
		c->vm.mem_mib = v;
	}
	if (!partial || f[2].tok >= 0)
		c->vm.smt = get_bool(d, &f[2], false);
	if (!partial || f[3].tok >= 0)
		c->track_dirty_pages = get_bool(d, &f[3], false);
	static const char *const templates[] = {"None", NULL};
	static const char *const huge[] = {"None", NULL};
	if (f[4].tok >= 0 && get_enum(d, &f[4], templates, err, errlen) < 0)
		return -1;
	if (f[5].tok >= 0 && get_enum(d, &f[5], huge, err, errlen) < 0)
		return -1;
	return 0;
}

static int h_machine_put(struct api *a, struct api_config *c, const struct json_doc *d,
			 unsigned obj, const char *id, char *err, size_t errlen)
{
	return machine_config(c, d, obj, false, err, errlen);
}

static int h_machine_patch(struct api *a, struct api_config *c, const struct json_doc *d,
			   unsigned obj, const char *id, char *err, size_t errlen)
{
	return machine_config(c, d, obj, true, err, errlen);
}

static int h_boot_source(struct api *a, struct api_config *c, const struct json_doc *d,
			 unsigned obj, const char *id, char *err, size_t errlen)
{
	struct field f[] = {
	    {"kernel_image_path", JSON_STRING, true, -1},
	    {"initrd_path", JSON_STRING, false, -1},
	    {"boot_args", JSON_STRING, false, -1},
	};
	if (bind(d, obj, "boot-source", f, 3, err, errlen))
		return -1;
	struct vm_config *v = &c->vm;
	if (get_path(d, &f[0], v->kernel_path, sizeof(v->kernel_path), err, errlen) ||
	    check_readable("kernel_image_path", v->kernel_path, false, err, errlen))
		return -1;
	v->initrd_path[0] = '\0';
	if (f[1].tok >= 0 &&
	    (get_path(d, &f[1], v->initrd_path, sizeof(v->initrd_path), err, errlen) ||
	     check_readable("initrd_path", v->initrd_path, false, err, errlen)))
		return -1;
	v->has_cmdline = f[2].tok >= 0;
	v->cmdline[0] = '\0';
	if (f[2].tok >= 0 && get_str(d, &f[2], v->cmdline, sizeof(v->cmdline), err, errlen))
		return -1;
	return 0;
}

static const char *const cache_types[] = {"Unsafe", "Writeback", NULL};
static const char *const io_engines[] = {"Sync", NULL};

static int h_drive_put(struct api *a, struct api_config *c, const struct json_doc *d, unsigned obj,
		       const char *id, char *err, size_t errlen)
{
	struct field f[] = {
	    {"drive_id", JSON_STRING, true, -1},      {"is_root_device", JSON_BOOL, true, -1},
	    {"path_on_host", JSON_STRING, false, -1}, {"is_read_only", JSON_BOOL, false, -1},
	    {"partuuid", JSON_STRING, false, -1},     {"cache_type", JSON_STRING, false, -1},
	    {"io_engine", JSON_STRING, false, -1},    {"rate_limiter", JSON_OBJECT, false, -1},
	    {"socket", JSON_STRING, false, -1},
	};
	if (bind(d, obj, "drive", f, 9, err, errlen))
		return -1;
	struct drive_config dc = {0};
	if (get_str(d, &f[0], dc.id, sizeof(dc.id), err, errlen) ||
	    config__check_id("drive_id", dc.id, err, errlen))
		return -1;
	if (id && strcmp(id, dc.id) != 0)
		return error__set(err, errlen,
				  "drive_id: '%s' does not match the id in the path '%s'", dc.id,
				  id);
	if (unsupported_if(&f[7], err, errlen) || unsupported_if(&f[8], err, errlen))
		return -1;
	if (f[2].tok < 0)
		return error__set(err, errlen, "drive: missing required field 'path_on_host'");
	if (f[5].tok >= 0 && get_enum(d, &f[5], cache_types, err, errlen) < 0)
		return -1;
	if (f[6].tok >= 0 && get_enum(d, &f[6], io_engines, err, errlen) < 0)
		return -1;
	dc.is_root_device = get_bool(d, &f[1], false);
	dc.read_only = get_bool(d, &f[3], false);
	if (get_path(d, &f[2], dc.path, sizeof(dc.path), err, errlen) ||
	    check_readable("path_on_host", dc.path, !dc.read_only, err, errlen))
		return -1;
	if (f[4].tok >= 0 && get_str(d, &f[4], dc.partuuid, sizeof(dc.partuuid), err, errlen))
		return -1;
	unsigned i;
	for (i = 0; i < c->vm.nr_drives; i++)
		if (strcmp(c->vm.drives[i].id, dc.id) == 0)
			break;
	if (i == c->vm.nr_drives) {
		if (i == CONFIG_MAX_DRIVES)
			return error__set(err, errlen, "drive_id: at most %d drives",
					  CONFIG_MAX_DRIVES);
		c->vm.nr_drives++;
	}
	c->vm.drives[i] = dc;
	return 0;
}

static int h_net_put(struct api *a, struct api_config *c, const struct json_doc *d, unsigned obj,
		     const char *id, char *err, size_t errlen)
{
	struct field f[] = {
	    {"iface_id", JSON_STRING, true, -1},
	    {"host_dev_name", JSON_STRING, true, -1},
	    {"guest_mac", JSON_STRING, false, -1},
	    {"mtu", JSON_NUMBER, false, -1},
	    {"rx_rate_limiter", JSON_OBJECT, false, -1},
	    {"tx_rate_limiter", JSON_OBJECT, false, -1},
	};
	if (bind(d, obj, "network-interface", f, 6, err, errlen))
		return -1;
	struct net_config nc = {0};
	if (get_str(d, &f[0], nc.id, sizeof(nc.id), err, errlen) ||
	    config__check_id("iface_id", nc.id, err, errlen))
		return -1;
	if (id && strcmp(id, nc.id) != 0)
		return error__set(err, errlen,
				  "iface_id: '%s' does not match the id in the path '%s'", nc.id,
				  id);
	if (get_str(d, &f[1], nc.host_dev_name, sizeof(nc.host_dev_name), err, errlen))
		return -1;
	if (!nc.host_dev_name[0])
		return error__set(err, errlen, "host_dev_name: must not be empty");
	if (f[2].tok >= 0) {
		char mac[32];
		if (get_str(d, &f[2], mac, sizeof(mac), err, errlen) ||
		    config__parse_mac(mac, nc.guest_mac))
			return error__set(err, errlen,
					  "guest_mac: not a MAC address (xx:xx:xx:xx:xx:xx)");
		nc.has_mac = true;
	}
	if (unsupported_if(&f[3], err, errlen) || unsupported_if(&f[4], err, errlen) ||
	    unsupported_if(&f[5], err, errlen))
		return -1;
	unsigned i;
	for (i = 0; i < c->vm.nr_nets; i++)
		if (strcmp(c->vm.nets[i].id, nc.id) == 0)
			break;
	if (i == c->vm.nr_nets) {
		if (i == CONFIG_MAX_NETS)
			return error__set(err, errlen, "iface_id: at most %d interfaces",
					  CONFIG_MAX_NETS);
		c->vm.nr_nets++;
	}
	c->vm.nets[i] = nc;
	return 0;
}

static int h_vsock(struct api *a, struct api_config *c, const struct json_doc *d, unsigned obj,
		   const char *id, char *err, size_t errlen)
{
	struct field f[] = {
	    {"guest_cid", JSON_NUMBER, true, -1},
	    {"uds_path", JSON_STRING, true, -1},
	    {"vsock_id", JSON_STRING, false, -1},
	};
	if (bind(d, obj, "vsock", f, 3, err, errlen))
		return -1;
	struct vsock_config v = {.present = true};
	uint64_t cid;
	if (get_u64(d, &f[0], 3, UINT32_MAX, &cid, err, errlen) ||
	    get_path(d, &f[1], v.uds_path, sizeof(v.uds_path), err, errlen))
		return -1;
	v.guest_cid = (uint32_t)cid;
	if (f[2].tok >= 0) {
		char vid[CONFIG_ID_MAX + 1];
		if (get_str(d, &f[2], vid, sizeof(vid), err, errlen))
			return -1;
	}
	c->vm.vsock = v;
	return 0;
}

static int h_entropy(struct api *a, struct api_config *c, const struct json_doc *d, unsigned obj,
		     const char *id, char *err, size_t errlen)
{
	struct field f[] = {{"rate_limiter", JSON_OBJECT, false, -1}};
	if (bind(d, obj, "entropy", f, 1, err, errlen) || unsupported_if(&f[0], err, errlen))
		return -1;
	c->vm.entropy = true;
	return 0;
}

static int h_serial(struct api *a, struct api_config *c, const struct json_doc *d, unsigned obj,
		    const char *id, char *err, size_t errlen)
{
	struct field f[] = {
	    {"serial_out_path", JSON_STRING, false, -1},
	    {"rate_limiter", JSON_OBJECT, false, -1},
	};
	if (bind(d, obj, "serial", f, 2, err, errlen) || unsupported_if(&f[1], err, errlen))
		return -1;
	if (f[0].tok < 0)
		return 0;
	char path[CONFIG_PATH_MAX];
	if (get_path(d, &f[0], path, sizeof(path), err, errlen))
		return -1;
	/* The serial device opens it at start, where failing would end the process. */
	int fd = a->dry_files ? -2 : file__open(path, FILE_CONSOLE_OUT);
	if (fd == -1)
		return error__set(err, errlen, "serial_out_path: cannot open '%s': %s", path,
				  file__error());
	if (fd >= 0)
		close(fd);
	c->vm.serial_out = SERIAL_OUT_FILE;
	memcpy(c->vm.serial_out_path, path, sizeof(path));
	return 0;
}

static const char *const level_names[] = {"Error", "Warning", "Info", "Debug",
					  "Trace", "Off",     "Warn", NULL};

static int h_logger(struct api *a, struct api_config *c, const struct json_doc *d, unsigned obj,
		    const char *id, char *err, size_t errlen)
{
	struct field f[] = {
	    {"level", JSON_STRING, false, -1},	  {"log_path", JSON_STRING, false, -1},
	    {"show_level", JSON_BOOL, false, -1}, {"show_log_origin", JSON_BOOL, false, -1},
	    {"module", JSON_STRING, false, -1},
	};
	if (bind(d, obj, "logger", f, 5, err, errlen))
		return -1;
	struct api_logger l = {.configured = true, .level = LOG_INFO};
	if (f[0].tok >= 0) {
		char name[16];
		if (json__string(d, (unsigned)f[0].tok, name, sizeof(name)) ||
		    log__level_from_name(name, &l.level)) {
			get_enum(d, &f[0], level_names, err, errlen);
			return -1;
		}
		l.off = strcasecmp(name, "off") == 0;
	}
	if (f[1].tok >= 0 && get_path(d, &f[1], l.path, sizeof(l.path), err, errlen))
		return -1;
	char module[128]; /* accepted for Firecracker clients; ember has no modules to filter */
	if (f[4].tok >= 0 && get_str(d, &f[4], module, sizeof(module), err, errlen))
		return -1;
	l.show_level = get_bool(d, &f[2], false);
	l.show_log_origin = get_bool(d, &f[3], false);
	/* The only handler with a side effect: opening the path is the last check. */
	if (a->dry_files) {
		c->logger = l;
		return 0;
	}
	if (l.path[0] && log__set_path(l.path))
		return error__set(err, errlen, "log_path: cannot open '%s': %s", l.path,
				  file__error());
	log__set_level(l.level);
	c->logger = l;
	return 0;
}

/* Copies validated JSON text without the whitespace outside strings; -1 if it does not fit. */
static int compact_json(const char *in, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	bool in_str = false, esc = false;
	for (size_t i = 0; i < n; i++) {
		char ch = in[i];
		if (in_str) {
			if (esc)
				esc = false;
			else if (ch == '\\')
				esc = true;
			else if (ch == '"')
				in_str = false;
		} else if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
			continue;
		} else if (ch == '"') {
			in_str = true;
		}
		if (o + 1 >= cap)
			return -1;
		out[o++] = ch;
	}
	out[o] = '\0';
	return 0;
}

/* The metrics file is opened last: the only side effect of configuring metrics. */
static int open_metrics(struct api *a, struct api_config *c, const struct api_metrics *m, char *err,
			size_t errlen)
{
	if (a->dry_files) {
		c->metrics = *m;
		return 0;
	}
	int fd = file__open(m->path, FILE_SINK);
	if (fd < 0)
		return error__set(err, errlen, "metrics_path: cannot open '%s': %s", m->path,
				  file__error());
	if (a->metrics_fd >= 0)
		close(a->metrics_fd);
	a->metrics_fd = fd;
	c->metrics = *m;
	return 0;
}

static int h_metrics(struct api *a, struct api_config *c, const struct json_doc *d, unsigned obj,
		     const char *id, char *err, size_t errlen)
{
	struct field f[] = {
	    {"metrics_path", JSON_STRING, true, -1},
	    {"emit_id", JSON_BOOL, false, -1},
	    {"properties", JSON_OBJECT, false, -1},
	};
	if (bind(d, obj, "metrics", f, 3, err, errlen))
		return -1;
	if (c->metrics.configured)
		return error__set(err, errlen,
				  "metrics: the metrics system is already initialized");
	struct api_metrics m = {.configured = true};
	if (get_path(d, &f[0], m.path, sizeof(m.path), err, errlen))
		return -1;
	m.emit_id = get_bool(d, &f[1], false);
	if (f[2].tok >= 0) {
		const struct json_tok *p = &d->toks[f[2].tok];
		for (unsigned k = (unsigned)f[2].tok + 2; k < p->next; k = d->toks[k].next + 1)
			if (d->toks[k].type != JSON_STRING)
				return error__set(err, errlen,
						  "properties: values must be strings");
		/* Kept compacted: it is written inside one-object-per-line output. */
		if (compact_json(d->text + p->start, p->len, m.properties, sizeof(m.properties)))
			return error__set(err, errlen, "properties: longer than %zu bytes",
					  sizeof(m.properties) - 1);
	}
	return open_metrics(a, c, &m, err, errlen);
}

int api__set_metrics(struct api *a, const char *path, char *err, size_t errlen)
{
	if (a->cfg.metrics.configured)
		return error__set(err, errlen,
				  "metrics: the metrics system is already initialized");
	struct api_metrics m = {.configured = true};
	if (config__set_path(m.path, sizeof(m.path), "metrics_path", path, err, errlen))
		return -1;
	return open_metrics(a, &a->cfg, &m, err, errlen);
}

/* --- GET bodies -------------------------------------------------------------------- */

static void put_machine(struct json_out *o, const struct api_config *c)
{
	json_out__printf(o,
			 "{\"vcpu_count\":%u,\"mem_size_mib\":%llu,\"smt\":%s,"
			 "\"track_dirty_pages\":%s,\"huge_pages\":\"None\"}",
			 c->vm.vcpus, (unsigned long long)c->vm.mem_mib,
			 c->vm.smt ? "true" : "false", c->track_dirty_pages ? "true" : "false");
}

static void put_vm_config(struct json_out *o, const struct api_config *c)
{
	const struct vm_config *v = &c->vm;
	json_out__raw(o, "{\"boot-source\":", 15);
	if (v->kernel_path[0]) {
		json_out__raw(o, "{\"kernel_image_path\":", 21);
		json_out__str(o, v->kernel_path);
		if (v->initrd_path[0]) {
			json_out__raw(o, ",\"initrd_path\":", 15);
			json_out__str(o, v->initrd_path);
		}
		if (v->has_cmdline) {
			json_out__raw(o, ",\"boot_args\":", 13);
			json_out__str(o, v->cmdline);
		}
		json_out__raw(o, "}", 1);
	} else {
		json_out__raw(o, "null", 4);
	}
	json_out__raw(o, ",\"machine-config\":", 18);
	put_machine(o, c);
	json_out__raw(o, ",\"drives\":[", 11);
	for (unsigned i = 0; i < v->nr_drives; i++) {
		const struct drive_config *dc = &v->drives[i];
		json_out__printf(o, "%s{\"drive_id\":", i ? "," : "");
		json_out__str(o, dc->id);
		json_out__raw(o, ",\"path_on_host\":", 16);
		json_out__str(o, dc->path);
		json_out__printf(o, ",\"is_root_device\":%s,\"is_read_only\":%s",
				 dc->is_root_device ? "true" : "false",
				 dc->read_only ? "true" : "false");
		if (dc->partuuid[0]) {
			json_out__raw(o, ",\"partuuid\":", 12);
			json_out__str(o, dc->partuuid);
		}
		json_out__raw(o, "}", 1);
	}
	json_out__raw(o, "],\"network-interfaces\":[", 24);
	for (unsigned i = 0; i < v->nr_nets; i++) {
		const struct net_config *nc = &v->nets[i];
		json_out__printf(o, "%s{\"iface_id\":", i ? "," : "");
		json_out__str(o, nc->id);
		json_out__raw(o, ",\"host_dev_name\":", 17);
		json_out__str(o, nc->host_dev_name);
		if (nc->has_mac) {
			const uint8_t *m = nc->guest_mac;
			json_out__printf(o, ",\"guest_mac\":\"%02x:%02x:%02x:%02x:%02x:%02x\"",
					 m[0], m[1], m[2], m[3], m[4], m[5]);
		}
		json_out__raw(o, "}", 1);
	}
	json_out__raw(o, "],\"vsock\":", 10);
	if (v->vsock.present) {
		json_out__printf(o, "{\"guest_cid\":%u,\"uds_path\":", v->vsock.guest_cid);
		json_out__str(o, v->vsock.uds_path);
		json_out__raw(o, "}", 1);
	} else {
		json_out__raw(o, "null", 4);
	}
	json_out__printf(o, ",\"entropy\":%s", v->entropy ? "{}" : "null");
	json_out__raw(o, ",\"logger\":", 10);
	if (c->logger.configured) {
		static const char *const names[] = {"Error", "Warning", "Info", "Debug"};
		json_out__printf(o, "{\"level\":\"%s\"",
				 c->logger.off ? "Off" : names[c->logger.level]);
		if (c->logger.path[0]) {
			json_out__raw(o, ",\"log_path\":", 12);
			json_out__str(o, c->logger.path);
		}
		json_out__printf(o, ",\"show_level\":%s,\"show_log_origin\":%s}",
				 c->logger.show_level ? "true" : "false",
				 c->logger.show_log_origin ? "true" : "false");
	} else {
		json_out__raw(o, "null", 4);
	}
	json_out__raw(o, ",\"metrics\":", 11);
	if (c->metrics.configured) {
		json_out__raw(o, "{\"metrics_path\":", 16);
		json_out__str(o, c->metrics.path);
		json_out__printf(o, ",\"emit_id\":%s", c->metrics.emit_id ? "true" : "false");
		if (c->metrics.properties[0])
			json_out__printf(o, ",\"properties\":%s", c->metrics.properties);
		json_out__raw(o, "}", 1);
	} else {
		json_out__raw(o, "null", 4);
	}
	json_out__raw(o, "}", 1);
}

/* --- actions ----------------------------------------------------------------------- */

int api__start(struct api *a, char *err, size_t errlen)
{
	if (a->state != API_NOT_STARTED)
		return error__set(err, errlen, ERR_AFTER_START);
	if (config__validate(&a->cfg.vm, err, errlen))
		return -1;
	if (!a->ops || !a->ops->start)
		return error__set(err, errlen, "InstanceStart: this process cannot start a VM");
	char why[400];
	if (a->ops->start(a->ctx, &a->cfg.vm, why, sizeof(why)))
		return error__set(err, errlen, "Failed to start the microVM: %s", why);
	a->state = API_RUNNING;
	return 0;
}

static int do_op(struct api *a, int (*op)(void *, char *, size_t), const char *name, char *err,
		 size_t errlen)
{
	if (a->state == API_NOT_STARTED)
		return error__set(err, errlen, ERR_BEFORE_START);
	if (!op)
		return error__set(err, errlen, "%s: not supported by this process", name);
	return op(a->ctx, err, errlen);
}

static int h_actions(struct api *a, const struct json_doc *d, char *err, size_t errlen)
{
	struct field f[] = {{"action_type", JSON_STRING, true, -1}};
	if (bind(d, 0, "actions", f, 1, err, errlen))
		return -1;
	static const char *const types[] = {"InstanceStart", "SendCtrlAltDel", "FlushMetrics",
					    NULL};
	switch (get_enum(d, &f[0], types, err, errlen)) {
	case 0:
		return api__start(a, err, errlen);
	case 1:
		return do_op(a, a->ops ? a->ops->ctrl_alt_del : NULL, "SendCtrlAltDel", err,
			     errlen);
	case 2:
		return api__flush_metrics(a, err, errlen);
	default:
		return -1;
	}
}

static int h_vm_state(struct api *a, const struct json_doc *d, char *err, size_t errlen)
{
	struct field f[] = {{"state", JSON_STRING, true, -1}};
	if (bind(d, 0, "vm", f, 1, err, errlen))
		return -1;
	static const char *const states[] = {"Paused", "Resumed", NULL};
	int s = get_enum(d, &f[0], states, err, errlen);
	if (s < 0)
		return -1;
	if (s == 0) {
		if (do_op(a, a->ops ? a->ops->pause : NULL, "Paused", err, errlen))
			return -1;
		a->state = API_PAUSED;
	} else {
		if (do_op(a, a->ops ? a->ops->resume : NULL, "Resumed", err, errlen))
			return -1;
		a->state = API_RUNNING;
	}
	return 0;
}

/* PATCH of a drive or interface after boot: only rate limiters and (for drives) a
 * new backing file may change, and ember supports neither yet. */
static int h_patch_device(struct api *a, const struct json_doc *d, bool drive, const char *id,
			  char *err, size_t errlen)
{
	struct field df[] = {
	    {"drive_id", JSON_STRING, true, -1},
	    {"path_on_host", JSON_STRING, false, -1},
	    {"rate_limiter", JSON_OBJECT, false, -1},
	};
	struct field nf[] = {
	    {"iface_id", JSON_STRING, true, -1},
	    {"rx_rate_limiter", JSON_OBJECT, false, -1},
	    {"tx_rate_limiter", JSON_OBJECT, false, -1},
	};
	struct field *f = drive ? df : nf;
	if (bind(d, 0, drive ? "drive" : "network-interface", f, 3, err, errlen))
		return -1;
	if (!json__string_eq(d, (unsigned)f[0].tok, id))
		return error__set(err, errlen, "%s: does not match the id in the path '%s'",
				  f[0].name, id);
	if (a->state == API_NOT_STARTED)
		return error__set(err, errlen, ERR_BEFORE_START);
	bool found = false;
	if (drive) {
		for (unsigned i = 0; i < a->cfg.vm.nr_drives; i++)
			found |= strcmp(a->cfg.vm.drives[i].id, id) == 0;
	} else {
		for (unsigned i = 0; i < a->cfg.vm.nr_nets; i++)
			found |= strcmp(a->cfg.vm.nets[i].id, id) == 0;
	}
	if (!found)
		return error__set(err, errlen, "%s: no %s with id '%s'", f[0].name,
				  drive ? "drive" : "network interface", id);
	if (unsupported_if(&f[1], err, errlen) || unsupported_if(&f[2], err, errlen))
		return -1;
	return 0;
}

/* --- routing ----------------------------------------------------------------------- */

static const struct {
	const char *path;
	enum api_route route;
	bool has_id; /* path is prefix + "/" + id */
} routes[] = {
    {"/", ROUTE_ROOT, false},
    {"/version", ROUTE_VERSION, false},
    {"/machine-config", ROUTE_MACHINE_CONFIG, false},
    {"/boot-source", ROUTE_BOOT_SOURCE, false},
    {"/drives", ROUTE_DRIVES, true},
    {"/network-interfaces", ROUTE_NETWORK, true},
    {"/vsock", ROUTE_VSOCK, false},
    {"/entropy", ROUTE_ENTROPY, false},
    {"/serial", ROUTE_SERIAL, false},
    {"/logger", ROUTE_LOGGER, false},
    {"/metrics", ROUTE_METRICS, false},
    {"/actions", ROUTE_ACTIONS, false},
    {"/vm", ROUTE_VM, false},
    {"/vm/config", ROUTE_VM_CONFIG, false},
    {"/balloon", ROUTE_UNSUPPORTED, false},
    {"/balloon/statistics", ROUTE_UNSUPPORTED, false},
    {"/balloon/hinting/start", ROUTE_UNSUPPORTED, false},
    {"/balloon/hinting/status", ROUTE_UNSUPPORTED, false},
    {"/balloon/hinting/stop", ROUTE_UNSUPPORTED, false},
    {"/snapshot/create", ROUTE_UNSUPPORTED, false},
    {"/snapshot/load", ROUTE_UNSUPPORTED, false},
    {"/mmds", ROUTE_UNSUPPORTED, false},
    {"/mmds/config", ROUTE_UNSUPPORTED, false},
    {"/cpu-config", ROUTE_UNSUPPORTED, false},
    {"/pmem", ROUTE_UNSUPPORTED, true},
    {"/hotplug/memory", ROUTE_UNSUPPORTED, false},
};

static const char *const route_metric[ROUTE_COUNT] = {
    [ROUTE_ROOT] = "instance_info",
    [ROUTE_VERSION] = "vmm_version",
    [ROUTE_MACHINE_CONFIG] = "machine_cfg",
    [ROUTE_BOOT_SOURCE] = "boot_source",
    [ROUTE_DRIVES] = "drive",
    [ROUTE_NETWORK] = "network",
    [ROUTE_VSOCK] = "vsock",
    [ROUTE_ENTROPY] = "entropy",
    [ROUTE_SERIAL] = "serial",
    [ROUTE_LOGGER] = "logger",
    [ROUTE_METRICS] = "metrics",
    [ROUTE_ACTIONS] = "actions",
    [ROUTE_VM] = "vm_state",
    [ROUTE_VM_CONFIG] = "vm_config",
    [ROUTE_UNSUPPORTED] = "unsupported",
    [ROUTE_UNKNOWN] = "invalid_path",
};

/* Matches path against the table; *id points into path for routes with an id. */
static enum api_route route_of(const char *path, const char **id)
{
	*id = NULL;
	/* A trailing slash is tolerated, as Firecracker does. */
	size_t n = strlen(path);
	if (n > 1 && path[n - 1] == '/')
		n--;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		size_t pl = strlen(routes[i].path);
		if (strncmp(path, routes[i].path, pl) != 0)
			continue;
		if (!routes[i].has_id && n == pl)
			return routes[i].route;
		if (routes[i].has_id && n > pl + 1 && path[pl] == '/' &&
		    !memchr(path + pl + 1, '/', n - pl - 1)) {
			*id = path + pl + 1;
			return routes[i].route;
		}
	}
	return ROUTE_UNKNOWN;
}

enum api_route api__route(const char *path)
{
	const char *id;
	return route_of(path, &id);
}

static void set_error(struct api_response *r, int status, const char *msg)
{
	r->status = status;
	json_out__raw(&r->body, "{\"fault_message\":", 17);
	json_out__str(&r->body, msg);
	json_out__raw(&r->body, "}", 1);
}

/* Parses the body of a PUT/PATCH; it must be one JSON object. */
static int parse_body(struct api *a, struct json_doc *d, const char *body, size_t len, char *err,
		      size_t errlen)
{
	if (!body || len == 0)
		return error__set(err, errlen, "the request needs a JSON body");
	char why[200];
	if (json__parse(d, body, len, a->toks, API_MAX_TOKENS, why, sizeof(why)))
		return error__set(err, errlen, "invalid JSON body: %s", why);
	if (d->toks[0].type != JSON_OBJECT)
		return error__set(err, errlen, "the request body must be a JSON object, not %s",
				  json__type_name(d->toks[0].type));
	return 0;
}

/* Applies a body handler to a copy of the configuration, validates, commits. */
static int apply(struct api *a, body_fn fn, const struct json_doc *d, unsigned obj, const char *id,
		 char *err, size_t errlen)
{
	a->scratch = a->cfg;
	if (fn(a, &a->scratch, d, obj, id, err, errlen) ||
	    config__validate_pending(&a->scratch.vm, err, errlen))
		return -1;
	a->cfg = a->scratch;
	return 0;
}

static const char *state_name(enum api_state s)
{
	return s == API_NOT_STARTED ? "Not started" : s == API_RUNNING ? "Running" : "Paused";
}

/* Returns the status; an error message goes to err. */
static int dispatch(struct api *a, enum api_route route, enum http_method m, const char *id,
		    const char *body, size_t len, struct json_out *out, char *err, size_t errlen)
{
	struct json_doc d;
	body_fn fn = NULL;

	switch (route) {
	case ROUTE_ROOT:
		if (m != HTTP_GET)
			break;
		json_out__raw(out, "{\"id\":", 6);
		json_out__str(out, a->id);
		json_out__printf(out, ",\"state\":\"%s\",\"vmm_version\":", state_name(a->state));
		json_out__str(out, a->version);
		json_out__raw(out, ",\"app_name\":\"ember\"}", 20);
		return 200;
	case ROUTE_VERSION:
		if (m != HTTP_GET)
			break;
		json_out__raw(out, "{\"firecracker_version\":", 23);
		json_out__str(out, a->version);
		json_out__raw(out, "}", 1);
		return 200;
	case ROUTE_VM_CONFIG:
		if (m != HTTP_GET)
			break;
		put_vm_config(out, &a->cfg);
		return 200;
	case ROUTE_MACHINE_CONFIG:
		if (m == HTTP_GET) {
			put_machine(out, &a->cfg);
			return 200;
		}
		fn = m == HTTP_PUT ? h_machine_put : m == HTTP_PATCH ? h_machine_patch : NULL;
		break;
	case ROUTE_BOOT_SOURCE:
		fn = m == HTTP_PUT ? h_boot_source : NULL;
		break;
	case ROUTE_DRIVES:
	case ROUTE_NETWORK:
		if (m == HTTP_PATCH) {
			if (config__check_id(route == ROUTE_DRIVES ? "drive_id" : "iface_id", id,
					     err, errlen) ||
			    parse_body(a, &d, body, len, err, errlen) ||
			    h_patch_device(a, &d, route == ROUTE_DRIVES, id, err, errlen))
				return 400;
			return 204;
		}
		fn = m != HTTP_PUT ? NULL : route == ROUTE_DRIVES ? h_drive_put : h_net_put;
		if (fn && config__check_id(route == ROUTE_DRIVES ? "drive_id" : "iface_id", id, err,
					   errlen))
			return 400;
		break;
	case ROUTE_VSOCK:
		fn = m == HTTP_PUT ? h_vsock : NULL;
		break;
	case ROUTE_ENTROPY:
		fn = m == HTTP_PUT ? h_entropy : NULL;
		break;
	case ROUTE_SERIAL:
		fn = m == HTTP_PUT ? h_serial : NULL;
		break;
	case ROUTE_LOGGER:
		fn = m == HTTP_PUT ? h_logger : NULL;
		break;
	case ROUTE_METRICS:
		fn = m == HTTP_PUT ? h_metrics : NULL;
		break;
	case ROUTE_ACTIONS:
		if (m != HTTP_PUT)
			break;
		if (parse_body(a, &d, body, len, err, errlen) || h_actions(a, &d, err, errlen))
			return 400;
		return 204;
	case ROUTE_VM:
		if (m != HTTP_PATCH)
			break;
		if (parse_body(a, &d, body, len, err, errlen) || h_vm_state(a, &d, err, errlen))
			return 400;
		return 204;
	case ROUTE_UNSUPPORTED:
		error__set(err, errlen, "%s is not supported by ember yet",
			   id ? "/pmem" : "this endpoint");
		return 400;
	default:
		error__set(err, errlen, "Invalid request method and/or path: %s",
			   http__method_name(m));
		return 400;
	}
	if (!fn) {
		error__set(err, errlen, "method %s is not allowed on this path",
			   m == HTTP_OTHER ? "(unknown)" : http__method_name(m));
		return 405;
	}
	/* Every configuration PUT is pre-boot only; after InstanceStart the VMM thread's
	 * seccomp filter would not even allow opening the files they name. */
	if (a->state != API_NOT_STARTED) {
		error__set(err, errlen, ERR_AFTER_START);
		return 400;
	}
	if (parse_body(a, &d, body, len, err, errlen) || apply(a, fn, &d, 0, id, err, errlen))
		return 400;
	return 204;
}

void api__handle(struct api *a, enum http_method method, const char *path, const char *body,
		 size_t len, struct api_response *resp)
{
	const char *id;
	enum api_route route = route_of(path, &id);
	char err[512] = "";
	resp->status = 0;
	resp->body = (struct json_out){0};
	int status = dispatch(a, route, method, id, body, len, &resp->body, err, sizeof(err));
	a->requests[route][method]++;
	if (status >= 400) {
		a->fails[route][method]++;
		json_out__free(&resp->body);
		if (route == ROUTE_UNKNOWN) {
			char msg[HTTP_MAX_PATH + 64];
			snprintf(msg, sizeof(msg), "%s %s", err, path);
			set_error(resp, status, msg);
		} else {
			set_error(resp, status, err);
		}
		pr_debug("api: %s %s -> %d: %s", http__method_name(method), path, status, err);
	} else {
		resp->status = status;
		if (status == 204)
			json_out__free(&resp->body);
	}
	if (resp->body.oom) {
		json_out__free(&resp->body);
		resp->status = 500;
	}
}

/* --- config file -------------------------------------------------------------------- */

int api__load_config(struct api *a, const char *json, size_t len, char *err, size_t errlen)
{
	struct json_doc d;
	char why[200];
	if (json__parse(&d, json, len, a->toks, API_MAX_TOKENS, why, sizeof(why)))
		return error__set(err, errlen, "invalid JSON: %s", why);
	static const struct {
		const char *name;
		body_fn fn;
		bool array;
	} sections[] = {
	    {"boot-source", h_boot_source, false},
	    {"machine-config", h_machine_put, false},
	    {"drives", h_drive_put, true},
	    {"network-interfaces", h_net_put, true},
	    {"vsock", h_vsock, false},
	    {"entropy", h_entropy, false},
	    {"serial", h_serial, false},
	    {"logger", h_logger, false},
	    {"metrics", h_metrics, false},
	    {"balloon", NULL, false},
	    {"mmds-config", NULL, false},
	    {"cpu-config", NULL, false},
	    {"pmem", NULL, false},
	    {"memory-hotplug", NULL, false},
	};
	enum { NSEC = sizeof(sections) / sizeof(sections[0]) };
	struct field f[NSEC];
	for (size_t i = 0; i < NSEC; i++)
		f[i] = (struct field){sections[i].name,
				      sections[i].array ? JSON_ARRAY : JSON_OBJECT, false, -1};
	if (bind(&d, 0, "config file", f, NSEC, err, errlen))
		return -1;

	a->scratch = a->cfg;
	struct api_config *c = &a->scratch;
	/* Logger first, so that later steps log where the operator asked. */
	static const int order[] = {7, 8, 0, 1, 2, 3, 4, 5, 6, 9, 10, 11, 12, 13};
	for (size_t o = 0; o < NSEC; o++) {
		size_t i = (size_t)order[o];
		if (f[i].tok < 0)
			continue;
		if (!sections[i].fn)
			return error__set(err, errlen, "%s: not supported by ember yet",
					  sections[i].name);
		unsigned t = (unsigned)f[i].tok;
		if (!sections[i].array) {
			if (sections[i].fn(a, c, &d, t, NULL, err, errlen))
				return -1;
			continue;
		}
		for (unsigned k = t + 1; k < d.toks[t].next; k = d.toks[k].next)
			if (sections[i].fn(a, c, &d, k, NULL, err, errlen))
				return -1;
	}
	if (config__validate(&c->vm, err, errlen))
		return -1;
	a->cfg = a->scratch;
	return 0;
}

int api__load_config_file(struct api *a, const char *path, char *err, size_t errlen)
{
	int fd = file__open(path, FILE_IMAGE);
	if (fd < 0)
		return error__set(err, errlen, "config file '%s': %s", path, file__error());
	struct stat st;
	char *buf = NULL;
	int rc = -1;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		error__set(err, errlen, "config file '%s': not a regular file", path);
		goto out;
	}
	if (st.st_size > 1024 * 1024) {
		error__set(err, errlen, "config file '%s': larger than 1 MiB", path);
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		error__set(err, errlen, "out of memory");
		goto out;
	}
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n <= 0) {
			error__set(err, errlen, "config file '%s': %s", path,
				   n < 0 ? strerror(errno) : "short read");
			goto out;
		}
		got += (size_t)n;
	}
	char why[512];
	if (api__load_config(a, buf, got, why, sizeof(why)))
		error__set(err, errlen, "config file '%s': %s", path, why);
	else
		rc = 0;
out:
	free(buf);
	close(fd);
	return rc;
}

/* --- metrics ----------------------------------------------------------------------- */

int api__flush_metrics(struct api *a, char *err, size_t errlen)
{
	if (a->metrics_fd < 0)
		return error__set(err, errlen,
				  "FlushMetrics: no metrics path is configured (PUT /metrics)");
	struct json_out o = {0};
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	json_out__printf(&o, "{\"utc_timestamp_ms\":%llu",
			 (unsigned long long)ts.tv_sec * 1000ull +
			     (unsigned long long)ts.tv_nsec / 1000000ull);
	if (a->cfg.metrics.emit_id) {
		json_out__raw(&o, ",\"id\":", 6);
		json_out__str(&o, a->id);
	}
	if (a->cfg.metrics.properties[0])
		json_out__printf(&o, ",\"properties\":%s", a->cfg.metrics.properties);
	static const char *const groups[] = {"get_api_requests", "put_api_requests",
					     "patch_api_requests"};
	for (int m = HTTP_GET; m <= HTTP_PATCH; m++) {
		json_out__printf(&o, ",\"%s\":{", groups[m]);
		bool first = true;
		for (int r = 0; r < ROUTE_COUNT; r++) {
			if (!a->requests[r][m])
				continue;
			json_out__printf(&o, "%s\"%s_count\":%llu,\"%s_fails\":%llu",
					 first ? "" : ",", route_metric[r],
					 (unsigned long long)a->requests[r][m], route_metric[r],
					 (unsigned long long)a->fails[r][m]);
			first = false;
		}
		json_out__raw(&o, "}", 1);
	}
	/* Lines that a full log or metrics pipe made ember drop (Firecracker's names). */
	json_out__printf(&o,
			 ",\"logger\":{\"missed_metrics_count\":%llu,\"missed_log_count\":%llu}",
			 (unsigned long long)file__dropped(FILE_SINK_METRICS),
			 (unsigned long long)file__dropped(FILE_SINK_LOG));
	if (a->ops && a->ops->metrics)
		a->ops->metrics(a->ctx, &o);
	json_out__raw(&o, "}\n", 2);
	int rc = 0;
	if (o.oom) {
		rc = error__set(err, errlen, "FlushMetrics: out of memory");
	} else {
		if (file__write_record(a->metrics_fd, FILE_SINK_METRICS, o.buf, o.len))
			rc = error__set(err, errlen, "FlushMetrics: cannot write the metrics: %s",
					strerror(errno));
	}
	json_out__free(&o);
	return rc;
}

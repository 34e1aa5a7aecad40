#include "bodies.h"

#include "file.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#define VM(member)	   offsetof(struct vmm_config, vm.member)
#define DRIVE(member)	   offsetof(struct drive_config, member)
#define NET(member)	   offsetof(struct net_config, member)
#define SIZE(type, member) sizeof(((type *)0)->member)
#define NO		   BODY_NO_FLAG

/* --- validators ------------------------------------------------------------------- */

static int readable(const struct field *f, const char *path, bool write, struct error *e)
{
	if (path[0] && file__check(path, write ? FILE_DISK_RW : FILE_DISK_RO))
		return error__fail(e, EXIT_USAGE, "%s: cannot open '%s': %s", f->name, path,
				   file__error());
	return 0;
}

static int file_readable(const struct field *f, const void *body, struct error *e)
{
	return readable(f, (const char *)body + f->off, false, e);
}

static int drive_file(const struct field *f, const void *body, struct error *e)
{
	const struct drive_config *dc = body;
	return readable(f, dc->path, !dc->read_only, e);
}

static int valid_id(const struct field *f, const void *body, struct error *e)
{
	char why[ERROR_MSG_MAX];
	if (config__check_id(f->name, (const char *)body + f->off, why, sizeof(why)))
		return error__from_text(e, EXIT_USAGE, why);
	return 0;
}

static int template_for_arch(const struct field *f, const void *body, struct error *e)
{
	char why[ERROR_MSG_MAX];
	const struct vmm_config *c = body;
	if (cpu_tpl__check_arch(&c->vm.cpu_template, why, sizeof(why)))
		return error__from_text(e, EXIT_USAGE, why);
	return 0;
}

/* --- tables ----------------------------------------------------------------------- */

/* Designated rows: .name, .kind, where it lives (.off, .size), .flags, and the rest
 * only where a field needs it. STR/PATH take the buffer's size from the member. */
#define STR_AT(base, member, type, m) .off = base(member), .size = SIZE(type, m)

static const struct field boot_source_fields[] = {
    {.name = "kernel_image_path",
     .kind = FIELD_PATH,
     STR_AT(VM, kernel_path, struct vm_config, kernel_path),
     .flags = FIELD_REQUIRED,
     .check = file_readable},
    {.name = "initrd_path",
     .kind = FIELD_PATH,
     STR_AT(VM, initrd_path, struct vm_config, initrd_path),
     .flags = FIELD_NULL_EMPTY,
     .check = file_readable},
    {.name = "boot_args",
     .kind = FIELD_STR,
     STR_AT(VM, cmdline, struct vm_config, cmdline),
     .flag_off = VM(has_cmdline)},
};
/* A flag at offset 0 would read as none (fields.h): a reordered struct must not put one
 * there (boot_args' flag once was, and every PUT /boot-source lost its command line). */
_Static_assert(VM(has_cmdline) != FIELD_NO_FLAG, "has_cmdline is not a body's first member");

static const char *const none_only[] = {"None", NULL};

static const struct field machine_fields[] = {
    {.name = "vcpu_count",
     .kind = FIELD_U32,
     .off = VM(vcpus),
     .flags = FIELD_PUT_REQUIRED,
     .min = 1,
     .max = CONFIG_MAX_VCPUS},
    {.name = "mem_size_mib",
     .kind = FIELD_U64,
     .off = VM(mem_mib),
     .flags = FIELD_PUT_REQUIRED | FIELD_MEM_CAP,
     .min = 1,
     .max = UINT64_MAX},
    {.name = "smt", .kind = FIELD_BOOL, .off = VM(smt)},
    {.name = "track_dirty_pages", .kind = FIELD_BOOL, .off = VM(track_dirty_pages)},
    /* Firecracker's static templates; a PUT without it keeps the template (a custom
     * one too), "None" drops either. GET shows a static one only, as Firecracker. */
    {.name = "cpu_template",
     .kind = FIELD_ENUM,
     .off = VM(cpu_template.kind),
     .flags = FIELD_KEEP | FIELD_OMIT_ZERO,
     .choices = cpu_tpl_names,
     .check = template_for_arch},
    {.name = "huge_pages", .kind = FIELD_CHOICE, .choices = none_only},
};

static const char *const cache_types[] = {"Unsafe", "Writeback", NULL};
static const char *const io_engines[] = {"Sync", NULL};

static const struct field drive_fields[] = {
    {.name = "drive_id",
     .kind = FIELD_STR,
     STR_AT(DRIVE, id, struct drive_config, id),
     .flags = FIELD_REQUIRED,
     .check = valid_id},
    {.name = "path_on_host",
     .kind = FIELD_PATH,
     STR_AT(DRIVE, path, struct drive_config, path),
     .flags = FIELD_REQUIRED,
     .check = drive_file},
    {.name = "is_root_device",
     .kind = FIELD_BOOL,
     .off = DRIVE(is_root_device),
     .flags = FIELD_REQUIRED},
    {.name = "is_read_only", .kind = FIELD_BOOL, .off = DRIVE(read_only)},
    {.name = "partuuid",
     .kind = FIELD_STR,
     STR_AT(DRIVE, partuuid, struct drive_config, partuuid),
     .flags = FIELD_NULL_EMPTY},
    /* Both flush on FLUSH (fdatasync); "Unsafe" is Firecracker's default. */
    {.name = "cache_type", .kind = FIELD_ENUM, .off = DRIVE(cache_type), .choices = cache_types},
    /* "Async" (io_uring) is refused by name: ember has only the synchronous engine. */
    {.name = "io_engine", .kind = FIELD_CHOICE, .choices = io_engines},
    {.name = "rate_limiter", .kind = FIELD_RATE_LIMITER, .off = DRIVE(rate_limiter)},
    /* vhost-user-blk: not supported. */
    {.name = "socket", .kind = FIELD_UNSUPPORTED, .json = JSON_STRING, .flags = FIELD_NULL_EMPTY},
};

static const struct field net_fields[] = {
    {.name = "iface_id",
     .kind = FIELD_STR,
     STR_AT(NET, id, struct net_config, id),
     .flags = FIELD_REQUIRED,
     .check = valid_id},
    {.name = "host_dev_name",
     .kind = FIELD_PATH,
     STR_AT(NET, host_dev_name, struct net_config, host_dev_name),
     .flags = FIELD_REQUIRED},
    {.name = "guest_mac", .kind = FIELD_MAC, .off = NET(guest_mac), .flag_off = NET(has_mac)},
    /* Firecracker's range: IPv4's minimum to what the config space's u16 holds. */
    {.name = "mtu",
     .kind = FIELD_U32,
     .off = NET(mtu),
     .flags = FIELD_NULL_EMPTY,
     .min = 68,
     .max = 65535},
    {.name = "rx_rate_limiter", .kind = FIELD_RATE_LIMITER, .off = NET(rx_rate_limiter)},
    {.name = "tx_rate_limiter", .kind = FIELD_RATE_LIMITER, .off = NET(tx_rate_limiter)},
};
_Static_assert(NET(has_mac) != FIELD_NO_FLAG, "has_mac is not a body's first member");

static const struct field vsock_fields[] = {
    {.name = "guest_cid",
     .kind = FIELD_U32,
     .off = VM(vsock.guest_cid),
     .flags = FIELD_REQUIRED,
     .min = 3,
     .max = UINT32_MAX},
    {.name = "uds_path",
     .kind = FIELD_PATH,
     STR_AT(VM, vsock.uds_path, struct vsock_config, uds_path),
     .flags = FIELD_REQUIRED},
    {.name = "vsock_id", .kind = FIELD_IGNORED, .size = CONFIG_ID_MAX + 1},
};

static const struct field entropy_fields[] = {
    {.name = "rate_limiter", .kind = FIELD_RATE_LIMITER, .off = VM(entropy_rate_limiter)},
};

static const struct field serial_fields[] = {
    {.name = "serial_out_path",
     .kind = FIELD_PATH,
     STR_AT(VM, serial_out_path, struct vm_config, serial_out_path),
     .flags = FIELD_KEEP},
    /* Output bytes over it are dropped and counted, as in Firecracker. */
    {.name = "rate_limiter", .kind = FIELD_TOKEN_BUCKET, .off = VM(serial_rate_limiter)},
};

#define LOGGER(member)	offsetof(struct vmm_config, logger.member)
#define METRICS(member) offsetof(struct vmm_config, metrics.member)

static const struct field logger_fields[] = {
    {.name = "level",
     .kind = FIELD_LOG_LEVEL,
     .off = LOGGER(level),
     .dflt = LOG_INFO,
     .flag_off = LOGGER(off)},
    {.name = "log_path",
     .kind = FIELD_PATH,
     STR_AT(LOGGER, path, struct logger_config, path),
     .flags = FIELD_OMIT_EMPTY},
    {.name = "show_level", .kind = FIELD_BOOL, .off = LOGGER(show_level)},
    {.name = "show_log_origin", .kind = FIELD_BOOL, .off = LOGGER(show_log_origin)},
    /* Accepted for Firecracker clients; ember has no modules to filter. */
    {.name = "module", .kind = FIELD_IGNORED, .size = 128},
};
_Static_assert(LOGGER(off) != FIELD_NO_FLAG, "off is not a body's first member");

static const struct field metrics_fields[] = {
    {.name = "metrics_path",
     .kind = FIELD_PATH,
     STR_AT(METRICS, path, struct metrics_config, path),
     .flags = FIELD_REQUIRED},
    {.name = "emit_id", .kind = FIELD_BOOL, .off = METRICS(emit_id)},
    {.name = "properties",
     .kind = FIELD_JSON_OBJECT,
     STR_AT(METRICS, properties, struct metrics_config, properties),
     .flags = FIELD_OMIT_EMPTY},
};

const struct field drive_patch_fields[3] = {
    {.name = "drive_id",
     .kind = FIELD_STR,
     STR_AT(DRIVE, id, struct drive_config, id),
     .flags = FIELD_REQUIRED},
    /* Opened by the hot swap itself, with the drive's own read-only mode. */
    {.name = "path_on_host", .kind = FIELD_PATH, STR_AT(DRIVE, path, struct drive_config, path)},
    {.name = "rate_limiter", .kind = FIELD_RATE_LIMITER, .off = DRIVE(rate_limiter)},
};

const struct field net_patch_fields[3] = {
    {.name = "iface_id",
     .kind = FIELD_STR,
     STR_AT(NET, id, struct net_config, id),
     .flags = FIELD_REQUIRED},
    {.name = "rx_rate_limiter", .kind = FIELD_RATE_LIMITER, .off = NET(rx_rate_limiter)},
    {.name = "tx_rate_limiter", .kind = FIELD_RATE_LIMITER, .off = NET(tx_rate_limiter)},
};

#define BALLOON(member) offsetof(struct vmm_config, vm.balloon.member)

/* Firecracker keeps the target in MiB in a u32 and counts 4 KiB pages in a u32. */
#define BALLOON_MAX_MIB (UINT32_MAX >> 8)

static const struct field balloon_fields[] = {
    {.name = "amount_mib",
     .kind = FIELD_U32,
     .off = BALLOON(amount_mib),
     .flags = FIELD_REQUIRED,
     .max = BALLOON_MAX_MIB},
    {.name = "deflate_on_oom",
     .kind = FIELD_BOOL,
     .off = BALLOON(deflate_on_oom),
     .flags = FIELD_PUT_REQUIRED},
    {.name = "stats_polling_interval_s",
     .kind = FIELD_U32,
     .off = BALLOON(stats_polling_interval_s),
     .max = CONFIG_BALLOON_MAX_INTERVAL_S},
    {.name = "free_page_hinting", .kind = FIELD_UNSUPPORTED, .json = JSON_BOOL},
    {.name = "free_page_reporting", .kind = FIELD_BOOL, .off = BALLOON(free_page_reporting)},
};

const struct field balloon_patch_fields[1] = {
    {.name = "amount_mib",
     .kind = FIELD_U32,
     .off = BALLOON(amount_mib),
     .flags = FIELD_REQUIRED,
     .max = BALLOON_MAX_MIB},
};

const struct field balloon_stats_patch_fields[1] = {
    {.name = "stats_polling_interval_s",
     .kind = FIELD_U32,
     .off = BALLOON(stats_polling_interval_s),
     .flags = FIELD_REQUIRED,
     .max = CONFIG_BALLOON_MAX_INTERVAL_S},
};

/* --- rules across fields ---------------------------------------------------------- */

static int id_matches(const char *field, const char *id, const char *path_id, struct error *e)
{
	if (path_id && strcmp(path_id, id) != 0)
		return error__fail(e, EXIT_USAGE, "%s: '%s' does not match the id in the path '%s'",
				   field, id, path_id);
	return 0;
}

static int drive_check(struct vmm_config *c, const void *elem, const char *path_id, struct error *e)
{
	return id_matches("drive_id", ((const struct drive_config *)elem)->id, path_id, e);
}

static int net_check(struct vmm_config *c, const void *elem, const char *path_id, struct error *e)
{
	return id_matches("iface_id", ((const struct net_config *)elem)->id, path_id, e);
}

static int serial_check(struct vmm_config *c, const void *elem, const char *path_id,
			struct error *e)
{
	if (c->vm.serial_out_path[0])
		c->vm.serial_out = SERIAL_OUT_FILE;
	return 0;
}

#define SINGLE(k, w, t, flag, shown_at, ...)                                                       \
	{                                                                                          \
		.key = k, .what = w, .fields = t, .nr_fields = FIELD_TABLE_LEN(t),                 \
		.put_flag_off = flag, .shown_off = shown_at, __VA_ARGS__                           \
	}
#define ARRAY(k, w, t, member, type, n, plural_, fn)                                               \
	{                                                                                          \
		.key = k, .what = w, .fields = t, .nr_fields = FIELD_TABLE_LEN(t),                 \
		.put_flag_off = NO, .shown_off = NO, .array = true, .array_off = VM(member),       \
		.count_off = VM(nr_##member), .elem_size = sizeof(type), .max = n,                 \
		.plural = plural_, .check = fn                                                     \
	}

const struct body bodies[BODY_COUNT] = {
    [BODY_BOOT_SOURCE] =
	SINGLE("boot-source", "boot-source", boot_source_fields, NO, VM(kernel_path)),
    [BODY_MACHINE] = SINGLE("machine-config", "machine-config", machine_fields, NO, NO),
    [BODY_DRIVE] = ARRAY("drives", "drive", drive_fields, drives, struct drive_config,
			 CONFIG_MAX_DRIVES, "drives", drive_check),
    [BODY_NET] = ARRAY("network-interfaces", "network-interface", net_fields, nets,
		       struct net_config, CONFIG_MAX_NETS, "interfaces", net_check),
    [BODY_VSOCK] = SINGLE("vsock", "vsock", vsock_fields, VM(vsock.present), VM(vsock.present)),
    [BODY_ENTROPY] = SINGLE("entropy", "entropy", entropy_fields, VM(entropy), VM(entropy)),
    [BODY_LOGGER] =
	SINGLE("logger", "logger", logger_fields, LOGGER(configured), LOGGER(configured)),
    [BODY_METRICS] =
	SINGLE("metrics", "metrics", metrics_fields, METRICS(configured), METRICS(configured),
	       .once = "the metrics system is already initialized"),
    [BODY_SERIAL] =
	SINGLE("serial", "serial", serial_fields, NO, NO, .hidden = true, .check = serial_check),
    [BODY_BALLOON] =
	SINGLE("balloon", "balloon", balloon_fields, BALLOON(present), BALLOON(present)),
};

/* --- apply and encode ------------------------------------------------------------- */

static int put_element(const struct body *b, struct vmm_config *c, const void *elem,
		       struct error *e)
{
	char *array = (char *)c + b->array_off;
	unsigned *count = (unsigned *)((char *)c + b->count_off);
	const char *id = elem; /* the first field of every element is its id */
	unsigned i;
	for (i = 0; i < *count; i++)
		if (strcmp(array + i * b->elem_size + b->fields[0].off, id) == 0)
			break;
	if (i == *count) {
		if (i == b->max)
			return error__fail(e, EXIT_USAGE, "%s: at most %u %s", b->fields[0].name,
					   b->max, b->plural);
		(*count)++;
	}
	memcpy(array + i * b->elem_size, elem, b->elem_size);
	return 0;
}

int body__apply(const struct body *b, enum field_mode mode, const struct json_doc *d, unsigned obj,
		const char *path_id, struct vmm_config *c, struct error *e)
{
	if (b->once && *((const bool *)((const char *)c + b->put_flag_off)))
		return error__fail(e, EXIT_USAGE, "%s: %s", b->what, b->once);
	if (!b->array) {
		if (fields__decode(b->fields, b->nr_fields, mode, b->what, d, obj, c, e))
			return -1;
		if (b->put_flag_off != NO)
			*((bool *)((char *)c + b->put_flag_off)) = true;
		return b->check ? b->check(c, NULL, path_id, e) : 0;
	}
	union {
		struct drive_config drive;
		struct net_config net;
	} elem;
	memset(&elem, 0, sizeof(elem));
	if (fields__decode(b->fields, b->nr_fields, FIELDS_PUT, b->what, d, obj, &elem, e) ||
	    (b->check && b->check(c, &elem, path_id, e)))
		return -1;
	return put_element(b, c, &elem, e);
}

void body__encode(const struct body *b, const struct vmm_config *c, struct json_out *o)
{
	if (b->array) {
		const char *array = (const char *)c + b->array_off;
		unsigned count = *(const unsigned *)((const char *)c + b->count_off);
		json_out__raw(o, "[", 1);
		for (unsigned i = 0; i < count; i++) {
			if (i)
				json_out__raw(o, ",", 1);
			fields__encode(b->fields, b->nr_fields, array + i * b->elem_size, o);
		}
		json_out__raw(o, "]", 1);
		return;
	}
	if (b->shown_off != NO && !*((const char *)c + b->shown_off)) {
		json_out__raw(o, "null", 4);
		return;
	}
	fields__encode(b->fields, b->nr_fields, c, o);
}

/* The API router and handlers: every route and method, one negative test per
 * validation rule, "a rejected request changes nothing", the config file. */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "api/api.h"
#include "api/bodies.h"
#include "vmm.h"
#include "check.h"
#include "virtio/mmds.h"

static struct api *a;
static struct vmm *vmm;
static char last[8192];
static char tmpdir[64];
static char kernel[128], initrd[128], disk[128], disk2[128];
static int starts, cads, pauses, resumes, fail_start;

/* The controller drives this machine instead of KVM: routes and states run anywhere. */
static int fake_start(void *ctx, const struct vm_config *cfg, uint64_t instance_start_us,
		      struct error *e)
{
	if (fail_start)
		return error__fail(e, EXIT_IMAGE, "kernel is not an ELF");
	starts++;
	return 0;
}
static int fake_cad(void *ctx, struct error *e)
{
	cads++;
	return 0;
}
static int fake_pause(void *ctx, struct error *e)
{
	pauses++;
	return 0;
}
static int fake_resume(void *ctx, struct error *e)
{
	resumes++;
	return 0;
}
static void fake_stop(void *ctx)
{
}
/* The running balloon: records what it was asked, or refuses as an inactive device. */
static int balloon_op = -1, balloon_fail;
static uint32_t balloon_value;
static int fake_balloon(void *ctx, enum vmm_balloon_op op, uint32_t value, struct json_out *o,
			struct error *e)
{
	if (balloon_fail)
		return error__fail(e, EXIT_USAGE, "Device is inactive");
	balloon_op = (int)op;
	balloon_value = value;
	if (op == VMM_BALLOON_STATS)
		json_out__printf(o, "{\"target_pages\":%u}", 42u);
	return 0;
}
/* A hot swap that works for files that exist, as the KVM machine's opens them. */
static char swapped_to[256];
static int fake_patch_drive(void *ctx, const char *id, const char *path, struct error *e)
{
	if (access(path, R_OK))
		return error__fail(e, EXIT_USAGE, "drive %s: cannot open %s", id, path);
	snprintf(swapped_to, sizeof(swapped_to), "%s", path);
	return 0;
}
/* A machine that counts one vCPU group of its own. */
static void fake_metrics(void *ctx, struct json_out *o)
{
	json_out__printf(o, ",\"vcpu\":{\"exit_io_in\":7}");
}
/* Live limiter changes, recorded. */
static char limited_dev[64];
static unsigned limited_q, limited_calls;
static struct rate_limiter_config limited;
static int fake_patch_limiter(void *ctx, const char *device, unsigned q,
			      const struct rate_limiter_config *rl, struct error *e)
{
	snprintf(limited_dev, sizeof(limited_dev), "%s", device);
	limited_q = q;
	limited = *rl;
	limited_calls++;
	return 0;
}
static const struct vmm_machine machine = {
    .patch_drive = fake_patch_drive,
    .patch_limiter = fake_patch_limiter,
    .metrics = fake_metrics,
    .start = fake_start,
    .pause = fake_pause,
    .resume = fake_resume,
    .ctrl_alt_del = fake_cad,
    .stop = fake_stop,
    .balloon = fake_balloon,
};

static const struct vmm_config *cfg(void)
{
	return vmm__config(vmm);
}

/* The controller's verbs and the config-file loader with a text error, as the
 * checks below read it. */
static void copy_msg(char *err, size_t errlen, const struct error *e)
{
	size_t n = strnlen(e->msg, errlen - 1);
	memcpy(err, e->msg, n);
	err[n] = '\0';
}
static int set_metrics(const char *path, char *err, size_t errlen)
{
	struct error e = {0};
	int rc = vmm__set_metrics_path(vmm, path, &e);
	copy_msg(err, errlen, &e);
	return rc;
}
static int start(char *err, size_t errlen)
{
	struct error e = {0};
	int rc = vmm__start(vmm, &e);
	copy_msg(err, errlen, &e);
	return rc;
}
static int load_config(const char *json, size_t len, char *err, size_t errlen)
{
	struct error e = {0};
	int rc = api__load_config(a, json, len, &e);
	copy_msg(err, errlen, &e);
	return rc;
}
static int load_config_file(const char *path, char *err, size_t errlen)
{
	struct error e = {0};
	int rc = api__load_config_file(a, path, &e);
	copy_msg(err, errlen, &e);
	return rc;
}

static bool last_deprecated;
static int req(enum http_method m, const char *path, const char *body)
{
	struct api_response r;
	api__handle(a, m, path, body, body ? strlen(body) : 0, &r);
	last_deprecated = r.deprecated;
	snprintf(last, sizeof(last), "%s", r.body.buf ? r.body.buf : "");
	json_out__free(&r.body);
	return r.status;
}
#define GET(p)	    req(HTTP_GET, p, NULL)
#define PUT(p, b)   req(HTTP_PUT, p, b)
#define PATCH(p, b) req(HTTP_PATCH, p, b)

/* The whole (small) file as a string; returns its length, or -1. */
static ssize_t read_text(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, size - 1);
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return n;
}

static void touch(char *out, const char *name)
{
	snprintf(out, 128, "%s/%s", tmpdir, name);
	int fd = open(out, O_CREAT | O_WRONLY, 0600);
	close(fd);
}

static void cleanup(void)
{
	const char *names[] = {"vmlinux",   "initrd",	  "disk.img",
			       "disk2.img", "serial.out", "metrics.json"};
	char p[128];
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", tmpdir, names[i]);
		unlink(p);
	}
	rmdir(tmpdir);
}

static void fresh(void)
{
	if (!vmm) {
		atexit(cleanup);
		snprintf(tmpdir, sizeof(tmpdir), "/tmp/ember-test-api.XXXXXX");
		if (!mkdtemp(tmpdir))
			abort();
		touch(kernel, "vmlinux");
		touch(initrd, "initrd");
		touch(disk, "disk.img");
		touch(disk2, "disk2.img");
	} else {
		api__destroy(a);
		vmm__destroy(vmm);
	}
	struct vmm_params p = {.id = "test-vm", .version = "9.9.9", .machine = &machine};
	struct error e;
	vmm = vmm__create(&p, &e);
	a = api__create(vmm);
	if (!vmm || !a)
		abort();
	starts = cads = pauses = resumes = fail_start = 0;
	log__set_level(LOG_ERROR);
}

/* The response body names the field and the reason. */
#define CHECK_FAULT(status_expr, want_status, needle)                                              \
	do {                                                                                       \
		CHECK_EQ(status_expr, want_status);                                                \
		if (!strstr(last, "\"fault_message\"") || !strstr(last, needle)) {                 \
			char m_[400];                                                              \
			snprintf(m_, sizeof(m_), "fault '%.250s' lacks '%.80s'", last, needle);    \
			check__fail(__FILE__, __LINE__, m_);                                       \
		}                                                                                  \
	} while (0)

static void boot_source(void)
{
	char b[512];
	snprintf(b, sizeof(b), "{\"kernel_image_path\":\"%s\",\"boot_args\":\"console=ttyS0\"}",
		 kernel);
	CHECK_EQ(PUT("/boot-source", b), 204);
}

static void test_info_and_version(void)
{
	fresh();
	CHECK_EQ(GET("/"), 200);
	CHECK(strstr(last, "\"id\":\"test-vm\"") && strstr(last, "\"state\":\"Not started\"") &&
	      strstr(last, "\"vmm_version\":\"9.9.9\""));
	CHECK_EQ(GET("/version"), 200);
	CHECK_STR(last, "{\"firecracker_version\":\"9.9.9\"}");
}

static void test_unknown_paths_and_methods(void)
{
	fresh();
	CHECK_FAULT(GET("/nope"), 400, "/nope");
	CHECK_FAULT(GET("/drives"), 400, "Invalid request");
	CHECK_FAULT(GET("/drives/a/b"), 400, "Invalid request");
	CHECK_FAULT(GET("/machine-configX"), 400, "Invalid request");
	CHECK_FAULT(req(HTTP_OTHER, "/", NULL), 405, "not allowed");
	CHECK_FAULT(PUT("/", "{}"), 405, "not allowed");
	CHECK_FAULT(PUT("/version", "{}"), 405, "not allowed");
	CHECK_FAULT(GET("/boot-source"), 405, "not allowed");
	CHECK_FAULT(PATCH("/boot-source", "{}"), 400, "Invalid request method");
	CHECK_FAULT(PATCH("/logger", "{\"level\":\"Error\"}"), 400, "Invalid request method");
	CHECK_FAULT(GET("/drives/d1"), 405, "not allowed");
	CHECK_FAULT(GET("/network-interfaces/n1"), 405, "not allowed");
	CHECK_FAULT(GET("/actions"), 405, "not allowed");
	CHECK_FAULT(GET("/vm"), 405, "not allowed");
	CHECK_FAULT(PUT("/vm", "{}"), 405, "not allowed");
	CHECK_FAULT(PUT("/vm/config", "{}"), 405, "not allowed");
	CHECK_FAULT(GET("/logger"), 405, "not allowed");
	CHECK_FAULT(GET("/metrics"), 405, "not allowed");
	CHECK_FAULT(PATCH("/vsock", "{}"), 400, "Invalid request method and/or path: PATCH vsock.");
	CHECK_FAULT(GET("/entropy"), 405, "not allowed");
	CHECK_EQ(api__route("/machine-config/"), ROUTE_MACHINE_CONFIG);
	CHECK_EQ(api__route("/drives/x"), ROUTE_DRIVES);
	CHECK_EQ(api__route("/drives/"), ROUTE_UNKNOWN);
}

static void test_unsupported_endpoints(void)
{
	fresh();
	const char *paths[] = {"/pmem/p1", "/hotplug/memory", "/balloon/hinting/start"};
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		CHECK_FAULT(PUT(paths[i], "{}"), 400, "not supported");
}

/* /mmds and /mmds/config as Firecracker answers them. */
static void test_mmds(void)
{
	fresh();
	struct mmds_store *s = mmds_store__default();
	mmds_store__reset(s, 64);
	CHECK_EQ(GET("/mmds"), 200);
	CHECK_STR(last, "{}");
	CHECK_FAULT(PATCH("/mmds", "{\"a\":1}"), 400,
		    "MMDS error: The MMDS data store is not initialized.");
	CHECK_EQ(PUT("/mmds", "{\"b\":{\"c\":\"d\"},\"a\":[1]}"), 204);
	CHECK_EQ(GET("/mmds"), 200);
	CHECK_STR(last, "{\"a\":[1],\"b\":{\"c\":\"d\"}}");
	CHECK_EQ(PATCH("/mmds", "{\"a\":null,\"b\":{\"e\":\"f\"}}"), 204);
	CHECK_EQ(GET("/mmds"), 200);
	CHECK_STR(last, "{\"b\":{\"c\":\"d\",\"e\":\"f\"}}");
	CHECK_FAULT(PUT("/mmds", "{\"x\":"), 400, "invalid JSON");
	CHECK_FAULT(PUT("/mmds", NULL), 400, "needs a JSON body");
	/* over --mmds-size-limit: Firecracker's 413, the store unchanged */
	CHECK_FAULT(PUT("/mmds",
			"{\"a\":\"0123456789012345678901234567890123456789012345678901234567"
			"89\"}"),
		    413, "MMDS limit exceeded error: The MMDS patch request doesn't fit.");
	CHECK_FAULT(
	    PATCH("/mmds", "{\"a\":\"0123456789012345678901234567890123456789012345678901\"}"), 413,
	    "doesn't fit");
	CHECK_EQ(GET("/mmds"), 200);
	CHECK_STR(last, "{\"b\":{\"c\":\"d\",\"e\":\"f\"}}");
	CHECK_FAULT(PUT("/mmds/other", "{}"), 400, "Unrecognized PUT request path `other`.");
	CHECK_FAULT(PATCH("/mmds/config", "{}"), 400, "Invalid request method and/or path");

	/* /mmds/config: interfaces must exist, the address be link-local */
	CHECK_FAULT(PUT("/mmds/config", "{\"network_interfaces\":[\"eth0\"]}"), 400,
		    "does not correspond to any existing network interface");
	CHECK_EQ(
	    PUT("/network-interfaces/eth0", "{\"iface_id\":\"eth0\",\"host_dev_name\":\"tap0\"}"),
	    204);
	CHECK_FAULT(PUT("/mmds/config", "{\"network_interfaces\":[]}"), 400,
		    "forwarding MMDS requests is empty");
	CHECK_FAULT(PUT("/mmds/config", "{\"version\":\"V2\"}"), 400,
		    "missing field `network_interfaces`");
	CHECK_FAULT(PUT("/mmds/config", "{\"network_interfaces\":[\"eth0\"],\"x\":1}"), 400,
		    "unknown field `x`");
	CHECK_FAULT(PUT("/mmds/config", "{\"network_interfaces\":[\"eth0\"],\"version\":\"V3\"}"),
		    400, "unknown variant");
	const char *bad_ips[] = {"169.254.0.1", "169.254.255.1", "10.0.0.1",
				 "169.254.1",	"169.254.01.1",	 "169.254.1.256"};
	for (size_t i = 0; i < sizeof(bad_ips) / sizeof(bad_ips[0]); i++) {
		char b[200];
		snprintf(b, sizeof(b),
			 "{\"network_interfaces\":[\"eth0\"],\"ipv4_address\":\"%s\"}", bad_ips[i]);
		CHECK_EQ(PUT("/mmds/config", b), 400);
	}
	CHECK(!cfg()->vm.mmds.present);
	CHECK_EQ(PUT("/mmds/config", "{\"network_interfaces\":[\"eth0\"]}"), 204);
	CHECK(last_deprecated); /* V1 is deprecated in Firecracker */
	CHECK_EQ(GET("/vm/config"), 200);
	CHECK(strstr(last,
		     "\"mmds-config\":{\"version\":\"V1\",\"network_interfaces\":["
		     "\"eth0\"],\"ipv4_address\":\"169.254.169.254\",\"imds_compat\":false}"));
	CHECK_EQ(PUT("/mmds/config", "{\"network_interfaces\":[\"eth0\"],\"version\":\"V2\","
				     "\"ipv4_address\":\"169.254.1.2\",\"imds_compat\":true}"),
		 204);
	CHECK(!last_deprecated);
	CHECK_EQ(cfg()->vm.mmds.ipv4, 0xa9fe0102u);
	CHECK_EQ(cfg()->vm.mmds.version, 1);
	CHECK(cfg()->vm.mmds.imds_compat);
	boot_source();
	char err[256];
	CHECK_EQ(start(err, sizeof(err)), 0);
	/* after start: the store stays writable, its configuration does not */
	CHECK_FAULT(PUT("/mmds/config", "{\"network_interfaces\":[\"eth0\"]}"), 400, "");
	CHECK_EQ(PUT("/mmds", "{\"k\":\"v\"}"), 204);
	CHECK_EQ(GET("/mmds"), 200);
	CHECK_STR(last, "{\"k\":\"v\"}");
	mmds_store__reset(s, MMDS_DEFAULT_SIZE_LIMIT);
}

/* A VM started without any use of MMDS has no store, as in Firecracker. */
static void test_mmds_uninitialized_after_start(void)
{
	fresh();
	mmds_store__reset(mmds_store__default(), MMDS_DEFAULT_SIZE_LIMIT);
	boot_source();
	char err[256];
	CHECK_EQ(start(err, sizeof(err)), 0);
	CHECK_FAULT(GET("/mmds"), 400, "MMDS error: The MMDS data store is not initialized.");
	CHECK_FAULT(PUT("/mmds", "{}"), 400, "not initialized");
}

/* The config file's mmds-config section. */
static void test_mmds_config_file(void)
{
	fresh();
	char json[1024], err[512];
	snprintf(json, sizeof(json),
		 "{\"boot-source\":{\"kernel_image_path\":\"%s\"},\"network-interfaces\":[{"
		 "\"iface_id\":\"eth0\",\"host_dev_name\":\"tap0\"}],\"mmds-config\":{"
		 "\"version\":\"V2\",\"network_interfaces\":[\"eth0\"]}}",
		 kernel);
	CHECK_EQ(load_config(json, strlen(json), err, sizeof(err)), 0);
	CHECK(cfg()->vm.mmds.present);
	CHECK_EQ(cfg()->vm.mmds.version, 1);
	CHECK_EQ(cfg()->vm.mmds.ipv4, MMDS_DEFAULT_IPV4);
	fresh();
	snprintf(json, sizeof(json),
		 "{\"boot-source\":{\"kernel_image_path\":\"%s\"},\"mmds-config\":{"
		 "\"network_interfaces\":[\"eth9\"]}}",
		 kernel);
	CHECK(load_config(json, strlen(json), err, sizeof(err)) != 0);
	CHECK(strstr(err, "does not correspond to any existing network interface"));
}

static void test_bodies_must_be_json_objects(void)
{
	fresh();
	CHECK_FAULT(PUT("/machine-config", NULL), 400, "needs a JSON body");
	CHECK_FAULT(PUT("/machine-config", "{"), 400, "invalid JSON");
	CHECK_FAULT(PUT("/machine-config", "[1]"), 400, "must be a JSON object");
	CHECK_FAULT(PUT("/machine-config", "{\"vcpu_count\":1,\"mem_size_mib\":64} x"), 400,
		    "invalid JSON");
	CHECK_FAULT(
	    PUT("/machine-config", "{\"vcpu_count\":1,\"vcpu_count\":2,\"mem_size_mib\":64}"), 400,
	    "given twice");
}

static void test_machine_config(void)
{
	fresh();
	CHECK_EQ(GET("/machine-config"), 200);
	CHECK(strstr(last, "\"vcpu_count\":1") && strstr(last, "\"mem_size_mib\":128"));
	CHECK_EQ(PUT("/machine-config", "{\"vcpu_count\":2,\"mem_size_mib\":256,\"smt\":true,"
					"\"track_dirty_pages\":true,\"cpu_template\":\"None\","
					"\"huge_pages\":\"None\"}"),
		 204);
	CHECK_EQ(GET("/machine-config"), 200);
	CHECK(strstr(last, "\"vcpu_count\":2") && strstr(last, "\"mem_size_mib\":256") &&
	      strstr(last, "\"smt\":true") && strstr(last, "\"track_dirty_pages\":true"));
	/* PUT resets the optional fields */
	CHECK_EQ(PUT("/machine-config", "{\"vcpu_count\":2,\"mem_size_mib\":256}"), 204);
	GET("/machine-config");
	CHECK(strstr(last, "\"smt\":false"));
	CHECK_EQ(PATCH("/machine-config", "{\"mem_size_mib\":512}"), 204);
	GET("/machine-config");
	CHECK(strstr(last, "\"vcpu_count\":2") && strstr(last, "\"mem_size_mib\":512"));
	CHECK_EQ(PATCH("/machine-config", "{}"), 204);
}

static void test_machine_config_rejections_change_nothing(void)
{
	fresh();
	CHECK_EQ(PUT("/machine-config", "{\"vcpu_count\":2,\"mem_size_mib\":256}"), 204);
	char before[sizeof(last)];
	GET("/machine-config");
	snprintf(before, sizeof(before), "%s", last);
	CHECK_FAULT(PUT("/machine-config", "{\"vcpu_count\":0,\"mem_size_mib\":64}"), 400,
		    "vcpu_count");
	CHECK_FAULT(PUT("/machine-config", "{\"vcpu_count\":33,\"mem_size_mib\":64}"), 400,
		    "out of range");
	CHECK_FAULT(PUT("/machine-config", "{\"vcpu_count\":-1,\"mem_size_mib\":64}"), 400,
		    "vcpu_count");
	CHECK_FAULT(PUT("/machine-config", "{\"vcpu_count\":1.5,\"mem_size_mib\":64}"), 400,
		    "not an integer");
	CHECK_FAULT(PUT("/machine-config", "{\"vcpu_count\":\"2\",\"mem_size_mib\":64}"), 400,
		    "expected a number");
	CHECK_FAULT(PUT("/machine-config", "{\"vcpu_count\":1}"), 400, "mem_size_mib");
	CHECK_FAULT(PUT("/machine-config", "{\"mem_size_mib\":64}"), 400, "vcpu_count");
	CHECK_FAULT(PUT("/machine-config", "{\"vcpu_count\":1,\"mem_size_mib\":0}"), 400,
		    "mem_size_mib");
	CHECK_FAULT(
	    PUT("/machine-config", "{\"vcpu_count\":1,\"mem_size_mib\":99999999999999999999999}"),
	    400, "mem_size_mib");
	CHECK_FAULT(PUT("/machine-config", "{\"vcpu_count\":3,\"mem_size_mib\":64,\"smt\":true}"),
		    400, "smt");
	CHECK_FAULT(PUT("/machine-config", "{\"vcpu_count\":1,\"mem_size_mib\":64,\"smt\":1}"), 400,
		    "smt");
	CHECK_FAULT(
	    PUT("/machine-config", "{\"vcpu_count\":1,\"mem_size_mib\":64,\"huge_pages\":\"2M\"}"),
	    400, "huge_pages");
	CHECK_FAULT(PUT("/machine-config",
			"{\"vcpu_count\":1,\"mem_size_mib\":64,\"cpu_template\":\"T3\"}"),
		    400, "cpu_template");
	CHECK_FAULT(PUT("/machine-config", "{\"vcpu_count\":1,\"mem_size_mib\":64,\"foo\":1}"), 400,
		    "unknown field `foo`");
	CHECK_FAULT(PATCH("/machine-config", "{\"vcpu_count\":3,\"smt\":true}"), 400, "smt");
	GET("/machine-config");
	CHECK_STR(last, before);
}

static void test_boot_source(void)
{
	fresh();
	char b[600];
	CHECK_FAULT(PUT("/boot-source", "{}"), 400, "kernel_image_path");
	CHECK_FAULT(PUT("/boot-source", "{\"kernel_image_path\":\"\"}"), 400, "must not be empty");
	CHECK_FAULT(PUT("/boot-source", "{\"kernel_image_path\":\"/nonexistent/k\"}"), 400,
		    "cannot open");
	snprintf(b, sizeof(b), "{\"kernel_image_path\":\"%s\",\"initrd_path\":\"/nonexistent\"}",
		 kernel);
	CHECK_FAULT(PUT("/boot-source", b), 400, "initrd_path");
	snprintf(b, sizeof(b), "{\"kernel_image_path\":\"%s\",\"boot_args\":7}", kernel);
	CHECK_FAULT(PUT("/boot-source", b), 400, "boot_args");
	char *longb = malloc(4000);
	int n = snprintf(longb, 4000, "{\"kernel_image_path\":\"%s\",\"boot_args\":\"", kernel);
	memset(longb + n, 'a', 2100);
	strcpy(longb + n + 2100, "\"}");
	CHECK_FAULT(PUT("/boot-source", longb), 400, "boot_args");
	free(longb);
	GET("/vm/config");
	CHECK(strstr(last, "\"boot-source\":null"));
	snprintf(b, sizeof(b), "{\"kernel_image_path\":\"%s\",\"initrd_path\":\"%s\"}", kernel,
		 initrd);
	CHECK_EQ(PUT("/boot-source", b), 204);
	GET("/vm/config");
	CHECK(strstr(last, initrd) && strstr(last, kernel));
}

static void test_drives(void)
{
	fresh();
	char b[600];
	snprintf(b, sizeof(b),
		 "{\"drive_id\":\"rootfs\",\"path_on_host\":\"%s\",\"is_root_device\":true,"
		 "\"is_read_only\":false,\"cache_type\":\"Unsafe\",\"io_engine\":\"Sync\"}",
		 disk);
	CHECK_EQ(PUT("/drives/rootfs", b), 204);
	CHECK_FAULT(PUT("/drives/other", b), 400, "does not match");
	CHECK_FAULT(PUT("/drives/bad.id", b), 400, "drive_id");
	snprintf(b, sizeof(b),
		 "{\"drive_id\":\"d2\",\"path_on_host\":\"%s\",\"is_root_device\":true}", disk2);
	CHECK_FAULT(PUT("/drives/d2", b), 400, "root device");
	snprintf(b, sizeof(b), "{\"drive_id\":\"d2\",\"path_on_host\":\"%s\"}", disk2);
	CHECK_FAULT(PUT("/drives/d2", b), 400, "is_root_device");
	CHECK_FAULT(PUT("/drives/d2", "{\"drive_id\":\"d2\",\"is_root_device\":false,"
				      "\"path_on_host\":\"/nonexistent\"}"),
		    400, "path_on_host");
	CHECK_FAULT(PUT("/drives/d2", "{\"drive_id\":\"d2\",\"is_root_device\":false}"), 400,
		    "path_on_host");
	snprintf(b, sizeof(b),
		 "{\"drive_id\":\"d2\",\"path_on_host\":\"%s\",\"is_root_device\":false,"
		 "\"io_engine\":\"Async\"}",
		 disk2);
	CHECK_FAULT(PUT("/drives/d2", b), 400, "io_engine");
	snprintf(b, sizeof(b),
		 "{\"drive_id\":\"d2\",\"path_on_host\":\"%s\",\"is_root_device\":false,"
		 "\"cache_type\":\"Bogus\"}",
		 disk2);
	CHECK_FAULT(PUT("/drives/d2", b), 400, "cache_type");
	snprintf(b, sizeof(b),
		 "{\"drive_id\":\"d2\",\"path_on_host\":\"%s\",\"is_root_device\":false,"
		 "\"rate_limiter\":{\"bandwidth\":{\"size\":1}}}",
		 disk2);
	CHECK_FAULT(PUT("/drives/d2", b), 400, "rate_limiter: bandwidth");
	snprintf(b, sizeof(b),
		 "{\"drive_id\":\"x1\",\"path_on_host\":\"%s\",\"is_root_device\":false,"
		 "\"rate_limiter\":{}}",
		 disk2);
	CHECK_EQ(PUT("/drives/x1", b), 204);
	snprintf(b, sizeof(b),
		 "{\"drive_id\":\"d2\",\"path_on_host\":\"%s\",\"is_root_device\":false,"
		 "\"socket\":\"/x\"}",
		 disk2);
	CHECK_FAULT(PUT("/drives/d2", b), 400, "socket");
	/* update in place, then fill up to the limit */
	snprintf(b, sizeof(b),
		 "{\"drive_id\":\"rootfs\",\"path_on_host\":\"%s\",\"is_root_device\":true,"
		 "\"is_read_only\":true,\"partuuid\":\"abcd-01\"}",
		 disk2);
	CHECK_EQ(PUT("/drives/rootfs", b), 204);
	GET("/vm/config");
	CHECK(strstr(last, disk2) && !strstr(last, disk));
	CHECK(strstr(last, "\"partuuid\":\"abcd-01\""));
	for (int i = 1; i < CONFIG_MAX_DRIVES; i++) {
		char p[32];
		snprintf(p, sizeof(p), "/drives/x%d", i);
		snprintf(b, sizeof(b),
			 "{\"drive_id\":\"x%d\",\"path_on_host\":\"%s\",\"is_root_device\":false}",
			 i, disk);
		CHECK_EQ(PUT(p, b), 204);
	}
	snprintf(b, sizeof(b),
		 "{\"drive_id\":\"x99\",\"path_on_host\":\"%s\",\"is_root_device\":false}", disk);
	CHECK_FAULT(PUT("/drives/x99", b), 400, "at most");
	/* PATCH is post-boot only */
	CHECK_FAULT(PATCH("/drives/rootfs", "{\"drive_id\":\"rootfs\"}"), 400, "before starting");
}

static void test_network_interfaces(void)
{
	fresh();
	CHECK_EQ(PUT("/network-interfaces/eth0",
		     "{\"iface_id\":\"eth0\",\"host_dev_name\":\"tap0\",\"guest_mac\":"
		     "\"AA:FC:00:00:00:01\"}"),
		 204);
	CHECK_FAULT(
	    PUT("/network-interfaces/eth1", "{\"iface_id\":\"eth1\",\"host_dev_name\":\"tap0\"}"),
	    400, "host_dev_name");
	CHECK_FAULT(PUT("/network-interfaces/eth1",
			"{\"iface_id\":\"eth1\",\"host_dev_name\":\"tap1\",\"guest_mac\":"
			"\"AA:FC:00:00:00:01\"}"),
		    400, "guest_mac");
	CHECK_FAULT(PUT("/network-interfaces/eth1",
			"{\"iface_id\":\"eth1\",\"host_dev_name\":\"tap1\",\"guest_mac\":\"zz\"}"),
		    400, "guest_mac");
	CHECK_FAULT(
	    PUT("/network-interfaces/eth1", "{\"iface_id\":\"eth2\",\"host_dev_name\":\"tap1\"}"),
	    400, "does not match");
	CHECK_FAULT(PUT("/network-interfaces/eth1", "{\"iface_id\":\"eth1\"}"), 400,
		    "host_dev_name");
	CHECK_FAULT(PUT("/network-interfaces/eth1",
			"{\"iface_id\":\"eth1\",\"host_dev_name\":\"a-very-long-tap-name\"}"),
		    400, "host_dev_name");
	CHECK_FAULT(PUT("/network-interfaces/eth1",
			"{\"iface_id\":\"eth1\",\"host_dev_name\":\"tap1\",\"mtu\":10}"),
		    400, "mtu");
	/* A malformed limiter is refused by name and changes nothing. */
	CHECK_FAULT(PUT("/network-interfaces/eth1",
			"{\"iface_id\":\"eth1\",\"host_dev_name\":\"tap1\",\"rx_rate_limiter\":{"
			"\"bandwidth\":{\"size\":1000}}}"),
		    400, "rx_rate_limiter");
	CHECK_FAULT(PUT("/network-interfaces/eth1",
			"{\"iface_id\":\"eth1\",\"host_dev_name\":\"tap1\",\"tx_rate_limiter\":{"
			"\"ops\":{\"size\":-1,\"refill_time\":1}}}"),
		    400, "tx_rate_limiter");
	GET("/vm/config");
	CHECK(strstr(last, "\"guest_mac\":\"aa:fc:00:00:00:01\"") && !strstr(last, "tap1"));
	/* Kata sends empty limiters on every interface: "no limit". */
	CHECK_EQ(PUT("/network-interfaces/eth1",
		     "{\"iface_id\":\"eth1\",\"host_dev_name\":\"tap1\",\"rx_rate_limiter\":{},"
		     "\"tx_rate_limiter\":{}}"),
		 204);
	GET("/vm/config");
	CHECK(strstr(last, "tap1") != NULL);
	CHECK_FAULT(PATCH("/network-interfaces/eth0", "{\"iface_id\":\"eth0\"}"), 400,
		    "before starting");
}

static void test_vsock_entropy_serial(void)
{
	fresh();
	CHECK_FAULT(PUT("/vsock", "{\"guest_cid\":2,\"uds_path\":\"/tmp/v.sock\"}"), 400,
		    "guest_cid");
	CHECK_FAULT(PUT("/vsock", "{\"guest_cid\":4294967296,\"uds_path\":\"/tmp/v.sock\"}"), 400,
		    "guest_cid");
	CHECK_FAULT(PUT("/vsock", "{\"guest_cid\":3}"), 400, "uds_path");
	char b[400];
	snprintf(b, sizeof(b), "{\"guest_cid\":3,\"uds_path\":\"/%0200d\"}", 0);
	CHECK_FAULT(PUT("/vsock", b), 400, "uds_path");
	CHECK_EQ(PUT("/vsock", "{\"guest_cid\":3,\"uds_path\":\"/tmp/v.sock\",\"vsock_id\":\"v\"}"),
		 204);
	CHECK_EQ(PUT("/entropy", "{}"), 204);
	CHECK_EQ(PUT("/entropy", "{\"rate_limiter\":{}}"), 204);
	CHECK_FAULT(PUT("/entropy", "{\"rate_limiter\":{\"bandwidth\":{\"refill_time\":1}}}"), 400,
		    "rate_limiter: bandwidth: missing required field 'size'");
	CHECK_FAULT(PUT("/entropy", "{\"x\":1}"), 400, "unknown field");
	GET("/vm/config");
	CHECK(strstr(last, "\"guest_cid\":3") &&
	      strstr(last, "\"entropy\":{\"rate_limiter\":null}"));
	snprintf(b, sizeof(b), "{\"serial_out_path\":\"%s/serial.out\"}", tmpdir);
	CHECK_EQ(PUT("/serial", b), 204);
	CHECK_FAULT(PUT("/serial", "{\"serial_out_path\":\"/nonexistent/dir/x\"}"), 400,
		    "serial_out_path");
	CHECK_EQ(cfg()->vm.serial_out, SERIAL_OUT_FILE);
}

static void test_logger_and_metrics(void)
{
	fresh();
	char b[400], path[200];
	CHECK_FAULT(PUT("/logger", "{\"level\":\"Loud\"}"), 400, "level");
	CHECK_FAULT(PUT("/logger", "{\"log_path\":\"/nonexistent/dir/log\"}"), 400, "log_path");
	CHECK_EQ(PUT("/logger", "{\"level\":\"error\",\"show_level\":true}"), 204);
	CHECK_FAULT(PUT("/actions", "{\"action_type\":\"FlushMetrics\"}"), 400, "metrics");
	CHECK_FAULT(PUT("/metrics", "{}"), 400, "metrics_path");
	CHECK_FAULT(PUT("/metrics", "{\"metrics_path\":\"/nonexistent/dir/m\"}"), 400,
		    "metrics_path");
	snprintf(path, sizeof(path), "%s/metrics.json", tmpdir);
	unlink(path);
	snprintf(b, sizeof(b),
		 "{\"metrics_path\":\"%s\",\"emit_id\":true,\"properties\":{\"k\":\"v\"}}", path);
	CHECK_EQ(PUT("/metrics", b), 204);
	CHECK_FAULT(PUT("/metrics", b), 400, "already");
	GET("/nope");
	CHECK_EQ(PUT("/actions", "{\"action_type\":\"FlushMetrics\"}"), 204);
	char line[4096] = "";
	read_text(path, line, sizeof(line));
	CHECK(strstr(line, "\"utc_timestamp_ms\":") != NULL);
	CHECK(strstr(line, "\"id\":\"test-vm\"") != NULL);
	CHECK(strstr(line, "\"properties\":{\"k\":\"v\"}") != NULL);
	CHECK(strstr(line, "\"metrics_count\":4,\"metrics_fails\":3") != NULL);
	CHECK(strstr(line, "\"invalid_path_count\":1") != NULL);
	CHECK(line[strlen(line) - 1] == '\n');
	struct json_doc d;
	struct json_tok t[512];
	char e[100];
	line[strlen(line) - 1] = '\0';
	CHECK_EQ(json__parse(&d, line, strlen(line), t, 512, e, sizeof(e)), 0);
	log__set_level(LOG_ERROR);
}

/* properties arrive with any whitespace; the metrics file holds one object a line. */
static void test_metrics_properties_compacted(void)
{
	fresh();
	char b[400], path[200];
	snprintf(path, sizeof(path), "%s/metrics.json", tmpdir);
	unlink(path);
	snprintf(b, sizeof(b),
		 "{\"metrics_path\":\"%s\",\"properties\":{\n  \"k\" : \"v w\",\r\n\t\"q\":"
		 "\"a\\\" b\"\n}}",
		 path);
	CHECK_EQ(PUT("/metrics", b), 204);
	CHECK_EQ(GET("/vm/config"), 200);
	CHECK(strstr(last, "\"properties\":{\"k\":\"v w\",\"q\":\"a\\\" b\"}") != NULL);
	CHECK(strchr(last, '\n') == NULL);
	CHECK_EQ(PUT("/actions", "{\"action_type\":\"FlushMetrics\"}"), 204);
	char line[4096] = "";
	ssize_t n = read_text(path, line, sizeof(line));
	CHECK(n > 0 && line[n - 1] == '\n');
	CHECK(strchr(line, '\n') == line + n - 1);
	CHECK(strstr(line, "\"properties\":{\"k\":\"v w\",\"q\":\"a\\\" b\"}") != NULL);
}

/* The command line's --metrics-path and start are not client requests. */
static void test_set_metrics_and_start_directly(void)
{
	fresh();
	char path[200], err[300];
	snprintf(path, sizeof(path), "%s/metrics.json", tmpdir);
	unlink(path);
	CHECK_EQ(set_metrics("/nonexistent/dir/m", err, sizeof(err)), -1);
	CHECK(strstr(err, "metrics_path") != NULL);
	CHECK_EQ(set_metrics(path, err, sizeof(err)), 0);
	CHECK_EQ(set_metrics(path, err, sizeof(err)), -1);
	CHECK(strstr(err, "already") != NULL);
	CHECK_FAULT(PUT("/metrics", "{\"metrics_path\":\"/tmp/x\"}"), 400, "already");
	CHECK_EQ(start(err, sizeof(err)), -1);
	CHECK(strstr(err, "kernel_image_path") != NULL);
	boot_source();
	fail_start = 1;
	CHECK_EQ(start(err, sizeof(err)), -1);
	CHECK(strstr(err, "not an ELF") != NULL);
	fail_start = 0;
	CHECK_EQ(start(err, sizeof(err)), 0);
	CHECK_EQ(starts, 1);
	CHECK_EQ(GET("/"), 200);
	CHECK(strstr(last, "\"state\":\"Running\"") != NULL);
	CHECK_EQ(start(err, sizeof(err)), -1);
	CHECK_EQ(starts, 1);
	CHECK_EQ(PUT("/actions", "{\"action_type\":\"FlushMetrics\"}"), 204);
	char line[4096] = "";
	read_text(path, line, sizeof(line));
	/* only the PUT /metrics above counts, failed, and the PUT /actions */
	CHECK(strstr(line, "\"metrics_count\":1,\"metrics_fails\":1") != NULL);
}

/* "Off" is a Firecracker level: GET /vm/config reports what was set. */
static void test_logger_off(void)
{
	fresh();
	CHECK_EQ(PUT("/logger", "{\"level\":\"Off\",\"module\":\"api\"}"), 204);
	CHECK_EQ(GET("/vm/config"), 200);
	CHECK(strstr(last, "\"logger\":{\"level\":\"Off\"") != NULL);
	CHECK_EQ(PUT("/logger", "{\"level\":\"error\"}"), 204);
	CHECK_EQ(GET("/vm/config"), 200);
	CHECK(strstr(last, "\"logger\":{\"level\":\"Error\"") != NULL);
	CHECK_FAULT(PUT("/logger", "{\"module\":7}"), 400, "module");
	/* mtu is supported now (it was refused before issue 13). */
	CHECK_EQ(PUT("/network-interfaces/eth0",
		     "{\"iface_id\":\"eth0\",\"host_dev_name\":\"tap0\",\"mtu\":1500}"),
		 204);
	GET("/vm/config");
	CHECK(strstr(last, "\"mtu\":1500,\"rx_rate_limiter\":null,\"tx_rate_limiter\":null") !=
	      NULL);
	CHECK_FAULT(PUT("/network-interfaces/eth0",
			"{\"iface_id\":\"eth0\",\"host_dev_name\":\"tap0\",\"mtu\":65536}"),
		    400, "mtu");
	CHECK_EQ(
	    PUT("/network-interfaces/eth0", "{\"iface_id\":\"eth0\",\"host_dev_name\":\"tap0\"}"),
	    204);
	GET("/vm/config");
	CHECK(strstr(last, "\"mtu\":null") != NULL);
	log__set_level(LOG_ERROR);
}

/* Log lines hold client strings; control bytes must not reach the log raw. */
static void test_log_escapes_control_bytes(void)
{
	char path[200];
	snprintf(path, sizeof(path), "%s/log.txt", tmpdir);
	unlink(path);
	CHECK_EQ(log__set_path(path), 0);
	pr_err("id '%s' done", "a\nb\x1b[2J\x7f\tc");
	log__set_path("/dev/stderr");
	char buf[512] = "";
	read_text(path, buf, sizeof(buf));
	unlink(path);
	CHECK(strcmp(buf, "ember: error: id 'a\\x0ab\\x1b[2J\\x7f\\x09c' done\n") == 0);
}

static void test_actions_and_lifecycle(void)
{
	fresh();
	CHECK_FAULT(PUT("/actions", "{}"), 400, "action_type");
	CHECK_FAULT(PUT("/actions", "{\"action_type\":\"Reboot\"}"), 400, "InstanceStart");
	CHECK_FAULT(PUT("/actions", "{\"action_type\":\"InstanceStart\"}"), 400,
		    "kernel_image_path");
	CHECK_FAULT(PUT("/actions", "{\"action_type\":\"SendCtrlAltDel\"}"), 400,
		    "before starting");
	CHECK_FAULT(PATCH("/vm", "{\"state\":\"Paused\"}"), 400, "before starting");
	boot_source();
	fail_start = 1;
	CHECK_FAULT(PUT("/actions", "{\"action_type\":\"InstanceStart\"}"), 400, "not an ELF");
	GET("/");
	CHECK(strstr(last, "Not started"));
	fail_start = 0;
	CHECK_EQ(PUT("/actions", "{\"action_type\":\"InstanceStart\"}"), 204);
	CHECK_EQ(starts, 1);
	GET("/");
	CHECK(strstr(last, "\"state\":\"Running\""));
	CHECK_FAULT(PUT("/actions", "{\"action_type\":\"InstanceStart\"}"), 400, "after starting");
	CHECK_FAULT(PUT("/machine-config", "{\"vcpu_count\":1,\"mem_size_mib\":64}"), 400,
		    "after starting");
	CHECK_FAULT(PATCH("/machine-config", "{\"vcpu_count\":1}"), 400, "after starting");
	CHECK_FAULT(PUT("/boot-source", "{\"kernel_image_path\":\"/x\"}"), 400, "after starting");
	CHECK_FAULT(PUT("/drives/a", "{}"), 400, "after starting");
	CHECK_FAULT(PUT("/network-interfaces/a", "{}"), 400, "after starting");
	CHECK_FAULT(PUT("/vsock", "{}"), 400, "after starting");
	CHECK_FAULT(PUT("/entropy", "{}"), 400, "after starting");
	CHECK_FAULT(PUT("/logger", "{}"), 400, "after starting");
	CHECK_FAULT(PUT("/metrics", "{}"), 400, "after starting");
	CHECK_EQ(PUT("/actions", "{\"action_type\":\"SendCtrlAltDel\"}"), 204);
	CHECK_EQ(cads, 1);
	CHECK_FAULT(PATCH("/vm", "{\"state\":\"Stopped\"}"), 400, "state");
	CHECK_EQ(PATCH("/vm", "{\"state\":\"Paused\"}"), 204);
	GET("/");
	CHECK(strstr(last, "\"state\":\"Paused\""));
	CHECK_EQ(PATCH("/vm", "{\"state\":\"Resumed\"}"), 204);
	CHECK_EQ(pauses, 1);
	CHECK_EQ(resumes, 1);
	GET("/");
	CHECK(strstr(last, "\"state\":\"Running\""));
	CHECK_EQ(GET("/machine-config"), 200);
	CHECK_EQ(GET("/vm/config"), 200);
}

static void test_patch_devices_after_boot(void)
{
	fresh();
	char b[600];
	snprintf(b, sizeof(b),
		 "{\"drive_id\":\"d1\",\"path_on_host\":\"%s\",\"is_root_device\":true}", disk);
	CHECK_EQ(PUT("/drives/d1", b), 204);
	CHECK_EQ(PUT("/network-interfaces/n1", "{\"iface_id\":\"n1\",\"host_dev_name\":\"tap9\"}"),
		 204);
	boot_source();
	CHECK_EQ(PUT("/actions", "{\"action_type\":\"InstanceStart\"}"), 204);
	/* Only drive_id: Firecracker's 400. */
	CHECK_FAULT(PATCH("/drives/d1", "{\"drive_id\":\"d1\"}"), 400,
		    "Running method expected different backend.");
	CHECK_EQ(PATCH("/drives/d1", "{\"drive_id\":\"d1\",\"rate_limiter\":{}}"), 204);
	CHECK_FAULT(PATCH("/drives/d2", "{\"drive_id\":\"d2\",\"rate_limiter\":{}}"), 400,
		    "no drive");
	/* A hot swap: GET /vm/config shows the file in use; a refused one changes nothing. */
	snprintf(b, sizeof(b), "{\"drive_id\":\"d1\",\"path_on_host\":\"%s\"}", disk2);
	CHECK_EQ(PATCH("/drives/d1", b), 204);
	CHECK_STR(swapped_to, disk2);
	CHECK_STR(cfg()->vm.drives[0].path, disk2);
	GET("/vm/config");
	CHECK(strstr(last, disk2) != NULL);
	CHECK_FAULT(PATCH("/drives/d1", "{\"drive_id\":\"d1\",\"path_on_host\":\"/nonexistent\"}"),
		    400, "path_on_host: Unable to patch the block device: drive d1: cannot open");
	CHECK_STR(cfg()->vm.drives[0].path, disk2);
	CHECK_FAULT(PATCH("/drives/d1", "{\"drive_id\":\"d1\",\"path_on_host\":\"\"}"), 400,
		    "path_on_host");
	CHECK_FAULT(PATCH("/drives/d1", "{\"drive_id\":\"d1\",\"is_read_only\":true}"), 400,
		    "unknown field `is_read_only`");
	CHECK_STR(cfg()->vm.drives[0].path, disk2);
	CHECK_FAULT(PATCH("/drives/d1", "{\"drive_id\":\"d2\"}"), 400, "does not match");
	CHECK_FAULT(PATCH("/drives/d1", "{\"drive_id\":\"d1\",\"path_on_host\":\"/x\"}"), 400,
		    "path_on_host");
	CHECK_FAULT(PATCH("/drives/d1", "{\"path_on_host\":\"/x\"}"), 400, "drive_id");
	CHECK_EQ(PATCH("/network-interfaces/n1", "{\"iface_id\":\"n1\"}"), 204);
	CHECK_FAULT(PATCH("/network-interfaces/n1",
			  "{\"iface_id\":\"n1\",\"tx_rate_limiter\":{\"ops\":{}}}"),
		    400, "tx_rate_limiter");
	CHECK_FAULT(PATCH("/network-interfaces/n2", "{\"iface_id\":\"n2\"}"), 400,
		    "no network interface");
}

/* Rate limiters: PUT stores and GET /vm/config shows them (null where none); PATCH
 * after boot reaches the machine with the bucket it did not give kept. */
static void test_rate_limiters(void)
{
	fresh();
	char b[800];
	snprintf(b, sizeof(b),
		 "{\"drive_id\":\"d1\",\"path_on_host\":\"%s\",\"is_root_device\":true,"
		 "\"rate_limiter\":{\"bandwidth\":{\"size\":1048576,\"one_time_burst\":4096,"
		 "\"refill_time\":1000},\"ops\":{\"size\":100,\"refill_time\":1000}}}",
		 disk);
	CHECK_EQ(PUT("/drives/d1", b), 204);
	CHECK_EQ(cfg()->vm.drives[0].rate_limiter.bandwidth.size, 1048576);
	CHECK_EQ(cfg()->vm.drives[0].rate_limiter.bandwidth.one_time_burst, 4096);
	CHECK_EQ(cfg()->vm.drives[0].rate_limiter.ops.refill_time, 1000);
	CHECK_EQ(PUT("/network-interfaces/n1",
		     "{\"iface_id\":\"n1\",\"host_dev_name\":\"tap9\",\"tx_rate_limiter\":{\"ops\":"
		     "{\"size\":10,\"refill_time\":100}}}"),
		 204);
	CHECK_EQ(PUT("/entropy",
		     "{\"rate_limiter\":{\"bandwidth\":{\"size\":1000,\"refill_time\":100}}}"),
		 204);
	CHECK_EQ(cfg()->vm.entropy_rate_limiter.bandwidth.size, 1000);
	/* /serial takes a bare token bucket. */
	CHECK_EQ(PUT("/serial", "{\"rate_limiter\":{\"size\":100,\"refill_time\":10}}"), 204);
	CHECK_EQ(cfg()->vm.serial_rate_limiter.size, 100);
	CHECK_FAULT(PUT("/serial", "{\"rate_limiter\":{\"bandwidth\":{}}}"), 400,
		    "rate_limiter: unknown field `bandwidth`");
	CHECK_EQ(cfg()->vm.serial_rate_limiter.size, 100);
	CHECK_FAULT(
	    PUT("/entropy", "{\"rate_limiter\":{\"ops\":{\"size\":1,\"refill_time\":true}}}"), 400,
	    "rate_limiter: ops: refill_time");
	CHECK_EQ(cfg()->vm.entropy_rate_limiter.bandwidth.size, 1000);
	GET("/vm/config");
	CHECK(strstr(last, "\"rate_limiter\":{\"bandwidth\":{\"size\":1048576,\"one_time_burst\":"
			   "4096,\"refill_time\":1000},\"ops\":{\"size\":100,\"one_time_burst\":0,"
			   "\"refill_time\":1000}}") != NULL);
	CHECK(strstr(last,
		     "\"rx_rate_limiter\":null,\"tx_rate_limiter\":{\"bandwidth\":null,"
		     "\"ops\":{\"size\":10,\"one_time_burst\":0,\"refill_time\":100}}") != NULL);
	CHECK(strstr(last, "\"entropy\":{\"rate_limiter\":{\"bandwidth\":{\"size\":1000,") != NULL);
	boot_source();
	CHECK_EQ(PUT("/actions", "{\"action_type\":\"InstanceStart\"}"), 204);
	limited_calls = 0;
	/* Only ops given: bandwidth is kept. */
	CHECK_EQ(PATCH("/drives/d1", "{\"drive_id\":\"d1\",\"rate_limiter\":{\"ops\":{\"size\":5,"
				     "\"refill_time\":10}}}"),
		 204);
	CHECK_EQ(limited_calls, 1);
	CHECK_STR(limited_dev, "block.d1");
	CHECK_EQ(limited_q, 0);
	CHECK_EQ(limited.bandwidth.size, 1048576);
	CHECK_EQ(limited.ops.size, 5);
	CHECK_EQ(cfg()->vm.drives[0].rate_limiter.ops.size, 5);
	CHECK_EQ(cfg()->vm.drives[0].rate_limiter.bandwidth.one_time_burst, 4096);
	/* Receive only: queue 0 of net.n1; transmit kept. */
	CHECK_EQ(PATCH("/network-interfaces/n1",
		       "{\"iface_id\":\"n1\",\"rx_rate_limiter\":{\"bandwidth\":{\"size\":2000,"
		       "\"refill_time\":100}}}"),
		 204);
	CHECK_EQ(limited_calls, 2);
	CHECK_STR(limited_dev, "net.n1");
	CHECK_EQ(limited_q, 0);
	CHECK_EQ(cfg()->vm.nets[0].rx_rate_limiter.bandwidth.size, 2000);
	CHECK_EQ(cfg()->vm.nets[0].tx_rate_limiter.ops.size, 10);
	/* size 0 lifts a limit. */
	CHECK_EQ(PATCH("/network-interfaces/n1",
		       "{\"iface_id\":\"n1\",\"tx_rate_limiter\":{\"ops\":{\"size\":0,"
		       "\"refill_time\":0}}}"),
		 204);
	CHECK_EQ(limited_q, 1);
	CHECK_EQ(cfg()->vm.nets[0].tx_rate_limiter.ops.size, 0);
	/* A malformed PATCH reaches nothing and changes nothing. */
	CHECK_FAULT(
	    PATCH("/drives/d1", "{\"drive_id\":\"d1\",\"rate_limiter\":{\"ops\":{\"size\":5}}}"),
	    400, "rate_limiter: ops: missing required field 'refill_time'");
	CHECK_EQ(limited_calls, 3);
	CHECK_EQ(cfg()->vm.drives[0].rate_limiter.ops.size, 5);
	/* A refused swap leaves the limiter as it was too. */
	CHECK_FAULT(PATCH("/drives/d1",
			  "{\"drive_id\":\"d1\",\"path_on_host\":\"/nonexistent\","
			  "\"rate_limiter\":{\"ops\":{\"size\":7,\"refill_time\":10}}}"),
		    400, "path_on_host");
	CHECK_EQ(limited_calls, 3);
	CHECK_EQ(cfg()->vm.drives[0].rate_limiter.ops.size, 5);
	GET("/vm/config");
	CHECK(strstr(last, "\"ops\":{\"size\":5,\"one_time_burst\":0,\"refill_time\":10}") != NULL);
	CHECK(strstr(last, "\"tx_rate_limiter\":null") != NULL);
}

/* The balloon before start: configuration through PUT, PATCH and GET, every refusal
 * changing nothing. */
static void test_balloon_before_start(void)
{
	fresh();
	CHECK_FAULT(GET("/balloon"), 400, "No balloon device found.");
	CHECK_FAULT(PATCH("/balloon", "{\"amount_mib\":1}"), 400, "No balloon device found.");
	CHECK_FAULT(PUT("/balloon", "{\"amount_mib\":1}"), 400, "deflate_on_oom");
	CHECK_FAULT(PUT("/balloon", "{\"deflate_on_oom\":true}"), 400, "amount_mib");
	CHECK_FAULT(PUT("/balloon", "{\"amount_mib\":129,\"deflate_on_oom\":true}"), 400,
		    "Amount of pages requested is too large.");
	CHECK_FAULT(PUT("/balloon", "{\"amount_mib\":-1,\"deflate_on_oom\":true}"), 400,
		    "amount_mib");
	CHECK_FAULT(PUT("/balloon", "{\"amount_mib\":1,\"deflate_on_oom\":1}"), 400,
		    "deflate_on_oom");
	CHECK_FAULT(PUT("/balloon", "{\"amount_mib\":1,\"deflate_on_oom\":true,"
				    "\"stats_polling_interval_s\":65536}"),
		    400, "stats_polling_interval_s");
	CHECK_FAULT(PUT("/balloon", "{\"amount_mib\":1,\"deflate_on_oom\":true,"
				    "\"free_page_hinting\":true}"),
		    400, "free_page_hinting: not supported");
	CHECK_FAULT(PUT("/balloon", "{\"amount_mib\":1,\"deflate_on_oom\":true,\"x\":1}"), 400,
		    "unknown field `x`");
	CHECK(!cfg()->vm.balloon.present);
	CHECK_EQ(GET("/vm/config"), 200);
	CHECK(strstr(last, "\"balloon\":null") != NULL);

	CHECK_EQ(PUT("/balloon", "{\"amount_mib\":64,\"deflate_on_oom\":true}"), 204);
	CHECK_EQ(GET("/balloon"), 200);
	CHECK_STR(last, "{\"amount_mib\":64,\"deflate_on_oom\":true,\"stats_polling_interval_s\":0,"
			"\"free_page_reporting\":false}");
	/* The guest's memory may not shrink below the balloon's target. */
	CHECK_FAULT(PUT("/machine-config", "{\"vcpu_count\":1,\"mem_size_mib\":32}"), 400,
		    "balloon.amount_mib");
	CHECK_EQ(cfg()->vm.mem_mib, 128);
	CHECK_EQ(PATCH("/balloon", "{\"amount_mib\":32}"), 204);
	CHECK_EQ(cfg()->vm.balloon.amount_mib, 32);
	CHECK(cfg()->vm.balloon.deflate_on_oom);
	CHECK_FAULT(PATCH("/balloon", "{\"amount_mib\":129}"), 400, "too large");
	CHECK_FAULT(PATCH("/balloon", "{\"amount_mib\":1,\"deflate_on_oom\":false}"), 400,
		    "unknown field `deflate_on_oom`");
	CHECK_FAULT(PATCH("/balloon", "{}"), 400, "amount_mib");
	CHECK_EQ(cfg()->vm.balloon.amount_mib, 32);
	CHECK_EQ(PATCH("/balloon/statistics", "{\"stats_polling_interval_s\":3}"), 204);
	CHECK_EQ(cfg()->vm.balloon.stats_polling_interval_s, 3);
	CHECK_FAULT(GET("/balloon/statistics"), 400, "not supported before starting");
	CHECK_FAULT(PUT("/balloon/statistics", "{\"stats_polling_interval_s\":3}"), 405,
		    "not allowed");
	CHECK_FAULT(PUT("/balloon/hinting/start", "{}"), 400, "not supported");
	CHECK_EQ(GET("/vm/config"), 200);
	CHECK(strstr(last,
		     "\"balloon\":{\"amount_mib\":32,\"deflate_on_oom\":true,"
		     "\"stats_polling_interval_s\":3,\"free_page_reporting\":false}") != NULL);
	CHECK_EQ(balloon_op, -1); /* nothing reached a device */
}

/* After start: PATCHes and the statistics go to the running device. */
static void test_balloon_after_start(void)
{
	fresh();
	balloon_op = -1;
	balloon_fail = 0;
	boot_source();
	CHECK_EQ(PUT("/balloon", "{\"amount_mib\":0,\"deflate_on_oom\":false}"), 204);
	CHECK_EQ(PUT("/actions", "{\"action_type\":\"InstanceStart\"}"), 204);
	CHECK_FAULT(PUT("/balloon", "{\"amount_mib\":1,\"deflate_on_oom\":false}"), 400,
		    "not supported after starting");
	CHECK_FAULT(PATCH("/balloon", "{\"amount_mib\":129}"), 400, "too large");
	CHECK_EQ(balloon_op, -1);
	CHECK_EQ(PATCH("/balloon", "{\"amount_mib\":100}"), 204);
	CHECK_EQ(balloon_op, VMM_BALLOON_TARGET);
	CHECK_EQ(balloon_value, 100);
	CHECK_EQ(GET("/balloon"), 200);
	CHECK(strstr(last, "\"amount_mib\":100") != NULL);
	/* Statistics were not enabled at start: neither read nor turned on. */
	balloon_op = -1;
	CHECK_FAULT(GET("/balloon/statistics"), 400,
		    "Statistics for the balloon device are not enabled");
	CHECK_FAULT(PATCH("/balloon/statistics", "{\"stats_polling_interval_s\":5}"), 400,
		    "Cannot enable/disable the statistics after boot.");
	CHECK_EQ(PATCH("/balloon/statistics", "{\"stats_polling_interval_s\":0}"), 204);
	CHECK_EQ(balloon_op, -1);
	/* A device that refuses changes nothing. */
	balloon_fail = 1;
	CHECK_FAULT(PATCH("/balloon", "{\"amount_mib\":7}"), 400, "Device is inactive");
	CHECK_EQ(cfg()->vm.balloon.amount_mib, 100);
	balloon_fail = 0;

	fresh();
	balloon_op = -1;
	boot_source();
	CHECK_EQ(PUT("/balloon", "{\"amount_mib\":0,\"deflate_on_oom\":false,"
				 "\"stats_polling_interval_s\":2}"),
		 204);
	CHECK_EQ(PUT("/actions", "{\"action_type\":\"InstanceStart\"}"), 204);
	CHECK_EQ(GET("/balloon/statistics"), 200);
	CHECK_STR(last, "{\"target_pages\":42}");
	CHECK_EQ(balloon_op, VMM_BALLOON_STATS);
	CHECK_FAULT(PATCH("/balloon/statistics", "{\"stats_polling_interval_s\":0}"), 400,
		    "Cannot enable/disable");
	CHECK_FAULT(PATCH("/balloon/statistics", "{\"stats_polling_interval_s\":65536}"), 400,
		    "out of range");
	CHECK_EQ(PATCH("/balloon/statistics", "{\"stats_polling_interval_s\":9}"), 204);
	CHECK_EQ(balloon_op, VMM_BALLOON_INTERVAL);
	CHECK_EQ(balloon_value, 9);
	CHECK_EQ(cfg()->vm.balloon.stats_polling_interval_s, 9);
	CHECK_EQ(GET("/balloon"), 200);
	CHECK(strstr(last, "\"stats_polling_interval_s\":9") != NULL);
}

/* The config file's "balloon" section. */
static void test_balloon_config_file(void)
{
	fresh();
	char err[512], b[600];
	snprintf(b, sizeof(b),
		 "{\"boot-source\":{\"kernel_image_path\":\"%s\"},\"balloon\":{\"amount_mib\":"
		 "8,\"deflate_on_oom\":true,\"stats_polling_interval_s\":1}}",
		 kernel);
	CHECK_EQ(load_config(b, strlen(b), err, sizeof(err)), 0);
	CHECK(cfg()->vm.balloon.present);
	CHECK_EQ(cfg()->vm.balloon.amount_mib, 8);
	CHECK_EQ(cfg()->vm.balloon.stats_polling_interval_s, 1);
	fresh();
	snprintf(b, sizeof(b),
		 "{\"boot-source\":{\"kernel_image_path\":\"%s\"},\"balloon\":{\"amount_mib\":"
		 "4096,\"deflate_on_oom\":true}}",
		 kernel);
	CHECK_EQ(load_config(b, strlen(b), err, sizeof(err)), -1);
	CHECK(strstr(err, "too large") != NULL);
	CHECK(!cfg()->vm.balloon.present);
}

static void test_config_file_round_trip(void)
{
	fresh();
	char b[600];
	boot_source();
	CHECK_EQ(PUT("/machine-config", "{\"vcpu_count\":2,\"mem_size_mib\":300}"), 204);
	snprintf(b, sizeof(b),
		 "{\"drive_id\":\"d1\",\"path_on_host\":\"%s\",\"is_root_device\":true,"
		 "\"is_read_only\":true}",
		 disk);
	CHECK_EQ(PUT("/drives/d1", b), 204);
	CHECK_EQ(PUT("/network-interfaces/n1",
		     "{\"iface_id\":\"n1\",\"host_dev_name\":\"tap9\",\"guest_mac\":"
		     "\"02:00:00:00:00:09\"}"),
		 204);
	CHECK_EQ(PUT("/vsock", "{\"guest_cid\":7,\"uds_path\":\"/tmp/v.sock\"}"), 204);
	CHECK_EQ(PUT("/entropy", "{}"), 204);
	CHECK_EQ(GET("/vm/config"), 200);
	char exported[8192];
	snprintf(exported, sizeof(exported), "%s", last);

	fresh();
	char err[512] = "";
	CHECK_EQ(load_config(exported, strlen(exported), err, sizeof(err)), 0);
	CHECK_STR(err, "");
	CHECK_EQ(GET("/vm/config"), 200);
	CHECK_STR(last, exported);
	CHECK_EQ(cfg()->vm.vcpus, 2);
	CHECK(cfg()->vm.drives[0].read_only);
}

static void test_config_file_rejections(void)
{
	fresh();
	char err[512], b[600];
	const char *bad[][2] = {
	    {"[]", "expected an object"},
	    {"{\"boot-source\":{}}", "kernel_image_path"},
	    {"{\"machine-config\":{\"vcpu_count\":1,\"mem_size_mib\":64}}", "kernel_image_path"},
	    {"{\"bogus\":{}}", "unknown field `bogus`"},
	    {"{\"balloon\":{\"amount_mib\":1}}",
	     "balloon: missing required field 'deflate_on_oom'"},
	    {"{\"drives\":{}}", "drives"},
	    {"{\"drives\":[1]}", "drive"},
	    {"{", "invalid JSON"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		CHECK_EQ(load_config(bad[i][0], strlen(bad[i][0]), err, sizeof(err)), -1);
		if (!strstr(err, bad[i][1])) {
			char m[400];
			snprintf(m, sizeof(m), "config '%.80s': error '%.200s' lacks '%.60s'",
				 bad[i][0], err, bad[i][1]);
			check__fail(__FILE__, __LINE__, m);
		}
	}
	/* A failing file changes nothing. */
	snprintf(
	    b, sizeof(b),
	    "{\"boot-source\":{\"kernel_image_path\":\"%s\"},\"machine-config\":{\"vcpu_count\":"
	    "4,\"mem_size_mib\":64},\"vsock\":{\"guest_cid\":1,\"uds_path\":\"/x\"}}",
	    kernel);
	CHECK_EQ(load_config(b, strlen(b), err, sizeof(err)), -1);
	CHECK(strstr(err, "guest_cid") != NULL);
	CHECK_EQ(cfg()->vm.vcpus, 1);
	CHECK_EQ(cfg()->vm.kernel_path[0], '\0');
	CHECK_EQ(load_config_file("/nonexistent.json", err, sizeof(err)), -1);
	CHECK(strstr(err, "/nonexistent.json") != NULL);
}

/* A controller and API that check files without opening them (logger, metrics). */
static void fresh_dry(void)
{
	fresh();
	api__destroy(a);
	vmm__destroy(vmm);
	struct vmm_params p = {
	    .id = "test-vm", .version = "9.9.9", .dry_files = true, .machine = &machine};
	struct error e;
	vmm = vmm__create(&p, &e);
	a = api__create(vmm);
	if (!vmm || !a)
		abort();
}

/* Every field of every body: PUT -> GET /vm/config -> config file -> the same GET.
 * The list of fields comes from the tables, so a row GET forgets fails here. */
static void test_every_field_round_trips(void)
{
	fresh_dry();
	char b[1024];
	snprintf(b, sizeof(b),
		 "{\"kernel_image_path\":\"%s\",\"initrd_path\":\"%s\",\"boot_args\":\"x=1\"}",
		 kernel, initrd);
	CHECK_EQ(PUT("/boot-source", b), 204);
	CHECK_EQ(PUT("/machine-config",
		     "{\"vcpu_count\":2,\"mem_size_mib\":300,\"smt\":true,\"track_dirty_pages\":"
		     "true,\"cpu_template\":\"T2A\",\"huge_pages\":\"None\"}"),
		 204);
	snprintf(b, sizeof(b),
		 "{\"drive_id\":\"d1\",\"path_on_host\":\"%s\",\"is_root_device\":true,"
		 "\"is_read_only\":true,\"partuuid\":\"0eaa91a0-01\",\"cache_type\":\"Writeback\","
		 "\"io_engine\":\"Sync\"}",
		 disk);
	CHECK_EQ(PUT("/drives/d1", b), 204);
	CHECK_EQ(PUT("/network-interfaces/n1",
		     "{\"iface_id\":\"n1\",\"host_dev_name\":\"tap9\",\"guest_mac\":"
		     "\"02:00:00:00:00:09\"}"),
		 204);
	CHECK_EQ(PUT("/vsock", "{\"guest_cid\":7,\"uds_path\":\"/tmp/v.sock\",\"vsock_id\":\"v\"}"),
		 204);
	CHECK_EQ(PUT("/entropy", "{}"), 204);
	CHECK_EQ(PUT("/logger", "{\"level\":\"Debug\",\"log_path\":\"/tmp/l.log\","
				"\"show_level\":true,\"show_log_origin\":true,\"module\":\"m\"}"),
		 204);
	CHECK_EQ(PUT("/metrics", "{\"metrics_path\":\"/tmp/m.json\",\"emit_id\":true,"
				 "\"properties\":{\"k\":\"v\"}}"),
		 204);
	CHECK_EQ(PUT("/serial", "{\"serial_out_path\":\"/tmp/s.out\"}"), 204);
	CHECK_EQ(PUT("/balloon", "{\"amount_mib\":16,\"deflate_on_oom\":true,"
				 "\"stats_polling_interval_s\":5,\"free_page_reporting\":true}"),
		 204);
	CHECK_EQ(GET("/vm/config"), 200);
	char exported[8192];
	snprintf(exported, sizeof(exported), "%s", last);

	for (size_t i = 0; i < BODY_COUNT; i++) {
		const struct body *bd = &bodies[i];
		char key[80];
		snprintf(key, sizeof(key), "\"%s\":%s", bd->key, bd->array ? "[{" : "{");
		if (bd->hidden)
			continue;
		if (!strstr(exported, key)) {
			char m[200];
			snprintf(m, sizeof(m), "GET /vm/config lacks %s", key);
			check__fail(__FILE__, __LINE__, m);
		}
		for (size_t f = 0; f < bd->nr_fields; f++) {
			const struct field *fd = &bd->fields[f];
			if ((fd->flags & FIELD_HIDDEN) || fd->kind == FIELD_IGNORED ||
			    fd->kind == FIELD_UNSUPPORTED)
				continue;
			char name[80];
			snprintf(name, sizeof(name), "\"%s\":", fd->name);
			if (!strstr(exported, name)) {
				char m[200];
				snprintf(m, sizeof(m), "GET /vm/config lacks %s.%s", bd->key,
					 fd->name);
				check__fail(__FILE__, __LINE__, m);
			}
		}
	}

	/* The hidden body (serial) goes into a config file too. */
	char file[8400];
	snprintf(file, sizeof(file), "{\"serial\":{\"serial_out_path\":\"/tmp/s.out\"},%s",
		 exported + 1);
	fresh_dry();
	char err[512] = "";
	CHECK_EQ(load_config(file, strlen(file), err, sizeof(err)), 0);
	CHECK_STR(err, "");
	CHECK_EQ(GET("/vm/config"), 200);
	CHECK_STR(last, exported);
	CHECK_STR(cfg()->vm.serial_out_path, "/tmp/s.out");
	CHECK_EQ(cfg()->vm.serial_out, SERIAL_OUT_FILE);
	CHECK_EQ(cfg()->vm.track_dirty_pages, true);
	CHECK_EQ(cfg()->logger.level, LOG_DEBUG);
	fresh();
}

/* Firecracker's deprecated fields still work and mark the answer (Deprecation header);
 * a PATCH where Firecracker has only PUT is its generic 400. */
static void test_deprecation_and_firecracker_refusals(void)
{
	fresh();
	CHECK_EQ(PUT("/vsock", "{\"guest_cid\":3,\"uds_path\":\"/tmp/v.sock\",\"vsock_id\":\"v\"}"),
		 204);
	CHECK(last_deprecated);
	CHECK_EQ(PUT("/vsock", "{\"guest_cid\":3,\"uds_path\":\"/tmp/v.sock\"}"), 204);
	CHECK(!last_deprecated);
	CHECK_EQ(PUT("/machine-config",
		     "{\"vcpu_count\":1,\"mem_size_mib\":64,\"cpu_template\":\"None\"}"),
		 204);
	CHECK(last_deprecated);
	CHECK_EQ(PATCH("/machine-config", "{\"cpu_template\":\"None\"}"), 204);
	CHECK(last_deprecated);
	CHECK_EQ(PATCH("/machine-config", "{\"vcpu_count\":2}"), 204);
	CHECK(!last_deprecated);
	CHECK_FAULT(PATCH("/boot-source", "{\"kernel_image_path\":\"otherfile\"}"), 400,
		    "Invalid request method and/or path: PATCH boot-source.");
	CHECK_FAULT(PUT("/machine-config", "{\"vcpu_count\":1,\"mem_size_mib\":64,\"foo\":1}"), 400,
		    "unknown field `foo`, expected one of `vcpu_count`, `mem_size_mib`");
}

/* Kata attaches a rootfs and 8 spare drives; every free IRQ line may hold a virtio
 * device, and the next one is refused with the limit. */
static void test_many_drives(void)
{
	fresh();
	char b[600], p[32];
	CHECK_EQ(PUT("/entropy", "{}"), 204);
	for (int i = 0; i < 9; i++) {
		snprintf(p, sizeof(p), "/drives/d%d", i);
		snprintf(b, sizeof(b),
			 "{\"drive_id\":\"d%d\",\"path_on_host\":\"%s\",\"is_root_device\":%s,"
			 "\"is_read_only\":false,\"rate_limiter\":{}}",
			 i, disk, i == 0 ? "true" : "false");
		CHECK_EQ(PUT(p, b), 204);
	}
	for (int i = 9; i < CONFIG_MAX_VIRTIO - 1; i++) {
		snprintf(p, sizeof(p), "/drives/d%d", i);
		snprintf(b, sizeof(b),
			 "{\"drive_id\":\"d%d\",\"path_on_host\":\"%s\",\"is_root_device\":false}",
			 i, disk);
		CHECK_EQ(PUT(p, b), 204);
	}
	CHECK_EQ(cfg()->vm.nr_drives, CONFIG_MAX_VIRTIO - 1);
	snprintf(b, sizeof(b),
		 "{\"drive_id\":\"last\",\"path_on_host\":\"%s\",\"is_root_device\":false}", disk);
	CHECK_FAULT(PUT("/drives/last", b), 400, "a VM has 19 for virtio devices");
	CHECK_EQ(cfg()->vm.nr_drives, CONFIG_MAX_VIRTIO - 1);
}

/* GET /vm/config in Firecracker's FullVmConfiguration shape, and Firecracker's own
 * tests/framework/vm_config.json (with this test's files) as a config file. */
static void test_firecracker_vm_config_shape(void)
{
	fresh();
	char b[2048];
	CHECK_EQ(GET("/vm/config"), 200);
	CHECK(strstr(last, "\"balloon\":null") != NULL);
	CHECK(strstr(last, "\"cpu-config\":null,\"mmds-config\":null,\"pmem\":[],"
			   "\"memory-hotplug\":null") != NULL);
	snprintf(
	    b, sizeof(b),
	    "{\n  \"boot-source\": {\n    \"kernel_image_path\": \"%s\",\n"
	    "    \"boot_args\": \"console=ttyS0 reboot=k panic=1\",\n    \"initrd_path\": null\n  "
	    "},\n"
	    "  \"drives\": [\n    {\n      \"drive_id\": \"rootfs\",\n      \"partuuid\": null,\n"
	    "      \"is_root_device\": true,\n      \"cache_type\": \"Unsafe\",\n"
	    "      \"is_read_only\": false,\n      \"path_on_host\": \"%s\",\n"
	    "      \"io_engine\": \"Sync\",\n      \"rate_limiter\": null,\n      \"socket\": "
	    "null\n"
	    "    }\n  ],\n  \"machine-config\": {\n    \"vcpu_count\": 2,\n    \"mem_size_mib\": "
	    "1024,\n"
	    "    \"smt\": false,\n    \"track_dirty_pages\": false,\n    \"huge_pages\": "
	    "\"None\"\n  },\n"
	    "  \"cpu-config\": null,\n  \"balloon\": null,\n  \"network-interfaces\": [],\n"
	    "  \"vsock\": null,\n  \"logger\": null,\n  \"metrics\": null,\n  \"mmds-config\": "
	    "null,\n"
	    "  \"entropy\": null,\n  \"pmem\": [],\n  \"memory-hotplug\": null\n}\n",
	    kernel, disk);
	char err[512] = "";
	CHECK_EQ(load_config(b, strlen(b), err, sizeof(err)), 0);
	CHECK_STR(err, "");
	CHECK_EQ(cfg()->vm.vcpus, 2);
	CHECK_EQ(cfg()->vm.nr_drives, 1);
	CHECK_EQ(GET("/vm/config"), 200);
	CHECK(strstr(last, "\"initrd_path\":null") != NULL);
	CHECK(strstr(last, "\"partuuid\":null,\"cache_type\":\"Unsafe\",\"io_engine\":\"Sync\","
			   "\"rate_limiter\":null,\"socket\":null") != NULL);
	/* A pmem device or a balloon is still refused by name. */
	fresh();
	const char *pmem = "{\"pmem\":[{\"id\":\"p\",\"path_on_host\":\"/x\"}]}";
	CHECK_EQ(load_config(pmem, strlen(pmem), err, sizeof(err)), -1);
	CHECK(strstr(err, "pmem: not supported") != NULL);
	/* cache_type Writeback is kept and reported; io_engine Async is refused by name. */
	snprintf(b, sizeof(b),
		 "{\"drive_id\":\"d\",\"path_on_host\":\"%s\",\"is_root_device\":false,"
		 "\"cache_type\":\"Writeback\"}",
		 disk);
	CHECK_EQ(PUT("/drives/d", b), 204);
	CHECK_EQ(cfg()->vm.drives[0].cache_type, DRIVE_CACHE_WRITEBACK);
	GET("/vm/config");
	CHECK(strstr(last, "\"cache_type\":\"Writeback\"") != NULL);
	snprintf(b, sizeof(b),
		 "{\"drive_id\":\"d\",\"path_on_host\":\"%s\",\"is_root_device\":false,"
		 "\"io_engine\":\"Async\"}",
		 disk);
	CHECK_FAULT(PUT("/drives/d", b), 400, "io_engine: 'Async' is not one of Sync");
	GET("/vm/config");
	CHECK(strstr(last, "\"cache_type\":\"Writeback\"") != NULL);
}

/* Every metrics line carries Firecracker's top-level groups: what ember counts, and
 * zeros where nothing counted; a group written by the machine is not repeated. */
static void test_metrics_groups(void)
{
	fresh();
	char path[200], err[300];
	snprintf(path, sizeof(path), "%s/groups.json", tmpdir);
	unlink(path);
	CHECK_EQ(set_metrics(path, err, sizeof(err)), 0);
	CHECK_EQ(PUT("/vsock", "{\"guest_cid\":3,\"uds_path\":\"/tmp/v.sock\",\"vsock_id\":\"v\"}"),
		 204);
	boot_source();
	CHECK_EQ(start(err, sizeof(err)), 0);
	CHECK_EQ(PUT("/actions", "{\"action_type\":\"FlushMetrics\"}"), 204);
	static char line[16384];
	read_text(path, line, sizeof(line));
	static const char *const groups[] = {"api_server",
					     "block",
					     "net",
					     "vsock",
					     "entropy",
					     "vcpu",
					     "vmm",
					     "latencies_us",
					     "logger",
					     "seccomp",
					     "signals",
					     "uart",
					     "i8042",
					     "deprecated_api",
					     "get_api_requests",
					     "put_api_requests",
					     "patch_api_requests",
					     "mmds",
					     "balloon",
					     "interrupts"};
	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
		char key[64];
		snprintf(key, sizeof(key), "\"%s\":{", groups[i]);
		char *at = strstr(line, key);
		if (!at || strstr(at + 1, key)) {
			char m[128];
			snprintf(m, sizeof(m), "group %s %s", groups[i], at ? "twice" : "missing");
			check__fail(__FILE__, __LINE__, m);
		}
	}
	CHECK(strstr(line, "\"vcpu\":{\"exit_io_in\":7}") != NULL);
	CHECK(strstr(line, "\"deprecated_api\":{\"deprecated_http_api_calls\":1}") != NULL);
	CHECK(strstr(line, "\"seccomp\":{\"num_faults\":0}") != NULL);
	CHECK(strstr(line, "\"signals\":{\"sigbus\":0,") != NULL);
}

CHECK_MAIN("api", CHECK_CASE(test_metrics_groups), CHECK_CASE(test_firecracker_vm_config_shape),
	   CHECK_CASE(test_many_drives), CHECK_CASE(test_deprecation_and_firecracker_refusals),
	   CHECK_CASE(test_info_and_version), CHECK_CASE(test_unknown_paths_and_methods),
	   CHECK_CASE(test_unsupported_endpoints), CHECK_CASE(test_mmds),
	   CHECK_CASE(test_mmds_uninitialized_after_start), CHECK_CASE(test_mmds_config_file),
	   CHECK_CASE(test_bodies_must_be_json_objects), CHECK_CASE(test_machine_config),
	   CHECK_CASE(test_machine_config_rejections_change_nothing), CHECK_CASE(test_boot_source),
	   CHECK_CASE(test_drives), CHECK_CASE(test_network_interfaces),
	   CHECK_CASE(test_vsock_entropy_serial), CHECK_CASE(test_logger_and_metrics),
	   CHECK_CASE(test_metrics_properties_compacted),
	   CHECK_CASE(test_set_metrics_and_start_directly),
	   CHECK_CASE(test_log_escapes_control_bytes), CHECK_CASE(test_logger_off),
	   CHECK_CASE(test_actions_and_lifecycle), CHECK_CASE(test_patch_devices_after_boot),
	   CHECK_CASE(test_config_file_round_trip), CHECK_CASE(test_config_file_rejections),
	   CHECK_CASE(test_every_field_round_trips), CHECK_CASE(test_balloon_before_start),
	   CHECK_CASE(test_balloon_after_start), CHECK_CASE(test_balloon_config_file),
	   CHECK_CASE(test_rate_limiters))

/* Snapshot glue without KVM: the API bodies and their refusals, the controller's
 * state rules over a fake machine, the stored configuration and the load overrides,
 * the MSR filter, virtio transport state and vsock's transport reset, the legacy
 * devices' save/restore through a real vmstate, and snapshot__open's checks. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "api/snapshot_api.h"
#include "arch/x86_64/vcpu_state.h"
#include "devices/legacy.h"
#include "devices/serial.h"
#include "devices/table.h"
#include "snapshot.h"
#include "vcpu.h"
#include "virtio/virtio.h"
#include "vm.h"
#include "vmm.h"
#include "check.h"
#include "test_virtio_harness.h"

#define MIB (1ull << 20)

static char tmpdir[64];
static char last[8192];
static struct api *a;
static struct vmm *vmm;
static int snapshots, restores, resumes;
static struct vm_config restored;
static char saved_json[8192];
static struct snapshot_create_params saved_params;

static void cleanup(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd))
		fprintf(stderr, "cannot remove %s\n", tmpdir);
}

static void path(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", tmpdir, name);
}

/* --- a machine that records what the controller asks -------------------------------- */

static int fake_start(void *ctx, const struct vm_config *cfg, uint64_t t, struct error *e)
{
	return 0;
}
static int fake_pause(void *ctx, struct error *e)
{
	return 0;
}
static int fake_resume(void *ctx, struct error *e)
{
	resumes++;
	return 0;
}
static int fake_cad(void *ctx, struct error *e)
{
	return 0;
}
static void fake_stop(void *ctx)
{
}
static int fake_snapshot(void *ctx, const struct snapshot_create_params *p, const char *config_json,
			 const char *version, struct error *e)
{
	snapshots++;
	saved_params = *p;
	snprintf(saved_json, sizeof(saved_json), "%s", config_json);
	return 0;
}
static int fake_restore(void *ctx, const struct vm_config *cfg, struct snapshot_load *l,
			struct error *e)
{
	restores++;
	restored = *cfg;
	return 0;
}
static const struct vmm_machine machine = {
    .start = fake_start,
    .pause = fake_pause,
    .resume = fake_resume,
    .ctrl_alt_del = fake_cad,
    .stop = fake_stop,
    .snapshot = fake_snapshot,
    .restore = fake_restore,
};

static void fresh(void)
{
	if (!tmpdir[0]) {
		snprintf(tmpdir, sizeof(tmpdir), "/tmp/ember-test-snap.XXXXXX");
		if (!mkdtemp(tmpdir))
			abort();
		atexit(cleanup);
	}
	if (vmm) {
		api__destroy(a);
		vmm__destroy(vmm);
	}
	struct vmm_params p = {.id = "snap", .version = "1.2.3", .machine = &machine};
	struct error e;
	vmm = vmm__create(&p, &e);
	a = api__create(vmm);
	if (!vmm || !a)
		abort();
	snapshots = restores = resumes = 0;
	log__set_level(LOG_ERROR);
}

static int req(enum http_method m, const char *p, const char *body)
{
	struct api_response r;
	api__handle(a, m, p, body, body ? strlen(body) : 0, &r);
	snprintf(last, sizeof(last), "%s", r.body.buf ? r.body.buf : "");
	json_out__free(&r.body);
	return r.status;
}
#define GET(p)	    req(HTTP_GET, p, NULL)
#define PUT(p, b)   req(HTTP_PUT, p, b)
#define PATCH(p, b) req(HTTP_PATCH, p, b)
#define CHECK_FAULT(expr, want, needle)                                                            \
	do {                                                                                       \
		CHECK_EQ(expr, want);                                                              \
		if (!strstr(last, "fault_message") || !strstr(last, needle)) {                     \
			char m_[400];                                                              \
			snprintf(m_, sizeof(m_), "fault '%.250s' lacks '%.80s'", last, needle);    \
			check__fail(__FILE__, __LINE__, m_);                                       \
		}                                                                                  \
	} while (0)

/* Writes a vmstate for a 1-vCPU, 64 MiB VM (config from the API's own encoder) and a
 * memory file of mem_bytes. */
static void write_snapshot(const char *state, const char *memfile, uint64_t mem_bytes,
			   bool with_net, bool with_vsock)
{
	struct vmm_config c;
	memset(&c, 0, sizeof(c));
	config__init(&c.vm);
	c.vm.mem_mib = 64;
	snprintf(c.vm.kernel_path, sizeof(c.vm.kernel_path), "/gone/vmlinux");
	if (with_net) {
		c.vm.nr_nets = 1;
		snprintf(c.vm.nets[0].id, sizeof(c.vm.nets[0].id), "eth0");
		snprintf(c.vm.nets[0].host_dev_name, sizeof(c.vm.nets[0].host_dev_name), "tap0");
	}
	if (with_vsock) {
		c.vm.vsock.present = true;
		c.vm.vsock.guest_cid = 3;
		snprintf(c.vm.vsock.uds_path, sizeof(c.vm.vsock.uds_path), "/old/v.sock");
	}
	struct json_out o = {0};
	snapshot_api__config_json(&c, &o);
	json_out__raw(&o, "", 1);
	struct vmstate_writer w;
	struct error e;
	if (vmstate_writer__init(&w, "1.2.3", &e))
		abort();
	vmstate_writer__set_string(&w, "/config", "json", o.buf);
	struct vmstate_region r = {.guest_address = 0, .size = 64 * MIB, .file_offset = 0};
	vmstate_writer__add_region(&w, 0, &r);
	if (vmstate_writer__write_file(&w, state, &e))
		abort();
	vmstate_writer__free(&w);
	json_out__free(&o);
	int fd = open(memfile, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)mem_bytes))
		abort();
	close(fd);
}

static char body[8192];
static const char *load_body(const char *state, const char *mem, const char *extra)
{
	snprintf(body, sizeof(body),
		 "{\"snapshot_path\":\"%s\",\"mem_backend\":{\"backend_type\":\"File\","
		 "\"backend_path\":\"%s\"}%s}",
		 state, mem, extra);
	return body;
}

/* --- bodies --------------------------------------------------------------------------- */

static int decode_create(const char *json, struct snapshot_create_params *p, struct error *e)
{
	static struct json_tok toks[256];
	struct json_doc d;
	char why[200];
	if (json__parse(&d, json, strlen(json), toks, 256, why, sizeof(why)))
		abort();
	return snapshot_api__decode_create(&d, p, e);
}

static int decode_load(const char *json, struct snapshot_load_params *p, struct error *e)
{
	static struct json_tok toks[256];
	struct json_doc d;
	char why[200];
	if (json__parse(&d, json, strlen(json), toks, 256, why, sizeof(why)))
		abort();
	*e = (struct error){0};
	return snapshot_api__decode_load(&d, p, e);
}

static void create_body(void)
{
	struct snapshot_create_params p;
	struct error e = {0};
	CHECK_EQ(decode_create("{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\"}", &p, &e), 0);
	CHECK_EQ(p.type, SNAPSHOT_FULL);
	CHECK_STR(p.snapshot_path, "/s");
	CHECK_STR(p.mem_file_path, "/m");
	CHECK_EQ(decode_create("{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\","
			       "\"snapshot_type\":\"Diff\"}",
			       &p, &e),
		 0);
	CHECK_EQ(p.type, SNAPSHOT_DIFF);
	e = (struct error){0};
	CHECK_EQ(decode_create("{\"snapshot_path\":\"/s\"}", &p, &e), -1);
	CHECK(strstr(e.msg, "mem_file_path") != NULL);
	e = (struct error){0};
	CHECK_EQ(decode_create("{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\","
			       "\"snapshot_type\":\"Half\"}",
			       &p, &e),
		 -1);
	CHECK(strstr(e.msg, "snapshot_type") != NULL);
}

static void load_body_fields(void)
{
	static struct snapshot_load_params p;
	struct error e;
	int rc = decode_load("{\"snapshot_path\":\"/s\",\"mem_backend\":{\"backend_type\":\"File\","
			     "\"backend_path\":\"/m\"},\"track_dirty_pages\":true,\"resume_vm\":"
			     "true,\"clock_realtime\":true,\"network_overrides\":[{\"iface_id\":"
			     "\"eth0\",\"host_dev_name\":\"tap7\"}],\"vsock_override\":{\"uds_"
			     "path\":\"/new.sock\"},\"huge_pages\":\"None\"}",
			     &p, &e);
	CHECK_EQ(rc, 0);
	CHECK_STR(p.snapshot_path, "/s");
	CHECK_STR(p.mem_path, "/m");
	CHECK(p.track_dirty_pages && p.resume_vm && p.clock_realtime);
	CHECK_EQ(p.nr_nets, 1);
	CHECK_STR(p.nets[0].iface_id, "eth0");
	CHECK_STR(p.nets[0].host_dev_name, "tap7");
	CHECK(p.has_vsock_override);
	CHECK_STR(p.vsock_uds_path, "/new.sock");
	/* The deprecated spellings. */
	CHECK_EQ(decode_load("{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m2\","
			     "\"enable_diff_snapshots\":true}",
			     &p, &e),
		 0);
	CHECK_STR(p.mem_path, "/m2");
	CHECK(p.track_dirty_pages && !p.resume_vm);
	CHECK(!p.mem_uffd);
	/* The Uffd backend: backend_path is the page-fault handler's socket. */
	CHECK_EQ(decode_load("{\"snapshot_path\":\"/s\",\"mem_backend\":{\"backend_type\":"
			     "\"Uffd\",\"backend_path\":\"/run/pf.sock\"}}",
			     &p, &e),
		 0);
	CHECK(p.mem_uffd);
	CHECK_STR(p.mem_path, "/run/pf.sock");
}

static void load_body_refusals(void)
{
	static struct snapshot_load_params p;
	struct error e;
	static const struct {
		const char *json, *needle;
	} bad[] = {
	    {"{\"snapshot_path\":\"/s\"}", "exactly one"},
	    {"{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\",\"mem_backend\":{\"backend_type\":"
	     "\"File\",\"backend_path\":\"/m\"}}",
	     "exactly one"},
	    {"{\"mem_file_path\":\"/m\"}", "snapshot_path"},
	    /* A Uffd handler's socket path must fit a sockaddr_un. */
	    {"{\"snapshot_path\":\"/s\",\"mem_backend\":{\"backend_type\":\"Uffd\","
	     "\"backend_path\":\"/u/123456789012345678901234567890123456789012345678901234567"
	     "89012345678901234567890123456789012345678901234567890\"}}",
	     "Uffd"},
	    {"{\"snapshot_path\":\"/s\",\"mem_backend\":{\"backend_type\":\"Disk\","
	     "\"backend_path\":\"/u\"}}",
	     "backend_type"},
	    {"{\"snapshot_path\":\"/s\",\"mem_backend\":{\"backend_type\":\"File\"}}",
	     "backend_path"},
	    {"{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\",\"bogus\":1}", "bogus"},
	    {"{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\",\"resume_vm\":\"yes\"}",
	     "resume_vm"},
	    {"{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\",\"resume_vm\":true,"
	     "\"resume_vm\":false}",
	     "twice"},
	    {"{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\",\"huge_pages\":\"2M\"}",
	     "huge_pages"},
	    {"{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\",\"network_overrides\":{}}",
	     "network_overrides"},
	    {"{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\",\"network_overrides\":[{"
	     "\"iface_id\":\"eth0\"}]}",
	     "host_dev_name"},
	    {"{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\",\"vsock_override\":{}}",
	     "uds_path"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = decode_load(bad[i].json, &p, &e);
		CHECK_EQ(rc, -1);
		if (rc == -1 && !strstr(e.msg, bad[i].needle)) {
			char m[400];
			snprintf(m, sizeof(m), "case %zu: '%.200s' lacks '%s'", i, e.msg,
				 bad[i].needle);
			check__fail(__FILE__, __LINE__, m);
		}
	}
}

/* --- the controller's rules, through the API ---------------------------------------- */

static void create_needs_pause(void)
{
	fresh();
	const char *c = "{\"snapshot_path\":\"/tmp/x\",\"mem_file_path\":\"/tmp/y\"}";
	CHECK_FAULT(PUT("/snapshot/create", c), 400, "must be Paused");
	CHECK_EQ(PUT("/machine-config", "{\"vcpu_count\":2,\"mem_size_mib\":64}"), 204);
	CHECK_EQ(PUT("/boot-source", "{\"kernel_image_path\":\"/bin/sh\"}"), 204);
	CHECK_EQ(PUT("/logger", "{\"level\":\"Error\"}"), 204);
	CHECK_EQ(PUT("/actions", "{\"action_type\":\"InstanceStart\"}"), 204);
	CHECK_FAULT(PUT("/snapshot/create", c), 400, "must be Paused");
	CHECK_EQ(snapshots, 0);
	CHECK_EQ(PATCH("/vm", "{\"state\":\"Paused\"}"), 204);
	CHECK_EQ(PUT("/snapshot/create", c), 204);
	CHECK_EQ(snapshots, 1);
	CHECK_EQ(saved_params.type, SNAPSHOT_FULL);
	/* The stored configuration is the VM's, not the process's logger or metrics. */
	CHECK(strstr(saved_json, "\"vcpu_count\":2") != NULL);
	CHECK(strstr(saved_json, "\"boot-source\"") != NULL);
	CHECK(strstr(saved_json, "\"logger\"") == NULL);
	CHECK(strstr(saved_json, "\"metrics\"") == NULL);
	CHECK_EQ(GET("/"), 200);
	CHECK(strstr(last, "\"Paused\"") != NULL);
	CHECK_FAULT(GET("/snapshot/create"), 405, "not allowed");
	CHECK_FAULT(PUT("/snapshot/load", load_body("/s", "/m", "")), 400, "not allowed");
}

static void load_restores_config(void)
{
	fresh();
	char s[128], m[128];
	path(s, sizeof(s), "vmstate");
	path(m, sizeof(m), "mem");
	write_snapshot(s, m, 64 * MIB, true, true);
	/* Logger and metrics may come first. */
	char mp[128];
	path(mp, sizeof(mp), "metrics.json");
	char mb[256];
	snprintf(mb, sizeof(mb), "{\"metrics_path\":\"%s\"}", mp);
	CHECK_EQ(PUT("/metrics", mb), 204);
	CHECK_EQ(PUT("/snapshot/load",
		     load_body(s, m,
			       ",\"resume_vm\":true,\"track_dirty_pages\":true,"
			       "\"network_overrides\":[{\"iface_id\":\"eth0\",\"host_dev_name\":"
			       "\"tap9\"}],\"vsock_override\":{\"uds_path\":\"/new/v.sock\"}")),
		 204);
	CHECK_EQ(restores, 1);
	CHECK_EQ(resumes, 1);
	CHECK_EQ(restored.mem_mib, 64);
	CHECK(restored.track_dirty_pages);
	CHECK_STR(restored.nets[0].host_dev_name, "tap9");
	CHECK_STR(restored.vsock.uds_path, "/new/v.sock");
	CHECK_EQ(GET("/"), 200);
	CHECK(strstr(last, "\"Running\"") != NULL);
	CHECK_EQ(GET("/vm/config"), 200);
	CHECK(strstr(last, "\"mem_size_mib\":64") != NULL);
	CHECK(strstr(last, "tap9") != NULL);
	CHECK(strstr(last, "/gone/vmlinux") != NULL); /* recorded, though gone */
	CHECK(strstr(last, mp) != NULL);	      /* the metrics set before the load stay */
	/* A VM runs now: no second load, no configuration. */
	CHECK_FAULT(PUT("/snapshot/load", load_body(s, m, "")), 400, "not allowed");
	CHECK_EQ(PUT("/actions", "{\"action_type\":\"FlushMetrics\"}"), 204);
	char text[4096] = {0};
	int fd = open(mp, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, text, sizeof(text) - 1) : -1;
	if (fd >= 0)
		close(fd);
	CHECK(n > 0 && strstr(text, "\"latencies_us\":{\"full_create_snapshot\":0") != NULL);
	CHECK(strstr(text, "\"load_snapshot\":") != NULL);
	/* The load's steps beside it; this fake machine built no warm shell. */
	CHECK(strstr(text, "\"load_snapshot_open\":") != NULL);
	CHECK(strstr(text, "\"load_snapshot_set_vcpu_state\":") != NULL);
	CHECK(strstr(text, "\"load_snapshot_warm\":0") != NULL);

	/* Without resume_vm the VM stays paused. */
	fresh();
	CHECK_EQ(PUT("/snapshot/load", load_body(s, m, "")), 204);
	CHECK_EQ(resumes, 0);
	CHECK_EQ(GET("/"), 200);
	CHECK(strstr(last, "\"Paused\"") != NULL);
}

static void load_refusals_change_nothing(void)
{
	char s[128], m[128], shortm[128], damaged[128];
	path(s, sizeof(s), "vmstate2");
	path(m, sizeof(m), "mem2");
	path(shortm, sizeof(shortm), "mem2.short");
	path(damaged, sizeof(damaged), "vmstate2.bad");
	write_snapshot(s, m, 64 * MIB, true, false);
	int fd = open(shortm, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	if (fd < 0 || ftruncate(fd, 1 * MIB))
		abort();
	close(fd);
	char cmd[512];
	snprintf(cmd, sizeof(cmd),
		 "cp %s %s && printf X | dd of=%s bs=1 seek=100 conv=notrunc 2>/dev/null", s,
		 damaged, damaged);
	if (system(cmd))
		abort();

	fresh();
	CHECK_FAULT(PUT("/snapshot/load", load_body(damaged, m, "")), 400, "snapshot_path");
	CHECK_FAULT(PUT("/snapshot/load", load_body(s, shortm, "")), 400, "memory file");
	CHECK_FAULT(PUT("/snapshot/load", load_body("/nonexistent/vmstate", m, "")), 400,
		    "/nonexistent/vmstate");
	CHECK_FAULT(PUT("/snapshot/load", load_body(s, "/nonexistent/mem", "")), 400,
		    "/nonexistent/mem");
	CHECK_FAULT(PUT("/snapshot/load",
			load_body(s, m,
				  ",\"network_overrides\":[{\"iface_id\":\"eth5\",\"host_dev_"
				  "name\":\"tap9\"}]")),
		    400, "eth5");
	CHECK_FAULT(PUT("/snapshot/load", load_body(s, m,
						    ",\"vsock_override\":{\"uds_path\":"
						    "\"/x.sock\"}")),
		    400, "no vsock");
	CHECK_EQ(restores, 0);
	CHECK_EQ(GET("/"), 200);
	CHECK(strstr(last, "Not started") != NULL);
	CHECK_EQ(GET("/vm/config"), 200);
	CHECK(strstr(last, "eth0") == NULL);
	/* Then a good one still loads. */
	CHECK_EQ(PUT("/snapshot/load", load_body(s, m, "")), 204);
	CHECK_EQ(restores, 1);

	/* Where the console goes belongs to the process: it may be set before a load. */
	fresh();
	char so[128], sb[256];
	path(so, sizeof(so), "serial.out");
	snprintf(sb, sizeof(sb), "{\"serial_out_path\":\"%s\"}", so);
	CHECK_EQ(PUT("/serial", sb), 204);
	CHECK_EQ(PUT("/snapshot/load", load_body(s, m, "")), 204);
	CHECK_STR(restored.serial_out_path, so);

	/* After any boot-specific configuration, a load is refused. */
	fresh();
	CHECK_EQ(PUT("/machine-config", "{\"vcpu_count\":1,\"mem_size_mib\":64}"), 204);
	CHECK_FAULT(PUT("/snapshot/load", load_body(s, m, "")), 400,
		    "not allowed after configuring");
	CHECK_EQ(restores, 0);
}

/* --- vCPU MSRs ------------------------------------------------------------------------ */

static void msr_filter(void)
{
	const uint32_t offered[] = {0x1234, 0xc0000080, 0x10, 0x4b564d01, 0x6e0, 0xdeadbeef, 0x277};
	uint32_t out[8];
	unsigned n = vcpu_state__filter_msrs(offered, 7, out, 8);
	CHECK_EQ(n, 5);
	bool junk = false, tsc = false, efer = false, kvmclock = false;
	for (unsigned i = 0; i < n; i++) {
		junk |= out[i] == 0x1234 || out[i] == 0xdeadbeef;
		tsc |= out[i] == 0x10;
		efer |= out[i] == 0xc0000080;
		kvmclock |= out[i] == 0x4b564d01;
	}
	CHECK(!junk && tsc && efer && kvmclock);
	CHECK_EQ(vcpu_state__filter_msrs(offered, 7, out, 2), 2);
	CHECK_EQ(vcpu_state__filter_msrs(offered, 0, out, 8), 0);
}

/* --- virtio transport state ----------------------------------------------------------- */

static struct guest_mem gmem;

static void one_request(struct virtio_dev *d, struct gq *q, uint16_t head)
{
	gq_desc(q, head, 0x200000 + head * 0x1000ull, 64, VIRTQ_DESC_F_WRITE, 0);
	gq_publish(q, head);
	virtio_dev__kick(d, 0);
}

static void virtio_state_round_trip(void)
{
	if (!gmem.base && guest_mem__init(&gmem, 16 * MIB))
		abort();
	char err[256];
	struct virtio_dev *d = rng__create(&gmem, NULL, err, sizeof(err));
	struct gq q;
	gq_init(&q, &gmem, 0x10000, 8);
	CHECK(driver_init(d, ~0ull, &q, 1) & VIRTIO_STATUS_DRIVER_OK);
	one_request(d, &q, 0);
	uint32_t id = 99, len = 99;
	CHECK_EQ(gq_take_used(&q, &id, &len), 0);
	struct virtio_state st;
	virtio_dev__save_state(d, &st);
	CHECK_EQ(st.device_id, VIRTIO_ID_RNG);
	CHECK(st.status & VIRTIO_STATUS_DRIVER_OK);
	CHECK(st.queues[0].ready);
	CHECK_EQ(st.queues[0].last_avail, 1);
	CHECK_EQ(st.queues[0].used_idx, 1);
	CHECK_EQ(st.queues[0].desc, q.l.desc);

	/* A new device from the same configuration continues the ring. */
	struct virtio_dev *d2 = rng__create(&gmem, NULL, err, sizeof(err));
	CHECK_EQ(virtio_dev__load_state(d2, &st, err, sizeof(err)), 0);
	CHECK_EQ(d2->status, st.status);
	CHECK_EQ(d2->driver_features, st.driver_features);
	CHECK(d2->vq[0].ready);
	CHECK_EQ(d2->vq[0].last_avail, 1);
	one_request(d2, &q, 1);
	CHECK_EQ(gq_take_used(&q, &id, &len), 0);
	CHECK_EQ(id, 1);
	CHECK_EQ(len, 64);
	CHECK_EQ(gq_used_idx(&q), 2);

	/* What the device never offered, another type, a ring outside memory: refused. */
	struct virtio_dev *d3 = rng__create(&gmem, NULL, err, sizeof(err));
	struct virtio_state bad = st;
	bad.driver_features |= 1ull << 60;
	CHECK_EQ(virtio_dev__load_state(d3, &bad, err, sizeof(err)), -1);
	CHECK(strstr(err, "not offered") != NULL);
	bad = st;
	bad.device_id = VIRTIO_ID_BLOCK;
	CHECK_EQ(virtio_dev__load_state(d3, &bad, err, sizeof(err)), -1);
	CHECK(strstr(err, "device type") != NULL);
	bad = st;
	bad.queues[0].desc = 64 * MIB;
	CHECK_EQ(virtio_dev__load_state(d3, &bad, err, sizeof(err)), -1);
	CHECK(strstr(err, "queue 0") != NULL);
	virtio_dev__destroy(d);
	virtio_dev__destroy(d2);
	virtio_dev__destroy(d3);

	/* A queue's rate limiter carries over: its spent one-time burst stays spent. */
	struct rate_limiter_config rl = {
	    .ops = {.size = 2, .one_time_burst = 1, .refill_time = 1000000}};
	d = rng__create_limited(&rl, &gmem, NULL, err, sizeof(err));
	gq_init(&q, &gmem, 0x10000, 8);
	CHECK(driver_init(d, ~0ull, &q, 1) & VIRTIO_STATUS_DRIVER_OK);
	one_request(d, &q, 0);
	CHECK_EQ(gq_take_used(&q, &id, &len), 0);
	virtio_dev__save_state(d, &st);
	CHECK(st.queues[0].limited);
	CHECK_EQ(st.queues[0].limit.ops.burst, 0);
	CHECK_EQ(st.queues[0].limit.ops.budget, 2);
	d2 = rng__create_limited(&rl, &gmem, NULL, err, sizeof(err));
	CHECK_EQ(d2->throttle[0]->rl.ops.burst, 1);
	bad = st;
	bad.queues[0].limit.ops.budget = 3; /* above its size */
	CHECK_EQ(virtio_dev__load_state(d2, &bad, err, sizeof(err)), -1);
	CHECK(strstr(err, "rate limiter") != NULL);
	CHECK_EQ(d2->throttle[0]->rl.ops.burst, 1);
	CHECK_EQ(virtio_dev__load_state(d2, &st, err, sizeof(err)), 0);
	CHECK_EQ(d2->throttle[0]->rl.ops.burst, 0);
	CHECK_EQ(d2->throttle[0]->rl.ops.budget, 2);
	/* Saved with a limiter, loaded where the queue has none: refused. */
	d3 = rng__create(&gmem, NULL, err, sizeof(err));
	virtio_dev__unlimit(d3);
	CHECK_EQ(virtio_dev__load_state(d3, &st, err, sizeof(err)), -1);
	CHECK(strstr(err, "has none") != NULL);
	virtio_dev__destroy(d);
	virtio_dev__destroy(d2);
	virtio_dev__destroy(d3);
}

/* Pages ember writes (buffers it fills, the used ring) are what KVM's dirty log misses:
 * a Diff snapshot takes them from guest_mem's own bitmap. */
static void device_writes_are_dirty(void)
{
	struct guest_mem m;
	if (guest_mem__init(&m, 16 * MIB) || guest_mem__track_dirty(&m))
		abort();
	char err[256];
	struct virtio_dev *d = rng__create(&m, NULL, err, sizeof(err));
	struct gq q;
	gq_init(&q, &m, 0x10000, 8);
	CHECK(driver_init(d, ~0ull, &q, 1) & VIRTIO_STATUS_DRIVER_OK);
	uint64_t bits[(16 * MIB / 4096) / 64];
	memset(bits, 0, sizeof(bits));
	guest_mem__take_dirty(&m, 0, 16 * MIB / 4096, bits); /* forget the set-up */
	memset(bits, 0, sizeof(bits));
	gq_desc(&q, 0, 0x200000, 64, VIRTQ_DESC_F_WRITE, 0);
	gq_publish(&q, 0);
	virtio_dev__kick(d, 0);
	guest_mem__take_dirty(&m, 0, 16 * MIB / 4096, bits);
#define DIRTY(gpa) ((bits[(gpa) / 4096 / 64] >> ((gpa) / 4096 % 64)) & 1)
	CHECK(DIRTY(0x200000ull));  /* the buffer the device filled */
	CHECK(DIRTY(q.l.used));	    /* the used ring */
	CHECK(!DIRTY(0x400000ull)); /* nothing else */
	CHECK(!DIRTY(q.l.desc) || q.l.desc / 4096 == q.l.used / 4096);
	/* Taken means cleared. */
	memset(bits, 0, sizeof(bits));
	guest_mem__take_dirty(&m, 0, 16 * MIB / 4096, bits);
	CHECK(!DIRTY(0x200000ull));
#undef DIRTY
	virtio_dev__destroy(d);
	guest_mem__destroy(&m);
}

static void vsock_reset_event(void)
{
	if (!gmem.base && guest_mem__init(&gmem, 16 * MIB))
		abort();
	struct event_loop *loop = event__create();
	struct vsock_config vc = {.present = true, .guest_cid = 3};
	path(vc.uds_path, sizeof(vc.uds_path), "v.sock");
	char err[256];
	struct virtio_dev *d = vsock__create(&vc, &gmem, loop, err, sizeof(err));
	CHECK(d != NULL);
	if (!d)
		return;
	struct gq qs[3];
	for (unsigned i = 0; i < 3; i++)
		gq_init(&qs[i], &gmem, 0x10000 + i * 0x4000ull, 8);
	CHECK(driver_init(d, ~0ull, qs, 3) & VIRTIO_STATUS_DRIVER_OK);
	/* No event buffer: the reset cannot be delivered, and says so. */
	CHECK_EQ(vsock__transport_reset(d), -1);
	uint8_t *ev = gp(&gmem, 0x300000, 8);
	memset(ev, 0xee, 8);
	gq_desc(&qs[2], 0, 0x300000, 8, VIRTQ_DESC_F_WRITE, 0);
	gq_publish(&qs[2], 0);
	CHECK_EQ(vsock__transport_reset(d), 0);
	uint32_t id = 99, len = 99;
	CHECK_EQ(gq_take_used(&qs[2], &id, &len), 0);
	CHECK_EQ(id, 0);
	CHECK_EQ(len, 4);
	uint32_t evid;
	memcpy(&evid, ev, 4);
	CHECK_EQ(evid, 0); /* VIRTIO_VSOCK_EVENT_TRANSPORT_RESET */
	virtio_dev__destroy(d);
	event__destroy(loop);
}

/* --- legacy devices through a real vmstate -------------------------------------------- */

static void legacy_devices_round_trip(void)
{
	struct event_loop *loop = event__create();
	struct vm vm = {0}, vm2 = {0}; /* zeroed, as vm__init wants it */
	struct vm_config cfg;
	config__init(&cfg);
	cfg.mem_mib = 16;
	cfg.serial_out = SERIAL_OUT_NONE;
	/* 20 bytes per 100 s: spent below, and not back by the time it is restored. */
	cfg.serial_rate_limiter = (struct token_bucket_config){.size = 20, .refill_time = 100000};
	struct error e = {0};
	if (vm__init(&vm, &cfg, loop, 0, NULL, &e) || vm__init(&vm2, &cfg, loop, 0, NULL, &e))
		abort();
	const struct device_ops *rows[] = {&serial_device, &i8042_device, &boot_timer_device};
	for (unsigned i = 0; i < 3; i++) {
		CHECK_EQ(rows[i]->setup(&vm, &cfg, &e), 0);
		CHECK_EQ(rows[i]->setup(&vm2, &cfg, &e), 0);
	}
	/* The guest programs the UART and leaves input unread; a key waits in the i8042. */
	struct serial *s = vm.devices[0].dev;
	uint8_t v = 0x83; /* DLAB */
	serial__io(s, 3, &v, true);
	v = 0x01;
	serial__io(s, 0, &v, true); /* divisor low = 1: 115200 baud */
	v = 0x03;
	serial__io(s, 3, &v, true);
	v = 0x5a;
	serial__io(s, 7, &v, true); /* scratch */
	serial__rx(s, (const uint8_t *)"abc", 3);
	for (v = 'a'; v < 'a' + 19; v++)
		serial__io(s, 0, &v, true); /* 19 of the 20 bytes */
	CHECK_EQ(s->dropped_bytes, 0);
	CHECK_EQ(i8042__send_ctrl_alt_del(i8042__of(&vm)), 0);
	vm.boot_time_us = 1234;

	struct vmstate_writer w;
	if (vmstate_writer__init(&w, "t", &e))
		abort();
	for (unsigned i = 0; i < 3; i++) {
		struct snapshot_out o = {.w = &w};
		snprintf(o.node, sizeof(o.node), "/devices/dev@%u", i);
		CHECK_EQ(vm.devices[i].ops->save(vm.devices[i].dev, &o, &e), 0);
	}
	uint8_t *buf;
	size_t len;
	CHECK_EQ(vmstate_writer__finish(&w, &buf, &len, &e), 0);
	vmstate_writer__free(&w);
	struct vmstate vs;
	CHECK_EQ(vmstate__parse(&vs, buf, len, &e), 0);
	free(buf);
	for (unsigned i = 0; i < 3; i++) {
		struct snapshot_in in = {.vs = &vs};
		snprintf(in.node, sizeof(in.node), "/devices/dev@%u", i);
		CHECK_EQ(vm2.devices[i].ops->restore(vm2.devices[i].dev, &in, &e), 0);
	}
	struct serial *s2 = vm2.devices[0].dev;
	CHECK_EQ(s2->dll, 1);
	CHECK_EQ(s2->lcr, 3);
	CHECK_EQ(s2->scr, 0x5a);
	uint8_t c = 0;
	serial__io(s2, 0, &c, false);
	CHECK_EQ(c, 'a');
	serial__io(s2, 0, &c, false);
	CHECK_EQ(c, 'b');
	struct i8042 *k = i8042__of(&vm2);
	CHECK_EQ(k->out_len, i8042__of(&vm)->out_len);
	CHECK(k->out_len > 0);
	CHECK_EQ(vm2.boot_time_us, 1234);
	/* The output limiter goes on with the byte it had left, not a full bucket. */
	v = 'x';
	serial__io(s2, 0, &v, true);
	CHECK_EQ(s2->dropped_bytes, 0);
	serial__io(s2, 0, &v, true);
	CHECK_EQ(s2->dropped_bytes, 1);
	/* A restore hook given a node that lacks its properties refuses, naming them. */
	struct snapshot_in none = {.vs = &vs, .node = "/devices/dev@9"};
	e = (struct error){0};
	CHECK_EQ(serial_device.restore(vm2.devices[0].dev, &none, &e), -1);
	CHECK(strstr(e.msg, "registers") != NULL || strstr(e.msg, "dev@9") != NULL);
	vmstate__close(&vs);
	vm__destroy(&vm);
	vm__destroy(&vm2);
	event__destroy(loop);
}

/* snapshot__open and the checks snapshot__restore makes before it touches KVM: each
 * kind of mismatch is refused with its own message. */
static int try_restore(const char *state, const char *mem, unsigned vcpus, uint64_t mib,
		       struct error *e)
{
	static struct snapshot_load_params p;
	memset(&p, 0, sizeof(p));
	snprintf(p.snapshot_path, sizeof(p.snapshot_path), "%s", state);
	snprintf(p.mem_path, sizeof(p.mem_path), "%s", mem);
	struct snapshot_load l;
	*e = (struct error){0};
	if (snapshot__open(&l, &p, e))
		return -1;
	struct vm_config cfg;
	config__init(&cfg);
	cfg.vcpus = vcpus;
	cfg.mem_mib = mib;
	struct vm vm = {0}; /* zeroed, as vm__init wants it */
	struct event_loop *loop = event__create();
	int rc = snapshot__restore(&vm, &cfg, &l, loop, 0, false, e);
	vcpu__destroy_all(&vm);
	vm__destroy(&vm);
	event__destroy(loop);
	snapshot__close(&l);
	return rc;
}

static void write_state(const char *state, const char *vendor, bool with_vm, unsigned vcpus)
{
	struct vmstate_writer w;
	struct error e;
	if (vmstate_writer__init(&w, "1.2.3", &e))
		abort();
	if (vendor)
		vmstate_writer__set_string(&w, "/", VMSTATE_PROP_VENDOR, vendor);
	vmstate_writer__set_string(&w, "/config", "json", "{}");
	struct vmstate_region r = {.guest_address = 0, .size = 64 * MIB, .file_offset = 0};
	vmstate_writer__add_region(&w, 0, &r);
	if (with_vm) {
		struct vm_state vs;
		memset(&vs, 0, sizeof(vs));
		vmstate_writer__set_blob(&w, "/vm", "irqchip-pic-master", &vs.irqchip[0],
					 sizeof(vs.irqchip[0]));
		vmstate_writer__set_blob(&w, "/vm", "irqchip-pic-slave", &vs.irqchip[1],
					 sizeof(vs.irqchip[1]));
		vmstate_writer__set_blob(&w, "/vm", "irqchip-ioapic", &vs.irqchip[2],
					 sizeof(vs.irqchip[2]));
		vmstate_writer__set_blob(&w, "/vm", "clock", &vs.clock, sizeof(vs.clock));
		vmstate_writer__set_u64(&w, "/vm", "clock-realtime-ns", 1);
		vmstate_writer__set_u32(&w, "/vm", "vcpu-count", vcpus);
	}
	if (vmstate_writer__write_file(&w, state, &e))
		abort();
	vmstate_writer__free(&w);
}

static void restore_checks(void)
{
	fresh();
	char s[128], m[128];
	path(s, sizeof(s), "vmstate3");
	path(m, sizeof(m), "mem3");
	write_snapshot(s, m, 64 * MIB, false, false); /* for the memory file */
	struct error e;
	write_state(s, "OtherVendorX", true, 1);
	CHECK_EQ(try_restore(s, m, 1, 64, &e), -1);
	CHECK(strstr(e.msg, "OtherVendorX") != NULL);
	write_state(s, NULL, false, 1);
	CHECK_EQ(try_restore(s, m, 1, 64, &e), -1);
	CHECK(strstr(e.msg, "/vm") != NULL);
	write_state(s, NULL, true, 2);
	CHECK_EQ(try_restore(s, m, 1, 64, &e), -1);
	CHECK(strstr(e.msg, "2 vCPUs saved") != NULL);
	write_state(s, NULL, true, 1);
	CHECK_EQ(try_restore(s, m, 1, 32, &e), -1);
	CHECK(strstr(e.msg, "memory region 0") != NULL);
	/* Everything else right: the missing vCPU node is named. */
	CHECK_EQ(try_restore(s, m, 1, 64, &e), -1);
	CHECK(strstr(e.msg, "vcpu@0") != NULL);
}

/* Every device row can be saved and restored, or a snapshot would be refused. */
static void every_row_has_hooks(void)
{
	for (size_t i = 0; i < device_table_len; i++) {
		CHECK(device_table[i]->save != NULL);
		CHECK(device_table[i]->restore != NULL);
	}
}

CHECK_MAIN("snapshot", CHECK_CASE(create_body), CHECK_CASE(load_body_fields),
	   CHECK_CASE(load_body_refusals), CHECK_CASE(create_needs_pause),
	   CHECK_CASE(load_restores_config), CHECK_CASE(load_refusals_change_nothing),
	   CHECK_CASE(msr_filter), CHECK_CASE(virtio_state_round_trip),
	   CHECK_CASE(device_writes_are_dirty), CHECK_CASE(vsock_reset_event),
	   CHECK_CASE(legacy_devices_round_trip), CHECK_CASE(restore_checks),
	   CHECK_CASE(every_row_has_hooks))

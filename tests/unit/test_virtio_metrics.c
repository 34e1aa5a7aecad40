/* The virtio devices' counters in the metrics file: Firecracker's groups and names,
 * values that follow what the guest did, and valid JSON. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "api/json.h"
#include "check.h"
#include "test_virtio_harness.h"
#include "virtio/virtio.h"
#include "vm.h"

#define MIB    (1ull << 20)
#define QB     0x10000ull
#define HDR    0x200000ull
#define DATA   0x300000ull
#define STATUS 0x400000ull
#define DISK   (64 * 1024)

static struct guest_mem mem;
static char err[256];

static struct virtio_dev *must(struct virtio_dev *d)
{
	if (!d) {
		fprintf(stderr, "test bug: %s\n", err);
		abort();
	}
	return d;
}

static struct virtio_dev *disk(const char *id, char *path)
{
	snprintf(path, 64, "/tmp/ember-metrics-XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0 || ftruncate(fd, DISK))
		abort();
	close(fd);
	struct drive_config dc = {0};
	snprintf(dc.id, sizeof(dc.id), "%s", id);
	snprintf(dc.path, sizeof(dc.path), "%s", path);
	return must(blk__create(&dc, &mem, NULL, err, sizeof(err)));
}

/* One request on queue q of a block device: header, data, status. */
static void blk_req(struct virtio_dev *d, struct gq *q, uint32_t type, uint32_t len, bool in)
{
	uint8_t *h = gp(&mem, HDR, 16);
	uint32_t t[2] = {type, 0};
	uint64_t sector = 0;
	memcpy(h, t, 8);
	memcpy(h + 8, &sector, 8);
	uint16_t n = 0;
	gq_desc(q, n, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
	n++;
	if (len) {
		gq_desc(q, n, DATA, len, VIRTQ_DESC_F_NEXT | (in ? VIRTQ_DESC_F_WRITE : 0), 2);
		n++;
	}
	gq_desc(q, n, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
	gq_publish(q, 0);
	virtio_dev__kick(d, 0);
	uint32_t id, used;
	CHECK_EQ(gq_take_used(q, &id, &used), 0);
	CHECK_EQ(*(uint8_t *)gp(&mem, STATUS, 1), 0);
}

static void add(struct vm *vm, struct virtio_dev *d)
{
	if (vm__add_device(vm, &virtio_device_ops, d))
		abort();
}

static void groups_and_counters(void)
{
	if (guest_mem__init(&mem, 16 * MIB))
		abort();
	struct vm vm;
	memset(&vm, 0, sizeof(vm));
	struct event_loop *loop = event__create();
	struct gq q;

	/* Entropy: one request of 64 bytes. */
	struct virtio_dev *rng = must(rng__create(&mem, NULL, err, sizeof(err)));
	add(&vm, rng);
	gq_init(&q, &mem, QB, 8);
	driver_init(rng, ~0ull, &q, 1);
	gq_desc(&q, 0, DATA, 64, VIRTQ_DESC_F_WRITE, 0);
	gq_publish(&q, 0);
	virtio_dev__kick(rng, 0);

	/* Two drives: the per-drive groups and their sum. */
	char p1[64], p2[64];
	struct virtio_dev *root = disk("rootfs", p1), *data = disk("data", p2);
	add(&vm, root);
	add(&vm, data);
	gq_init(&q, &mem, QB, 8);
	driver_init(root, ~0ull, &q, 1);
	blk_req(root, &q, 1 /* OUT */, 512, false);
	blk_req(root, &q, 0 /* IN */, 1024, true);
	blk_req(root, &q, 4 /* FLUSH */, 0, false);
	gq_init(&q, &mem, QB, 8);
	driver_init(data, ~0ull, &q, 1);
	blk_req(data, &q, 0 /* IN */, 512, true);

	/* Net: one frame sent. */
	int sp[2];
	CHECK_EQ(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp), 0);
	struct net_config nc = {.id = "eth0"};
	struct virtio_dev *net = must(net__create(&nc, sp[0], &mem, NULL, err, sizeof(err)));
	add(&vm, net);
	struct gq nq[2];
	gq_init(&nq[0], &mem, QB, 8);
	gq_init(&nq[1], &mem, QB + 0x1000, 8);
	driver_init(net, ~0ull, nq, 2);
	memset(gp(&mem, DATA, 72), 0, 72);
	gq_desc(&nq[1], 0, DATA, 72, 0, 0);
	gq_publish(&nq[1], 0);
	virtio_dev__kick(net, 1);

	/* Vsock: no traffic, its group is still there. */
	char dir[64], uds[96];
	snprintf(dir, sizeof(dir), "/tmp/ember-metrics-XXXXXX");
	CHECK(mkdtemp(dir) != NULL);
	snprintf(uds, sizeof(uds), "%s/v.sock", dir);
	struct vsock_config vc = {.present = true, .guest_cid = 3};
	snprintf(vc.uds_path, sizeof(vc.uds_path), "%s", uds);
	add(&vm, must(vsock__create(&vc, &mem, loop, err, sizeof(err))));

	struct json_out o = {0};
	json_out__raw(&o, "{\"utc_timestamp_ms\":1", 21);
	virtio__write_metrics(&vm, &o);
	json_out__raw(&o, "}", 1);
	CHECK(!o.oom);
	char *text = strndup(o.buf, o.len);
	CHECK(strstr(text, ",\"entropy\":{\"entropy_event_count\":1,\"entropy_bytes\":64,"
			   "\"host_rng_fails\":0,") != NULL);
	CHECK(strstr(text, ",\"block_rootfs\":{\"write_bytes\":512,\"read_bytes\":1024,"
			   "\"execute_fails\":0,\"queue_event_count\":3,\"read_count\":1,"
			   "\"write_count\":1,\"flush_count\":1,\"interrupts\":") != NULL);
	CHECK(strstr(text, ",\"block_data\":{\"write_bytes\":0,\"read_bytes\":512,") != NULL);
	CHECK(strstr(text, ",\"block\":{\"write_bytes\":512,\"read_bytes\":1536,"
			   "\"execute_fails\":0,\"queue_event_count\":4,\"read_count\":2,"
			   "\"write_count\":1,\"flush_count\":1,") != NULL);
	CHECK(strstr(text, ",\"net_eth0\":{\"tx_bytes_count\":60,\"rx_bytes_count\":0,") != NULL);
	CHECK(strstr(text, "\"tx_queue_event_count\":1,\"rx_packets_count\":0,"
			   "\"tx_packets_count\":1,\"rx_tap_event_count\":0,") != NULL);
	CHECK(strstr(text, ",\"net\":{\"tx_bytes_count\":60,") != NULL);
	CHECK(strstr(text, ",\"vsock\":{\"tx_bytes_count\":0,\"rx_bytes_count\":0,") != NULL);
	CHECK(strstr(text, "\"conns_added\":0,\"conns_killed\":0,\"interrupts\":0,"
			   "\"ring_errors\":0}") != NULL);
	/* Each group once. */
	CHECK(strstr(strstr(text, "\"entropy\"") + 1, "\"entropy\"") == NULL);
	struct json_tok toks[512];
	struct json_doc doc;
	char why[128] = "";
	CHECK_EQ(json__parse(&doc, o.buf, o.len, toks, 512, why, sizeof(why)), 0);
	CHECK_STR(why, "");
	/* The same through the per-device entry point. */
	struct json_out one = {0};
	virtio__device_metrics(rng, &one);
	CHECK(one.len > 0 && !strncmp(one.buf, ",\"entropy\":{\"entropy_event_count\":1,", 36));
	json_out__free(&one);
	free(text);
	json_out__free(&o);

	for (unsigned i = vm.nr_devices; i-- > 0;)
		vm.devices[i].ops->destroy(vm.devices[i].dev);
	close(sp[1]);
	unlink(p1);
	unlink(p2);
	rmdir(dir);
	event__destroy(loop);
	guest_mem__destroy(&mem);
}

CHECK_MAIN("virtio-metrics", CHECK_CASE(groups_and_counters))

/* The snapshot vmstate container: round trip of every property type through a file, and
 * every kind of damage refused with its own message. */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libfdt.h>

#include "check.h"
#include "snapshot/vmstate.h"

static struct error e;
static char dir[64];

static const char *tmp_path(const char *name)
{
	static char p[128];
	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "/tmp/ember-vmstate-XXXXXX");
		if (!mkdtemp(dir))
			abort();
	}
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return p;
}

static uint8_t regs[144], xsave[4096], cpuid[960];

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 31 + seed);
}

static const struct vmstate_region sample_regions[] = {
    {0, 0x100000, 0},
    {0x100000000ull, 0x200000, 0x100000},
};

/* What the snapshot code will store, with one of each kind of value. */
static void build_sample(struct vmstate_writer *w)
{
	CHECK_EQ(vmstate_writer__init(w, "1.2.3", &e), 0);
	fill(regs, sizeof(regs), 1);
	fill(xsave, sizeof(xsave), 2);
	fill(cpuid, sizeof(cpuid), 3);
	CHECK_EQ(vmstate_writer__set_blob(w, "/", VMSTATE_PROP_CPUID, cpuid, sizeof(cpuid)), 0);
	CHECK_EQ(vmstate_writer__set_u32(w, "/vcpus", "#address-cells", 1), 0);
	CHECK_EQ(vmstate_writer__set_u32(w, "/vcpus", "#size-cells", 0), 0);
	CHECK_EQ(vmstate_writer__set_blob(w, "/vcpus/vcpu@0", "regs", regs, sizeof(regs)), 0);
	CHECK_EQ(vmstate_writer__set_blob(w, "/vcpus/vcpu@0", "xsave", xsave, sizeof(xsave)), 0);
	CHECK_EQ(vmstate_writer__set_u32(w, "/vcpus/vcpu@0", "mp-state", 3), 0);
	CHECK_EQ(vmstate_writer__set_u32(w, "/vcpus/vcpu@0", "reg", 0), 0);
	CHECK_EQ(vmstate_writer__set_blob(w, "/vcpus/vcpu@1", "regs", regs + 1, sizeof(regs) - 1),
		 0);
	CHECK_EQ(vmstate_writer__set_u32(w, "/vcpus/vcpu@1", "reg", 1), 0);
	CHECK_EQ(vmstate_writer__set_blob(w, "/irqchip", "pic-master", regs, 40), 0);
	CHECK_EQ(vmstate_writer__set_u64(w, "/clock", "clock", 0x8000000100000002ull), 0);
	CHECK_EQ(vmstate_writer__set_u32(w, "/devices/virtio-blk-rootfs", "virtio-status", 0xf), 0);
	CHECK_EQ(vmstate_writer__set_u64(w, "/devices/virtio-blk-rootfs", "desc", 0x12345678abcull),
		 0);
	CHECK_EQ(vmstate_writer__set_string(w, "/devices/virtio-blk-rootfs", "path", "/r.ext4"), 0);
	CHECK_EQ(vmstate_writer__set_blob(w, "/devices/virtio-blk-rootfs", "empty", NULL, 0), 0);
	CHECK_EQ(vmstate_writer__set_string(w, "/config", "json", "{\"machine-config\":{}}"), 0);
	for (unsigned i = 0; i < 2; i++)
		CHECK_EQ(vmstate_writer__add_region(w, i, &sample_regions[i]), 0);
}

static uint8_t *sample(size_t *len)
{
	struct vmstate_writer w;
	uint8_t *buf = NULL;
	build_sample(&w);
	CHECK_EQ(vmstate_writer__finish(&w, &buf, len, &e), 0);
	vmstate_writer__free(&w);
	return buf;
}

/* Damage cases need a checksum that matches their edit, to reach the later checks. */
static void reseal(uint8_t *buf, size_t len)
{
	uint64_t c = vmstate__crc64(buf, len - 8);
	for (int i = 0; i < 8; i++)
		buf[len - 8 + i] = (uint8_t)(c >> (56 - 8 * i));
}

static int parse_err(const uint8_t *buf, size_t len)
{
	struct vmstate vs;
	error__clear(&e);
	int r = vmstate__parse(&vs, buf, len, &e);
	if (r == 0)
		vmstate__close(&vs);
	return r;
}

static void crc64_xz(void)
{
	/* The catalogue's check value of CRC-64/XZ. */
	CHECK(vmstate__crc64("123456789", 9) == 0x995DC9BBDF1939FAull);
	CHECK(vmstate__crc64("", 0) == 0);
	/* In pieces, split anywhere (mid-word of the 8-byte steps too), as in one buffer. */
	static uint8_t data[1000];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 131 + 7);
	const uint64_t whole = vmstate__crc64(data, sizeof(data));
	for (size_t cut = 0; cut <= sizeof(data); cut += 37) {
		struct iovec two[] = {{data, cut}, {data + cut, sizeof(data) - cut}};
		CHECK(vmstate__crc64v(two, 2) == whole);
	}
	struct iovec three[] = {{data, 3}, {data + 3, 0}, {data + 3, sizeof(data) - 3}};
	CHECK(vmstate__crc64v(three, 3) == whole);
}

static void round_trip(void)
{
	struct vmstate_writer w;
	build_sample(&w);
	const char *path = tmp_path("rt.vmstate");
	/* Firecracker overwrites an existing snapshot file. */
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	CHECK(fd >= 0 && write(fd, "old", 3) == 3);
	close(fd);
	CHECK_EQ(vmstate_writer__write_file(&w, path, &e), 0);
	vmstate_writer__free(&w);

	struct vmstate vs;
	CHECK_EQ(vmstate__open(&vs, path, &e), 0);
	if (!vs.buf)
		return;
	char vendor[13];
	vmstate__host_cpu_vendor(vendor);
	CHECK_EQ(vs.major, VMSTATE_MAJOR);
	CHECK_EQ(vs.minor, VMSTATE_MINOR);
	CHECK_STR(vs.ember_version, "1.2.3");
	CHECK_STR(vs.cpu_vendor, vendor);
	const void *blob;
	size_t len;
	CHECK_EQ(vmstate__get_blob(&vs, "/", VMSTATE_PROP_CPUID, &blob, &len, &e), 0);
	CHECK(len == sizeof(cpuid) && !memcmp(blob, cpuid, len));
	uint8_t got[4096];
	CHECK_EQ(vmstate__get_bytes(&vs, "/vcpus/vcpu@0", "regs", got, sizeof(regs), &e), 0);
	CHECK(!memcmp(got, regs, sizeof(regs)));
	CHECK_EQ(vmstate__get_bytes(&vs, "/vcpus/vcpu@0", "xsave", got, sizeof(xsave), &e), 0);
	CHECK(!memcmp(got, xsave, sizeof(xsave)));
	CHECK_EQ(vmstate__get_blob(&vs, "/vcpus/vcpu@1", "regs", &blob, &len, &e), 0);
	CHECK(len == sizeof(regs) - 1 && !memcmp(blob, regs + 1, len));
	uint32_t u32 = 0;
	CHECK_EQ(vmstate__get_u32(&vs, "/vcpus/vcpu@0", "mp-state", &u32, &e), 0);
	CHECK_EQ(u32, 3);
	uint64_t u64 = 0;
	CHECK_EQ(vmstate__get_u64(&vs, "/clock", "clock", &u64, &e), 0);
	CHECK(u64 == 0x8000000100000002ull);
	CHECK_EQ(vmstate__get_u32(&vs, "/devices/virtio-blk-rootfs", "virtio-status", &u32, &e), 0);
	CHECK_EQ(u32, 0xf);
	CHECK_EQ(vmstate__get_u64(&vs, "/devices/virtio-blk-rootfs", "desc", &u64, &e), 0);
	CHECK(u64 == 0x12345678abcull);
	const char *s = NULL;
	CHECK_EQ(vmstate__get_string(&vs, "/devices/virtio-blk-rootfs", "path", &s, &e), 0);
	CHECK_STR(s, "/r.ext4");
	CHECK_EQ(vmstate__get_blob(&vs, "/devices/virtio-blk-rootfs", "empty", &blob, &len, &e), 0);
	CHECK_EQ(len, 0);
	CHECK_EQ(vmstate__get_string(&vs, "/config", "json", &s, &e), 0);
	CHECK_STR(s, "{\"machine-config\":{}}");
	CHECK_EQ(vmstate__get_blob(&vs, "/irqchip", "pic-master", &blob, &len, &e), 0);
	CHECK(len == 40 && !memcmp(blob, regs, 40));

	const char *name = NULL;
	CHECK_EQ(vmstate__child(&vs, "/vcpus", 0, &name, &e), 1);
	CHECK_STR(name, "vcpu@0");
	CHECK_EQ(vmstate__child(&vs, "/vcpus", 1, &name, &e), 1);
	CHECK_STR(name, "vcpu@1");
	CHECK_EQ(vmstate__child(&vs, "/vcpus", 2, &name, &e), 0);
	CHECK_EQ(vmstate__child(&vs, "/nothing", 0, &name, &e), -1);

	struct vmstate_region r[4];
	size_t n = 0;
	CHECK_EQ(vmstate__regions(&vs, r, 4, &n, &e), 0);
	CHECK_EQ(n, 2);
	CHECK(!memcmp(r, sample_regions, sizeof(sample_regions)));
	vmstate__close(&vs);

	/* Nothing but the file itself is left beside it. */
	char ls[160];
	snprintf(ls, sizeof(ls), "test $(ls -A %s | grep -c '^rt.vmstate') = 1", dir);
	CHECK_EQ(system(ls), 0);
}

static void grows_past_first_buffer(void)
{
	struct vmstate_writer w;
	CHECK_EQ(vmstate_writer__init(&w, "0", &e), 0);
	static uint8_t big[300 << 10];
	fill(big, sizeof(big), 9);
	for (int i = 0; i < 3; i++) {
		char path[32];
		snprintf(path, sizeof(path), "/big/n%d", i);
		CHECK_EQ(vmstate_writer__set_blob(&w, path, "data", big, sizeof(big)), 0);
	}
	uint8_t *buf = NULL;
	size_t len = 0;
	CHECK_EQ(vmstate_writer__finish(&w, &buf, &len, &e), 0);
	vmstate_writer__free(&w);
	struct vmstate vs;
	CHECK_EQ(vmstate__parse(&vs, buf, len, &e), 0);
	uint8_t *got = malloc(sizeof(big));
	CHECK_EQ(vmstate__get_bytes(&vs, "/big/n2", "data", got, sizeof(big), &e), 0);
	CHECK(!memcmp(got, big, sizeof(big)));
	free(got);
	vmstate__close(&vs);
	free(buf);
}

static void writer_rejects(void)
{
	struct vmstate_writer w;
	CHECK_EQ(vmstate_writer__init(&w, "0", &e), 0);
	CHECK_EQ(vmstate_writer__set_u32(&w, "vcpus", "x", 1), -1);
	/* The first failure is the one reported; later calls fail too. */
	CHECK_EQ(vmstate_writer__set_u32(&w, "/ok", "x", 1), -1);
	uint8_t *buf = NULL;
	size_t len;
	CHECK_EQ(vmstate_writer__finish(&w, &buf, &len, &e), -1);
	CHECK(strstr(e.msg, "\"vcpus\" is not absolute") != NULL);
	CHECK(buf == NULL);
	vmstate_writer__free(&w);

	CHECK_EQ(vmstate_writer__init(&w, "0", &e), 0);
	CHECK_EQ(vmstate_writer__set_u32(&w, "/a//b", "x", 1), -1);
	CHECK(strstr(w.err, "invalid component") != NULL);
	vmstate_writer__free(&w);
	CHECK_EQ(vmstate_writer__init(&w, "0", &e), 0);
	char longpath[VMSTATE_MAX_PATH + 1];
	memset(longpath, 'a', sizeof(longpath));
	for (int i = 0; i < VMSTATE_MAX_PATH; i += 32)
		longpath[i] = '/';
	longpath[VMSTATE_MAX_PATH] = 0;
	CHECK_EQ(vmstate_writer__node(&w, longpath), -1);
	CHECK(strstr(w.err, "is longer than 255 bytes") != NULL);
	vmstate_writer__free(&w);
	CHECK_EQ(vmstate_writer__init(&w, "0", &e), 0);
	CHECK_EQ(vmstate_writer__set_u32(&w, "/a", "bad name", 1), -1);
	CHECK(strstr(w.err, "property name") != NULL);
	CHECK_EQ(vmstate_writer__write_file(&w, tmp_path("never"), &e), -1);
	CHECK(access(tmp_path("never"), F_OK) != 0);
	vmstate_writer__free(&w);

	CHECK_EQ(vmstate_writer__init(&w, "0", &e), 0);
	CHECK_EQ(vmstate_writer__write_file(&w, "/nonexistent-dir/x", &e), -1);
	CHECK(strstr(e.msg, "/nonexistent-dir/x") != NULL);
	/* A directory at the path: the rename fails and the temporary file goes. */
	const char *d = tmp_path("adir");
	CHECK_EQ(mkdir(d, 0700), 0);
	CHECK_EQ(vmstate_writer__write_file(&w, d, &e), -1);
	CHECK(strstr(e.msg, "(rename)") != NULL);
	char ls[160];
	snprintf(ls, sizeof(ls), "test $(ls -A %s | grep -c '^adir') = 1", dir);
	CHECK_EQ(system(ls), 0);
	rmdir(d);
	vmstate_writer__free(&w);
}

static void truncated(void)
{
	size_t len;
	uint8_t *buf = sample(&len);
	size_t cuts[] = {len - 1, len - 24, len / 2, 64, 63, 10, 0};
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		CHECK_EQ(parse_err(buf, cuts[i]), -1);
		CHECK(strstr(e.msg, "truncated") != NULL);
		CHECK_EQ(e.code, EXIT_USAGE);
	}
	/* Through a file too: the same message. */
	const char *path = tmp_path("cut.vmstate");
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	CHECK(fd >= 0 && write(fd, buf, len - 100) == (ssize_t)(len - 100));
	close(fd);
	struct vmstate vs;
	CHECK_EQ(vmstate__open(&vs, path, &e), -1);
	CHECK(strstr(e.msg, "truncated") != NULL);
	free(buf);
}

static void bit_flipped(void)
{
	size_t len;
	uint8_t *buf = sample(&len);
	CHECK_EQ(parse_err(buf, len), 0);
	/* Anywhere in the tree after the header, and in the stored checksum itself. */
	size_t at[] = {64, len / 3, len / 2, len - 30, len - 1};
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		buf[at[i]] ^= 0x10;
		CHECK_EQ(parse_err(buf, len), -1);
		CHECK(strstr(e.msg, "checksum mismatch") != NULL);
		buf[at[i]] ^= 0x10;
	}
	buf[len - 20] ^= 1; /* the trailer magic */
	CHECK_EQ(parse_err(buf, len), -1);
	CHECK(strstr(e.msg, "trailer damaged") != NULL);
	buf[len - 20] ^= 1;
	buf[0] ^= 1;
	CHECK_EQ(parse_err(buf, len), -1);
	CHECK(strstr(e.msg, "no device-tree magic") != NULL);
	buf[0] ^= 1;
	CHECK_EQ(parse_err(buf, len), 0);
	free(buf);
}

static void malformed_tree(void)
{
	size_t len;
	uint8_t *buf = sample(&len);
	/* The struct block's first tag is FDT_BEGIN_NODE; make it an unknown tag and
	 * reseal, so that only fdt_check_full can notice. */
	uint32_t off = (uint32_t)buf[8] << 24 | buf[9] << 16 | buf[10] << 8 | buf[11];
	buf[off + 3] = 0x7f;
	reseal(buf, len);
	CHECK_EQ(parse_err(buf, len), -1);
	CHECK(strstr(e.msg, "tree is malformed") != NULL);
	free(buf);

	/* An older device-tree version, resealed: refused before libfdt reads it by its
	 * old-version paths (fdt_check_full read address 0 on one, fuzz/vmstate). */
	buf = sample(&len);
	buf[23] = 9;
	reseal(buf, len);
	CHECK_EQ(parse_err(buf, len), -1);
	CHECK(strstr(e.msg, "device-tree version 9; this ember reads version 17") != NULL);
	free(buf);

	buf = sample(&len);
	uint8_t *more = malloc(len + 5);
	memcpy(more, buf, len);
	memset(more + len, 0, 5);
	CHECK_EQ(parse_err(more, len + 5), -1);
	CHECK(strstr(e.msg, "5 unexpected bytes after its trailer") != NULL);
	/* Another trailer layout. */
	buf[len - 13] = 2;
	reseal(buf, len);
	CHECK_EQ(parse_err(buf, len), -1);
	CHECK(strstr(e.msg, "trailer layout 2") != NULL);
	free(more);
	free(buf);
}

static size_t seal_sw(uint8_t *buf);

/* The sequential writer's tree begun with a valid root header, the root node left open. */
static void sw_header(uint8_t *buf, size_t cap)
{
	CHECK_EQ(fdt_create(buf, (int)cap - VMSTATE_TRAILER_SIZE), 0);
	fdt_finish_reservemap(buf);
	fdt_begin_node(buf, "");
	fdt_property_string(buf, "compatible", VMSTATE_COMPATIBLE);
	fdt_property_u64(buf, "format-version", (uint64_t)VMSTATE_MAJOR << 32);
	fdt_property_string(buf, "ember-version", "0");
	fdt_property_string(buf, "host-cpu-vendor", "x");
}

/* A tree made with libfdt's sequential writer, which does not stop twins, then sealed. */
static size_t twins(uint8_t *buf, size_t cap, bool twin_nodes)
{
	sw_header(buf, cap);
	fdt_begin_node(buf, "vcpus");
	for (int i = 0; i < 2; i++) {
		if (i == 0 || twin_nodes)
			fdt_begin_node(buf, "vcpu@0");
		fdt_property_u32(buf, "mp-state", (uint32_t)i);
		if (i == 1 || twin_nodes)
			fdt_end_node(buf);
	}
	fdt_end_node(buf);
	fdt_end_node(buf);
	CHECK_EQ(fdt_finish(buf), 0);
	return seal_sw(buf);
}

static size_t seal_sw(uint8_t *buf)
{
	size_t t = fdt_totalsize(buf);
	memcpy(buf + t, VMSTATE_TRAILER_MAGIC, 8);
	uint8_t *tr = buf + t + 8;
	memset(tr, 0, 16);
	tr[3] = VMSTATE_TRAILER_LAYOUT;
	for (int i = 0; i < 4; i++)
		tr[4 + i] = (uint8_t)(t >> (24 - 8 * i));
	reseal(buf, t + VMSTATE_TRAILER_SIZE);
	return t + VMSTATE_TRAILER_SIZE;
}

static void twin_names(void)
{
	/* libfdt's fdt_check_full takes both; a getter would then see only the first. */
	static uint8_t buf[4096];
	size_t len = twins(buf, sizeof(buf), true);
	CHECK_EQ(fdt_check_full(buf, len - VMSTATE_TRAILER_SIZE), 0);
	CHECK_EQ(parse_err(buf, len), -1);
	CHECK_STR(e.msg, "vmstate has two nodes named /vcpus/vcpu@0");
	len = twins(buf, sizeof(buf), false);
	CHECK_EQ(fdt_check_full(buf, len - VMSTATE_TRAILER_SIZE), 0);
	CHECK_EQ(parse_err(buf, len), -1);
	CHECK_STR(e.msg, "vmstate node /vcpus/vcpu@0 has two properties named mp-state");
}

/* A node whose name has a '/' in it (the sequential writer lets it through) could not be
 * found by its path: refused by name, as is a node with no name below the root. */
static void slash_names(void)
{
	static const char *const names[] = {"vcpu/0", ""};
	for (size_t i = 0; i < 2; i++) {
		static uint8_t buf[4096];
		sw_header(buf, sizeof(buf));
		fdt_begin_node(buf, "vcpus");
		fdt_begin_node(buf, names[i]);
		fdt_property_u32(buf, "mp-state", 0);
		fdt_end_node(buf);
		fdt_end_node(buf);
		fdt_end_node(buf);
		CHECK_EQ(fdt_finish(buf), 0);
		size_t len = seal_sw(buf);
		CHECK_EQ(parse_err(buf, len), -1);
		CHECK(strstr(e.msg, "named with a '/' or not named at all") != NULL);
	}
}

static void exact_names(void)
{
	/* libfdt's own lookup lets "blk" find "blk@1"; the getters do not. libfdt cannot add
	 * "blk" beside an existing "blk@1", so the writer says so. */
	struct vmstate_writer w;
	CHECK_EQ(vmstate_writer__init(&w, "0", &e), 0);
	CHECK_EQ(vmstate_writer__set_u32(&w, "/devices/blk@1", "n", 1), 0);
	CHECK_EQ(vmstate_writer__set_u32(&w, "/devices/blk", "n", 2), -1);
	CHECK(strstr(w.err, "cannot create /devices/blk") != NULL);
	vmstate_writer__free(&w);

	CHECK_EQ(vmstate_writer__init(&w, "0", &e), 0);
	CHECK_EQ(vmstate_writer__set_u32(&w, "/devices/blk", "n", 2), 0);
	CHECK_EQ(vmstate_writer__set_u32(&w, "/devices/blk@1", "n", 1), 0);
	uint8_t *buf = NULL;
	size_t len;
	CHECK_EQ(vmstate_writer__finish(&w, &buf, &len, &e), 0);
	vmstate_writer__free(&w);
	if (!buf)
		return;
	struct vmstate vs;
	CHECK_EQ(vmstate__parse(&vs, buf, len, &e), 0);
	free(buf);
	uint32_t v = 0;
	CHECK_EQ(vmstate__get_u32(&vs, "/devices/blk@1", "n", &v, &e), 0);
	CHECK_EQ(v, 1);
	CHECK_EQ(vmstate__get_u32(&vs, "/devices/blk", "n", &v, &e), 0);
	CHECK_EQ(v, 2);
	CHECK(!vmstate__has_node(&vs, "/devices/bl"));
	vmstate__close(&vs);

	/* Another writer may put blk@1 first: "blk" still finds blk. */
	static uint8_t sw[4096];
	CHECK_EQ(fdt_create(sw, sizeof(sw) - VMSTATE_TRAILER_SIZE), 0);
	fdt_finish_reservemap(sw);
	fdt_begin_node(sw, "");
	fdt_property_string(sw, "compatible", VMSTATE_COMPATIBLE);
	fdt_property_u64(sw, "format-version", (uint64_t)VMSTATE_MAJOR << 32);
	fdt_property_string(sw, "ember-version", "0");
	fdt_property_string(sw, "host-cpu-vendor", "x");
	fdt_begin_node(sw, "devices");
	fdt_begin_node(sw, "blk@1");
	fdt_property_u32(sw, "n", 1);
	fdt_end_node(sw);
	fdt_begin_node(sw, "blk");
	fdt_property_u32(sw, "n", 2);
	fdt_end_node(sw);
	fdt_end_node(sw);
	fdt_end_node(sw);
	CHECK_EQ(fdt_finish(sw), 0);
	len = seal_sw(sw);
	CHECK_EQ(vmstate__parse(&vs, sw, len, &e), 0);
	CHECK_EQ(vmstate__get_u32(&vs, "/devices/blk", "n", &v, &e), 0);
	CHECK_EQ(v, 2);
	vmstate__close(&vs);
}

static void wrong_compatible(void)
{
	struct vmstate_writer w;
	build_sample(&w);
	CHECK_EQ(vmstate_writer__set_string(&w, "/", "compatible", "acme,other"), 0);
	uint8_t *buf;
	size_t len;
	CHECK_EQ(vmstate_writer__finish(&w, &buf, &len, &e), 0);
	vmstate_writer__free(&w);
	CHECK_EQ(parse_err(buf, len), -1);
	CHECK(strstr(e.msg, "compatible is \"acme,other\"") != NULL);
	free(buf);
}

static int with_version(uint32_t major, uint32_t minor, struct vmstate *vs)
{
	struct vmstate_writer w;
	build_sample(&w);
	uint8_t v[8] = {major >> 24, major >> 16, major >> 8, major,
			minor >> 24, minor >> 16, minor >> 8, minor};
	CHECK_EQ(vmstate_writer__set_blob(&w, "/", VMSTATE_PROP_VERSION, v, 8), 0);
	uint8_t *buf;
	size_t len;
	CHECK_EQ(vmstate_writer__finish(&w, &buf, &len, &e), 0);
	vmstate_writer__free(&w);
	error__clear(&e);
	int r = vmstate__parse(vs, buf, len, &e);
	free(buf);
	return r;
}

static void versions(void)
{
	struct vmstate vs;
	CHECK_EQ(with_version(VMSTATE_MAJOR + 1, 0, &vs), -1);
	CHECK(strstr(e.msg, "format 2.0 is newer than this ember reads (1.x)") != NULL);
	CHECK_EQ(with_version(0, 9, &vs), -1);
	CHECK(strstr(e.msg, "format 0.9") != NULL);
	/* A newer minor only adds what an older reader may ignore. */
	CHECK_EQ(with_version(VMSTATE_MAJOR, VMSTATE_MINOR + 7, &vs), 0);
	CHECK_EQ(vs.minor, VMSTATE_MINOR + 7);
	vmstate__close(&vs);
}

static void missing_and_wrong_length(void)
{
	size_t len;
	uint8_t *buf = sample(&len);
	struct vmstate vs;
	CHECK_EQ(vmstate__parse(&vs, buf, len, &e), 0);
	free(buf);
	uint8_t got[256];
	CHECK_EQ(vmstate__get_bytes(&vs, "/vcpus/vcpu@2", "regs", got, 144, &e), -1);
	CHECK_STR(e.msg, "vmstate has no node /vcpus/vcpu@2");
	CHECK_EQ(vmstate__get_bytes(&vs, "/vcpus/vcpu@0", "sregs", got, 144, &e), -1);
	CHECK_STR(e.msg, "vmstate node /vcpus/vcpu@0 has no property sregs");
	CHECK_EQ(vmstate__get_bytes(&vs, "/vcpus/vcpu@1", "regs", got, 144, &e), -1);
	CHECK_STR(e.msg, "vmstate node /vcpus/vcpu@1, property regs: 143 bytes, expected 144");
	uint32_t u32;
	CHECK_EQ(vmstate__get_u32(&vs, "/clock", "clock", &u32, &e), -1);
	CHECK_STR(e.msg, "vmstate node /clock, property clock: 8 bytes, expected 4");
	uint64_t u64;
	CHECK_EQ(vmstate__get_u64(&vs, "/vcpus/vcpu@0", "mp-state", &u64, &e), -1);
	CHECK_STR(e.msg, "vmstate node /vcpus/vcpu@0, property mp-state: 4 bytes, expected 8");
	const char *s;
	CHECK_EQ(vmstate__get_string(&vs, "/vcpus/vcpu@0", "regs", &s, &e), -1);
	CHECK_STR(e.msg, "vmstate node /vcpus/vcpu@0, property regs: not a string");
	CHECK_EQ(vmstate__get_string(&vs, "/devices/virtio-blk-rootfs", "empty", &s, &e), -1);
	CHECK(!vmstate__has_node(&vs, "/pit"));
	CHECK(vmstate__has_node(&vs, "/irqchip"));
	vmstate__close(&vs);
}

static int regions_of(const struct vmstate_region *r, const unsigned *idx, size_t n, size_t *count)
{
	struct vmstate_writer w;
	CHECK_EQ(vmstate_writer__init(&w, "0", &e), 0);
	for (size_t i = 0; i < n; i++)
		vmstate_writer__add_region(&w, idx[i], &r[i]);
	uint8_t *buf;
	size_t len;
	CHECK_EQ(vmstate_writer__finish(&w, &buf, &len, &e), 0);
	vmstate_writer__free(&w);
	struct vmstate vs;
	CHECK_EQ(vmstate__parse(&vs, buf, len, &e), 0);
	free(buf);
	struct vmstate_region out[4];
	int rc = vmstate__regions(&vs, out, 4, count, &e);
	vmstate__close(&vs);
	return rc;
}

static void region_checks(void)
{
	const unsigned idx[] = {0, 1, 2, 3, 4};
	size_t n;
	CHECK_EQ(regions_of(sample_regions, idx, 2, &n), 0);
	CHECK_EQ(n, 2);
	CHECK_EQ(regions_of(sample_regions, idx, 0, &n), -1);
	CHECK(strstr(e.msg, "no node /memory") != NULL);
	const unsigned gap[] = {0, 2};
	CHECK_EQ(regions_of(sample_regions, gap, 2, &n), -1);
	CHECK_STR(e.msg, "vmstate has 2 memory regions but no node /memory/region@1");
	struct vmstate_region overlap[] = {{0, 0x2000, 0}, {0x1000, 0x1000, 0x2000}};
	CHECK_EQ(regions_of(overlap, idx, 2, &n), -1);
	CHECK_STR(e.msg, "vmstate memory regions 0 and 1 overlap");
	struct vmstate_region file_overlap[] = {{0, 0x2000, 0}, {0x4000, 0x1000, 0x1000}};
	CHECK_EQ(regions_of(file_overlap, idx, 2, &n), -1);
	CHECK_STR(e.msg, "vmstate memory regions 0 and 1 overlap");
	struct vmstate_region odd[] = {{0, 0x1800, 0}};
	CHECK_EQ(regions_of(odd, idx, 1, &n), -1);
	CHECK(strstr(e.msg, "not page-aligned") != NULL);
	struct vmstate_region wraps[] = {{~0ull - 0xfff, 0x2000, 0}};
	CHECK_EQ(regions_of(wraps, idx, 1, &n), -1);
	CHECK(strstr(e.msg, "wraps around") != NULL);
	struct vmstate_region five[5];
	for (int i = 0; i < 5; i++)
		five[i] = (struct vmstate_region){0x1000ull * i, 0x1000, 0x1000ull * i};
	CHECK_EQ(regions_of(five, idx, 5, &n), -1);
	CHECK_STR(e.msg, "vmstate has 5 memory regions, at most 4");
}

static void memory_file_size(void)
{
	/* Region 1 ends at 0x300000 in the file. */
	CHECK_EQ(vmstate__check_mem_size(sample_regions, 2, 0x300000, &e), 0);
	CHECK_EQ(vmstate__check_mem_size(sample_regions, 2, 0x2fffff, &e), -1);
	CHECK(strstr(e.msg, "memory file is 3145727 bytes, smaller than memory region 1") != NULL);
	const char *path = tmp_path("mem");
	int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK_EQ(ftruncate(fd, 0x200000), 0);
	CHECK_EQ(vmstate__check_mem_fd(sample_regions, 2, fd, &e), -1);
	CHECK(strstr(e.msg, "smaller than memory region 1") != NULL);
	CHECK_EQ(ftruncate(fd, 0x300000), 0);
	CHECK_EQ(vmstate__check_mem_fd(sample_regions, 2, fd, &e), 0);
	close(fd);
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	CHECK_EQ(vmstate__check_mem_fd(sample_regions, 2, fd, &e), -1);
	CHECK_STR(e.msg, "memory file is not a regular file");
	close(fd);
}

static void open_rejects(void)
{
	struct vmstate vs;
	CHECK_EQ(vmstate__open(&vs, tmp_path("absent"), &e), -1);
	CHECK(strstr(e.msg, "cannot open vmstate") != NULL);
	CHECK_EQ(e.code, EXIT_USAGE);
	CHECK_EQ(vmstate__open(&vs, dir, &e), -1);
	CHECK(strstr(e.msg, "is not a regular file") != NULL);
	/* A FIFO must be refused, not waited on. */
	const char *fifo = tmp_path("fifo");
	CHECK_EQ(mkfifo(fifo, 0600), 0);
	CHECK_EQ(vmstate__open(&vs, fifo, &e), -1);
	CHECK(strstr(e.msg, "is not a regular file") != NULL);
	const char *big = tmp_path("big");
	int fd = open(big, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK_EQ(ftruncate(fd, (off_t)VMSTATE_MAX_FILE + 1), 0);
	close(fd);
	CHECK_EQ(vmstate__open(&vs, big, &e), -1);
	CHECK(strstr(e.msg, "too large") != NULL);
	unlink(big);
	CHECK(vs.buf == NULL);
}

static void cleanup(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (dir[0] && system(cmd))
		fprintf(stderr, "could not remove %s\n", dir);
}

/* `test_vmstate --write-seeds DIR` writes the fuzzer's seeds (tests/fuzz/vmstate_seeds). */
static int write_seeds(const char *out)
{
	size_t len;
	uint8_t *buf = sample(&len);
	char p[512];
	snprintf(p, sizeof(p), "%s/sample", out);
	FILE *f = fopen(p, "wb");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f))
		return 1;
	free(buf);
	struct vmstate_writer w;
	if (vmstate_writer__init(&w, "0", &e))
		return 1;
	vmstate_writer__add_region(&w, 0, &sample_regions[0]);
	vmstate_writer__set_string(&w, "/config", "json", "{}");
	snprintf(p, sizeof(p), "%s/minimal", out);
	int r = vmstate_writer__write_file(&w, p, &e);
	vmstate_writer__free(&w);
	return r ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--write-seeds"))
		return write_seeds(argv[2]);
	static const struct check_case cases[] = {
	    CHECK_CASE(crc64_xz),
	    CHECK_CASE(round_trip),
	    CHECK_CASE(grows_past_first_buffer),
	    CHECK_CASE(writer_rejects),
	    CHECK_CASE(truncated),
	    CHECK_CASE(bit_flipped),
	    CHECK_CASE(malformed_tree),
	    CHECK_CASE(wrong_compatible),
	    CHECK_CASE(twin_names),
	    CHECK_CASE(slash_names),
	    CHECK_CASE(exact_names),
	    CHECK_CASE(versions),
	    CHECK_CASE(missing_and_wrong_length),
	    CHECK_CASE(region_checks),
	    CHECK_CASE(memory_file_size),
	    CHECK_CASE(open_rejects),
	};
	int rc = check__run("vmstate", cases, sizeof(cases) / sizeof(cases[0]));
	cleanup();
	return rc;
}

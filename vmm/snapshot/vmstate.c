/* The vmstate container: an FDT built and checked with libfdt, followed by a trailer
 * with a CRC-64 over everything before it (layout in vmstate.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libfdt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/stat.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "snapshot/vmstate_priv.h"
/* crc64_table: CRC-64/XZ's tables for slicing by 8, made at build time by
 * tools/crc64_table.c. */
#include "crc64_table.h"

#define WRITER_INITIAL_CAP (64u << 10)
#define WRITER_MAX_CAP	   (VMSTATE_MAX_FILE - VMSTATE_TRAILER_SIZE)

uint64_t vmstate__crc64v(const struct iovec *piece, unsigned n)
{
	/* Eight bytes a step: byte by byte, a 15 KB vmstate took 0.12 ms to check, a
	 * tenth of a load into a warm shell. */
	const uint64_t(*t)[256] = crc64_table;
	uint64_t crc = ~0ull;
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *p = piece[i].iov_base;
		size_t len = piece[i].iov_len;
		for (; len >= 8; p += 8, len -= 8) {
			uint64_t w = 0;
			for (int k = 0; k < 8;
			     k++) /* the bytes in stream order, whatever the host's */
				w |= (uint64_t)p[k] << (8 * k);
			crc ^= w;
			crc = t[7][crc & 0xff] ^ t[6][(crc >> 8) & 0xff] ^
			      t[5][(crc >> 16) & 0xff] ^ t[4][(crc >> 24) & 0xff] ^
			      t[3][(crc >> 32) & 0xff] ^ t[2][(crc >> 40) & 0xff] ^
			      t[1][(crc >> 48) & 0xff] ^ t[0][crc >> 56];
		}
		for (; len; p++, len--)
			crc = t[0][(crc ^ *p) & 0xff] ^ (crc >> 8);
	}
	return ~crc;
}

uint64_t vmstate__crc64(const void *data, size_t len)
{
	struct iovec one = {.iov_base = (void *)data, .iov_len = len};
	return vmstate__crc64v(&one, 1);
}

void vmstate__host_cpu_vendor(char out[13])
{
	memset(out, 0, 13);
#if defined(__x86_64__) || defined(__i386__)
	unsigned a, b, c, d;
	if (__get_cpuid(0, &a, &b, &c, &d)) {
		memcpy(out, &b, 4);
		memcpy(out + 4, &d, 4);
		memcpy(out + 8, &c, 4);
	}
#endif
}

int vmstate__subnode(const void *fdt, int parent, const char *name, size_t len)
{
	int sub;
	fdt_for_each_subnode(sub, fdt, parent)
	{
		int n;
		const char *s = fdt_get_name(fdt, sub, &n);
		if (s && (size_t)n == len && !memcmp(s, name, len))
			return sub;
	}
	return sub == -FDT_ERR_NOTFOUND ? -FDT_ERR_NOTFOUND : sub;
}

int vmstate__path_offset(const void *fdt, const char *path)
{
	if (path[0] != '/')
		return -FDT_ERR_BADPATH;
	int off = 0;
	const char *p = path + 1;
	while (*p && off >= 0) {
		const char *end = strchrnul(p, '/');
		off = vmstate__subnode(fdt, off, p, (size_t)(end - p));
		p = *end ? end + 1 : end;
	}
	return off;
}

/* ---- writer ----------------------------------------------------------------------- */

static int wfail(struct vmstate_writer *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int wfail(struct vmstate_writer *w, const char *fmt, ...)
{
	if (!w->failed) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(w->err, sizeof(w->err), fmt, ap);
		va_end(ap);
		w->failed = true;
	}
	return -1;
}

static int grow(struct vmstate_writer *w)
{
	if (w->cap >= WRITER_MAX_CAP)
		return wfail(w, "vmstate would exceed %u bytes", VMSTATE_MAX_FILE);
	size_t ncap = w->cap * 2 > WRITER_MAX_CAP ? WRITER_MAX_CAP : w->cap * 2;
	void *n = realloc(w->fdt, ncap);
	if (!n)
		return wfail(w, "vmstate: out of memory growing the tree to %zu bytes", ncap);
	w->fdt = n;
	int r = fdt_open_into(n, n, (int)ncap);
	if (r < 0)
		return wfail(w, "vmstate: cannot grow the tree: %s", fdt_strerror(r));
	w->cap = ncap;
	return 0;
}

/* Node and property names stay within what dtc prints back without complaint. */
static bool valid_name(const char *s, size_t len, const char *extra, size_t max)
{
	if (len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr(",._+-", c) || strchr(extra, c)))
			return false;
	}
	return true;
}

/* The offset of path, creating missing nodes; -1 with the writer failed otherwise. */
static int node_offset(struct vmstate_writer *w, const char *path)
{
	if (w->failed)
		return -1;
	if (!path || path[0] != '/')
		return wfail(w, "vmstate node path \"%s\" is not absolute", path ? path : "");
	if (strlen(path) >= VMSTATE_MAX_PATH)
		return wfail(w, "vmstate node path \"%.40s...\" is longer than %d bytes", path,
			     VMSTATE_MAX_PATH - 1);
	int off = 0;
	const char *p = path + 1;
	while (*p) {
		const char *end = strchr(p, '/');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (!valid_name(p, len, "@", 63) || (end && !end[1]))
			return wfail(w, "vmstate node path \"%s\" has an invalid component", path);
		int sub;
		for (;;) {
			sub = vmstate__subnode(w->fdt, off, p, len);
			if (sub == -FDT_ERR_NOTFOUND)
				sub = fdt_add_subnode_namelen(w->fdt, off, p, (int)len);
			if (sub != -FDT_ERR_NOSPACE)
				break;
			if (grow(w))
				return -1;
		}
		if (sub < 0)
			return wfail(w, "vmstate: cannot create %s: %s", path, fdt_strerror(sub));
		off = sub;
		p += len + (end ? 1 : 0);
	}
	return off;
}

int vmstate_writer__node(struct vmstate_writer *w, const char *path)
{
	return node_offset(w, path) < 0 ? -1 : 0;
}

static int setprop(struct vmstate_writer *w, const char *path, const char *name, const void *data,
		   size_t len)
{
	if (w->failed)
		return -1;
	if (!name || !valid_name(name, strlen(name), "?#", 31))
		return wfail(w, "vmstate property name \"%s\" is invalid", name ? name : "");
	if (len > WRITER_MAX_CAP)
		return wfail(w, "vmstate property %s of %s is too large (%zu bytes)", name, path,
			     len);
	for (;;) {
		/* Growing may move the tree, so the node is looked up again on each try. */
		int off = node_offset(w, path);
		if (off < 0)
			return -1;
		int r = fdt_setprop(w->fdt, off, name, data, (int)len);
		if (r == 0)
			return 0;
		if (r != -FDT_ERR_NOSPACE)
			return wfail(w, "vmstate: cannot set %s of %s: %s", name, path,
				     fdt_strerror(r));
		if (grow(w))
			return -1;
	}
}

int vmstate_writer__set_u32(struct vmstate_writer *w, const char *path, const char *name,
			    uint32_t v)
{
	uint8_t b[4];
	vmstate__put_be32(b, v);
	return setprop(w, path, name, b, sizeof(b));
}

int vmstate_writer__set_u64(struct vmstate_writer *w, const char *path, const char *name,
			    uint64_t v)
{
	uint8_t b[8];
	vmstate__put_be64(b, v);
	return setprop(w, path, name, b, sizeof(b));
}

int vmstate_writer__set_string(struct vmstate_writer *w, const char *path, const char *name,
			       const char *s)
{
	if (!s)
		return wfail(w, "vmstate property %s of %s: no string", name, path);
	return setprop(w, path, name, s, strlen(s) + 1);
}

int vmstate_writer__set_blob(struct vmstate_writer *w, const char *path, const char *name,
			     const void *data, size_t len)
{
	if (!data && len)
		return wfail(w, "vmstate property %s of %s: no data", name, path);
	return setprop(w, path, name, data, len);
}

int vmstate_writer__add_region(struct vmstate_writer *w, unsigned index,
			       const struct vmstate_region *r)
{
	char path[48];
	snprintf(path, sizeof(path), "/memory/region@%x", index);
	/* reg matches the unit address in one cell, so dtc's checks stay quiet. */
	vmstate_writer__set_u32(w, "/memory", "#address-cells", 1);
	vmstate_writer__set_u32(w, "/memory", "#size-cells", 0);
	vmstate_writer__set_u32(w, path, "reg", index);
	vmstate_writer__set_u64(w, path, "guest-address", r->guest_address);
	vmstate_writer__set_u64(w, path, "size", r->size);
	return vmstate_writer__set_u64(w, path, "file-offset", r->file_offset);
}

int vmstate_writer__init(struct vmstate_writer *w, const char *ember_version, struct error *e)
{
	memset(w, 0, sizeof(*w));
	w->fdt = malloc(WRITER_INITIAL_CAP);
	if (!w->fdt) {
		error__fail(e, EXIT_ERROR, "vmstate: out of memory");
		return -1;
	}
	w->cap = WRITER_INITIAL_CAP;
	int r = fdt_create_empty_tree(w->fdt, (int)w->cap);
	if (r < 0) {
		error__fail(e, EXIT_ERROR, "vmstate: cannot create a tree: %s", fdt_strerror(r));
		vmstate_writer__free(w);
		return -1;
	}
	char vendor[13];
	vmstate__host_cpu_vendor(vendor);
	uint8_t version[8];
	vmstate__put_be32(version, VMSTATE_MAJOR);
	vmstate__put_be32(version + 4, VMSTATE_MINOR);
	vmstate_writer__set_string(w, "/", VMSTATE_PROP_COMPATIBLE, VMSTATE_COMPATIBLE);
	vmstate_writer__set_blob(w, "/", VMSTATE_PROP_VERSION, version, sizeof(version));
	vmstate_writer__set_string(w, "/", VMSTATE_PROP_EMBER, ember_version);
	if (vmstate_writer__set_string(w, "/", VMSTATE_PROP_VENDOR, vendor)) {
		error__fail(e, EXIT_ERROR, "%s", w->err);
		vmstate_writer__free(w);
		return -1;
	}
	return 0;
}

void vmstate_writer__free(struct vmstate_writer *w)
{
	free(w->fdt);
	w->fdt = NULL;
	w->cap = 0;
}

/* Copies node off of src and its subtree into the sequential-write tree dst. libfdt's
 * fdt_add_subnode puts a new node before its older siblings; emitting siblings last to first
 * gives the file creation order, which is what dtc then prints. */
/* Offsets of the properties (subnodes=false) or subnodes of node off, in file order. */
static int *list_of(const void *fdt, int off, bool subnodes, int *count)
{
	int n = 0, o;
	if (subnodes)
		fdt_for_each_subnode(o, fdt, off) n++;
	else
		fdt_for_each_property_offset(o, fdt, off) n++;
	int *v = malloc(sizeof(int) * (size_t)(n ? n : 1));
	if (!v)
		return NULL;
	n = 0;
	if (subnodes)
		fdt_for_each_subnode(o, fdt, off) v[n++] = o;
	else
		fdt_for_each_property_offset(o, fdt, off) v[n++] = o;
	*count = n;
	return v;
}

/* Copies node off of src and its subtree into the sequential-write tree dst. libfdt's
 * read-write functions put a new property or subnode before its older siblings; emitting
 * them last to first gives the file creation order, which is what dtc then prints. */
static int emit(const void *src, int off, void *dst, int depth)
{
	if (depth > 64)
		return -FDT_ERR_BADSTRUCTURE;
	int r = fdt_begin_node(dst, fdt_get_name(src, off, NULL));
	int np, ns;
	int *props = list_of(src, off, false, &np);
	int *subs = list_of(src, off, true, &ns);
	if (!props || !subs)
		r = -FDT_ERR_INTERNAL;
	while (r >= 0 && np > 0) {
		const char *name;
		int len;
		const void *v = fdt_getprop_by_offset(src, props[--np], &name, &len);
		r = v ? fdt_property(dst, name, v, len) : len;
	}
	while (r >= 0 && ns > 0)
		r = emit(src, subs[--ns], dst, depth + 1);
	free(props);
	free(subs);
	return r < 0 ? r : fdt_end_node(dst);
}

int vmstate_writer__finish(struct vmstate_writer *w, uint8_t **out, size_t *outlen, struct error *e)
{
	if (w->failed) {
		error__fail(e, EXIT_ERROR, "%s", w->err);
		return -1;
	}
	size_t cap = fdt_totalsize(w->fdt) + VMSTATE_TRAILER_SIZE;
	uint8_t *buf = NULL;
	int r = -FDT_ERR_NOSPACE;
	while (r == -FDT_ERR_NOSPACE && cap <= 2 * (size_t)VMSTATE_MAX_FILE) {
		free(buf);
		buf = malloc(cap);
		if (!buf) {
			error__fail(e, EXIT_ERROR, "vmstate: out of memory");
			return -1;
		}
		r = fdt_create(buf, (int)(cap - VMSTATE_TRAILER_SIZE));
		if (r >= 0)
			r = fdt_finish_reservemap(buf);
		if (r >= 0)
			r = emit(w->fdt, 0, buf, 0);
		if (r >= 0)
			r = fdt_finish(buf);
		cap *= 2;
	}
	if (r < 0) {
		free(buf);
		error__fail(e, EXIT_ERROR, "vmstate: cannot finish the tree: %s", fdt_strerror(r));
		return -1;
	}
	size_t t = fdt_totalsize(buf);
	if (t + VMSTATE_TRAILER_SIZE > VMSTATE_MAX_FILE) {
		free(buf);
		error__fail(e, EXIT_ERROR, "vmstate would exceed %u bytes", VMSTATE_MAX_FILE);
		return -1;
	}
	uint8_t *tr = buf + t;
	memcpy(tr, VMSTATE_TRAILER_MAGIC, 8);
	vmstate__put_be32(tr + 8, VMSTATE_TRAILER_LAYOUT);
	vmstate__put_be32(tr + 12, (uint32_t)t);
	vmstate__put_be64(tr + 16, vmstate__crc64(buf, t + 16));
	*out = buf;
	*outlen = t + VMSTATE_TRAILER_SIZE;
	return 0;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int vmstate_writer__write_file(struct vmstate_writer *w, const char *path, struct error *e)
{
	uint8_t *buf;
	size_t len;
	if (vmstate_writer__finish(w, &buf, &len, e))
		return -1;
	char tmp[PATH_MAX];
	if (!path || !*path ||
	    snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= (int)sizeof(tmp)) {
		error__fail(e, EXIT_USAGE, "snapshot path \"%s\" is empty or too long",
			    path ? path : "");
		free(buf);
		return -1;
	}
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		error__fail(e, EXIT_USAGE, "cannot create a file beside %s: %s", path,
			    strerror(errno));
		free(buf);
		return -1;
	}
	const char *what = NULL;
	if (write_all(fd, buf, len))
		what = "write";
	else if (fsync(fd))
		what = "fsync";
	int saved = errno;
	if (close(fd) && !what) {
		what = "close";
		saved = errno;
	}
	free(buf);
	if (!what && rename(tmp, path)) {
		what = "rename";
		saved = errno;
	}
	if (what) {
		unlink(tmp);
		error__fail(e, EXIT_ERROR, "cannot write %s (%s): %s", path, what, strerror(saved));
		return -1;
	}
	/* The rename itself is durable once the directory is synced. */
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else
		slash[slash == dir ? 1 : 0] = 0;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		int r = fsync(dfd);
		saved = errno;
		close(dfd);
		if (r && saved != EINVAL) {
			error__fail(e, EXIT_ERROR, "cannot sync the directory of %s: %s", path,
				    strerror(saved));
			return -1;
		}
	}
	return 0;
}

/* The vmstate reader: every check on a file's bytes happens in check_file, before any
 * getter can run, so that getters only deal with absent nodes and wrong lengths. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snapshot/vmstate_priv.h"

#define HEADER_SIZE ((size_t)sizeof(struct fdt_header))

/* The bytes of property name of node path, or NULL with err naming what is missing. */
static const uint8_t *prop(const struct vmstate *vs, const char *path, const char *name, int *len,
			   struct error *e)
{
	int off = vmstate__path_offset(vs->buf, path);
	if (off < 0) {
		if (off == -FDT_ERR_NOTFOUND)
			error__fail(e, EXIT_USAGE, "vmstate has no node %s", path);
		else
			error__fail(e, EXIT_USAGE, "vmstate node %s: %s", path, fdt_strerror(off));
		return NULL;
	}
	const uint8_t *p = fdt_getprop(vs->buf, off, name, len);
	if (!p) {
		if (*len == -FDT_ERR_NOTFOUND)
			error__fail(e, EXIT_USAGE, "vmstate node %s has no property %s", path,
				    name);
		else
			error__fail(e, EXIT_USAGE, "vmstate node %s, property %s: %s", path, name,
				    fdt_strerror(*len));
	}
	return p;
}

static const uint8_t *prop_len(const struct vmstate *vs, const char *path, const char *name,
			       size_t want, struct error *e)
{
	int len;
	const uint8_t *p = prop(vs, path, name, &len, e);
	if (p && (size_t)len != want) {
		error__fail(e, EXIT_USAGE, "vmstate node %s, property %s: %d bytes, expected %zu",
			    path, name, len, want);
		return NULL;
	}
	return p;
}

bool vmstate__has_node(const struct vmstate *vs, const char *path)
{
	return vmstate__path_offset(vs->buf, path) >= 0;
}

int vmstate__child(const struct vmstate *vs, const char *path, unsigned index, const char **name,
		   struct error *e)
{
	int off = vmstate__path_offset(vs->buf, path);
	if (off < 0) {
		error__fail(e, EXIT_USAGE, "vmstate has no node %s", path);
		return -1;
	}
	unsigned i = 0;
	int sub;
	fdt_for_each_subnode(sub, vs->buf, off)
	{
		if (i++ == index) {
			*name = fdt_get_name(vs->buf, sub, NULL);
			return *name ? 1 : 0;
		}
	}
	return 0;
}

int vmstate__get_u32(const struct vmstate *vs, const char *path, const char *name, uint32_t *out,
		     struct error *e)
{
	const uint8_t *p = prop_len(vs, path, name, 4, e);
	if (!p)
		return -1;
	*out = vmstate__be32(p);
	return 0;
}

int vmstate__get_u64(const struct vmstate *vs, const char *path, const char *name, uint64_t *out,
		     struct error *e)
{
	const uint8_t *p = prop_len(vs, path, name, 8, e);
	if (!p)
		return -1;
	*out = vmstate__be64(p);
	return 0;
}

int vmstate__get_string(const struct vmstate *vs, const char *path, const char *name,
			const char **out, struct error *e)
{
	int len;
	const uint8_t *p = prop(vs, path, name, &len, e);
	if (!p)
		return -1;
	if (len < 1 || memchr(p, 0, (size_t)len) != p + len - 1) {
		error__fail(e, EXIT_USAGE, "vmstate node %s, property %s: not a string", path,
			    name);
		return -1;
	}
	*out = (const char *)p;
	return 0;
}

int vmstate__get_blob(const struct vmstate *vs, const char *path, const char *name,
		      const void **data, size_t *len, struct error *e)
{
	int n;
	const uint8_t *p = prop(vs, path, name, &n, e);
	if (!p)
		return -1;
	*data = p;
	*len = (size_t)n;
	return 0;
}

int vmstate__get_bytes(const struct vmstate *vs, const char *path, const char *name, void *out,
		       size_t len, struct error *e)
{
	const uint8_t *p = prop_len(vs, path, name, len, e);
	if (!p)
		return -1;
	memcpy(out, p, len);
	return 0;
}

/* Every node must be the one its path finds and every property the one its name finds,
 * or a getter could read a twin of it. The bounds keep these quadratic walks short on a
 * hostile file. */
/* No two siblings with one name, no two properties of a node with one name (libfdt's
 * fdt_check_full takes both; a getter would then see only the first), no path longer
 * than VMSTATE_MAX_PATH, and the node and property limits. One walk: the names of the
 * siblings of every node on the current path are kept on a stack, path lengths per
 * depth (a walk that looked each path up again took 0.1 ms of a 0.3 ms open). */
struct seen {
	int depth;
	const char *name;
	int len;
};

/* The path of the node at off, for a message ("?" if it has none that fits). */
static const char *node_path(const void *fdt, int off, char path[VMSTATE_MAX_PATH])
{
	if (fdt_get_path(fdt, off, path, VMSTATE_MAX_PATH) < 0)
		snprintf(path, VMSTATE_MAX_PATH, "?");
	return path;
}

static int node_path_error(const void *fdt, int off, const char *what, struct error *e)
{
	char path[VMSTATE_MAX_PATH];
	error__fail(e, EXIT_USAGE, what, node_path(fdt, off, path));
	return -1;
}

static int check_props(const void *fdt, int off, int *props, struct error *e)
{
	const char *names[VMSTATE_MAX_NODE_PROPS];
	int here = 0, p;
	fdt_for_each_property_offset(p, fdt, off)
	{
		char path[VMSTATE_MAX_PATH];
		if (here >= VMSTATE_MAX_NODE_PROPS || ++*props > VMSTATE_MAX_PROPS)
			return error__fail(
			    e, EXIT_USAGE,
			    "vmstate has more than %d properties in all or %d in node %s",
			    VMSTATE_MAX_PROPS, VMSTATE_MAX_NODE_PROPS, node_path(fdt, off, path));
		const char *name = NULL;
		int len;
		if (!fdt_getprop_by_offset(fdt, p, &name, &len) || !name)
			return node_path_error(fdt, off,
					       "vmstate node %s has a property without a name", e);
		for (int i = 0; i < here; i++)
			if (!strcmp(names[i], name))
				return error__fail(e, EXIT_USAGE,
						   "vmstate node %s has two properties named %s",
						   node_path(fdt, off, path), name);
		names[here++] = name;
	}
	return 0;
}

static int check_names(const void *fdt, struct error *e)
{
	int plen[VMSTATE_MAX_PATH + 2]; /* path length of the node on the path at each depth */
	struct seen *stack = malloc(VMSTATE_MAX_NODES * sizeof(*stack));
	if (!stack) {
		error__fail(e, EXIT_ERROR, "vmstate: out of memory");
		return -1;
	}
	int nodes = 0, props = 0, top = 0, depth = 0, rc = -1;
	/* With a depth, libfdt's walk ends at depth -1 (the root closed). */
	for (int off = 0; off >= 0 && depth >= 0; off = fdt_next_node(fdt, off, &depth)) {
		if (++nodes > VMSTATE_MAX_NODES) {
			error__fail(e, EXIT_USAGE, "vmstate has more than %d nodes",
				    VMSTATE_MAX_NODES);
			goto out;
		}
		int len;
		const char *name = fdt_get_name(fdt, off, &len);
		if (!name || depth > VMSTATE_MAX_PATH) {
			error__fail(e, EXIT_USAGE, "vmstate has a malformed node");
			goto out;
		}
		/* A path lookup splits at '/': such a name, or an empty one, is not found. */
		if (depth > 0 && (len == 0 || memchr(name, '/', (size_t)len))) {
			node_path_error(
			    fdt, off, "vmstate has a node named with a '/' or not named at all: %s",
			    e);
			goto out;
		}
		/* "/" for the root, then "/name" per level; fdt_get_path needs one more. */
		plen[depth] = depth == 0 ? 1 : (depth == 1 ? 0 : plen[depth - 1]) + 1 + len;
		if (plen[depth] >= VMSTATE_MAX_PATH) {
			error__fail(e, EXIT_USAGE, "vmstate has a node path longer than %d bytes",
				    VMSTATE_MAX_PATH - 1);
			goto out;
		}
		while (top > 0 && stack[top - 1].depth > depth)
			top--; /* the children of earlier siblings */
		for (int i = top; i > 0 && stack[i - 1].depth == depth; i--)
			if (stack[i - 1].len == len &&
			    !memcmp(stack[i - 1].name, name, (size_t)len)) {
				node_path_error(fdt, off, "vmstate has two nodes named %s", e);
				goto out;
			}
		stack[top++] = (struct seen){depth, name, len};
		if (check_props(fdt, off, &props, e))
			goto out;
	}
	rc = 0;
out:
	free(stack);
	return rc;
}

/* Everything that does not depend on what the snapshot code stored. */
static int check_file(struct vmstate *vs, struct error *e)
{
	const uint8_t *b = vs->buf;
	size_t len = vs->len;
	if (len < HEADER_SIZE + VMSTATE_TRAILER_SIZE) {
		error__fail(e, EXIT_USAGE,
			    "vmstate truncated: %zu bytes, a vmstate has at least %zu", len,
			    HEADER_SIZE + VMSTATE_TRAILER_SIZE);
		return -1;
	}
	if (vmstate__be32(b) != FDT_MAGIC) {
		error__fail(e, EXIT_USAGE, "not a vmstate: no device-tree magic at the start");
		return -1;
	}
	/* ember writes version 17 trees. libfdt reads older ones by other paths (no
	 * size_dt_struct before 17, unaligned properties before 16), and fdt_check_full
	 * read address 0 on a version 9 header that fuzz/vmstate made. */
	if (fdt_version(b) != FDT_LAST_SUPPORTED_VERSION) {
		error__fail(e, EXIT_USAGE,
			    "vmstate tree has device-tree version %u; this ember reads version %d",
			    fdt_version(b), FDT_LAST_SUPPORTED_VERSION);
		return -1;
	}
	uint64_t t = vmstate__be32(b + 4); /* totalsize */
	if (t < HEADER_SIZE || t + VMSTATE_TRAILER_SIZE > len) {
		error__fail(e, EXIT_USAGE,
			    "vmstate truncated: its tree says %" PRIu64
			    " bytes and a %d-byte trailer follow, the file has %zu",
			    t, VMSTATE_TRAILER_SIZE, len);
		return -1;
	}
	if (t + VMSTATE_TRAILER_SIZE < len) {
		error__fail(e, EXIT_USAGE, "vmstate has %zu unexpected bytes after its trailer",
			    len - (size_t)t - VMSTATE_TRAILER_SIZE);
		return -1;
	}
	const uint8_t *tr = b + t;
	if (memcmp(tr, VMSTATE_TRAILER_MAGIC, 8)) {
		error__fail(e, EXIT_USAGE, "vmstate trailer damaged: no %s magic",
			    VMSTATE_TRAILER_MAGIC);
		return -1;
	}
	if (vmstate__be32(tr + 8) != VMSTATE_TRAILER_LAYOUT) {
		error__fail(e, EXIT_USAGE,
			    "vmstate trailer layout %u is not supported (this ember reads %d)",
			    vmstate__be32(tr + 8), VMSTATE_TRAILER_LAYOUT);
		return -1;
	}
	if (vmstate__be32(tr + 12) != t) {
		error__fail(e, EXIT_USAGE,
			    "vmstate trailer says the tree has %u bytes, its header %" PRIu64,
			    vmstate__be32(tr + 12), t);
		return -1;
	}
	uint64_t stored = vmstate__be64(tr + 16), crc = vmstate__crc64(b, len - 8);
	if (stored != crc) {
		error__fail(e, EXIT_USAGE,
			    "vmstate checksum mismatch (stored %016" PRIx64 ", computed %016" PRIx64
			    "): the file is damaged",
			    stored, crc);
		return -1;
	}
	int r = fdt_check_full(b, (size_t)t);
	if (r < 0) {
		error__fail(e, EXIT_USAGE, "vmstate tree is malformed: %s", fdt_strerror(r));
		return -1;
	}
	if (check_names(b, e))
		return -1;
	int n;
	const char *compat = fdt_getprop(b, 0, VMSTATE_PROP_COMPATIBLE, &n);
	if (!compat) {
		error__fail(e, EXIT_USAGE, "not a vmstate: the root has no compatible");
		return -1;
	}
	if (fdt_node_check_compatible(b, 0, VMSTATE_COMPATIBLE)) {
		error__fail(e, EXIT_USAGE, "not a vmstate: compatible is \"%.*s\", expected \"%s\"",
			    (int)strnlen(compat, (size_t)n > 64 ? 64 : (size_t)n), compat,
			    VMSTATE_COMPATIBLE);
		return -1;
	}
	const uint8_t *v = prop_len(vs, "/", VMSTATE_PROP_VERSION, 8, e);
	if (!v)
		return -1;
	vs->major = vmstate__be32(v);
	vs->minor = vmstate__be32(v + 4);
	if (vs->major > VMSTATE_MAJOR) {
		error__fail(e, EXIT_USAGE,
			    "vmstate format %u.%u is newer than this ember reads (%d.x): "
			    "load it with a newer ember",
			    vs->major, vs->minor, VMSTATE_MAJOR);
		return -1;
	}
	if (vs->major < VMSTATE_MAJOR) {
		error__fail(e, EXIT_USAGE, "vmstate format %u.%u is not one ember ever wrote",
			    vs->major, vs->minor);
		return -1;
	}
	if (vmstate__get_string(vs, "/", VMSTATE_PROP_EMBER, &vs->ember_version, e) ||
	    vmstate__get_string(vs, "/", VMSTATE_PROP_VENDOR, &vs->cpu_vendor, e))
		return -1;
	return 0;
}

int vmstate__parse(struct vmstate *vs, const void *data, size_t len, struct error *e)
{
	memset(vs, 0, sizeof(*vs));
	if (len > VMSTATE_MAX_FILE) {
		error__fail(e, EXIT_USAGE, "vmstate too large: %zu bytes, at most %u", len,
			    VMSTATE_MAX_FILE);
		return -1;
	}
	/* A private, aligned copy: libfdt reads cells in place. */
	vs->buf = malloc(len ? len : 1);
	if (!vs->buf) {
		error__fail(e, EXIT_ERROR, "vmstate: out of memory");
		return -1;
	}
	if (len)
		memcpy(vs->buf, data, len);
	vs->len = len;
	if (check_file(vs, e)) {
		vmstate__close(vs);
		return -1;
	}
	return 0;
}

int vmstate__open(struct vmstate *vs, const char *path, struct error *e)
{
	memset(vs, 0, sizeof(*vs));
	/* O_NONBLOCK: a FIFO planted at the path must not hang the open. */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		error__fail(e, EXIT_USAGE, "cannot open vmstate %s: %s", path, strerror(errno));
		return -1;
	}
	struct stat st;
	uint8_t *buf = NULL;
	size_t got = 0;
	if (fstat(fd, &st)) {
		error__fail(e, EXIT_USAGE, "cannot stat vmstate %s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		error__fail(e, EXIT_USAGE, "vmstate %s is not a regular file", path);
		goto fail;
	}
	if ((uint64_t)st.st_size > VMSTATE_MAX_FILE) {
		error__fail(e, EXIT_USAGE, "vmstate %s too large: %lld bytes, at most %u", path,
			    (long long)st.st_size, VMSTATE_MAX_FILE);
		goto fail;
	}
	size_t size = (size_t)st.st_size;
	buf = malloc(size ? size : 1);
	if (!buf) {
		error__fail(e, EXIT_ERROR, "vmstate: out of memory");
		goto fail;
	}
	while (got < size) {
		ssize_t n = read(fd, buf + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			error__fail(e, EXIT_ERROR, "cannot read vmstate %s: %s", path,
				    strerror(errno));
			goto fail;
		}
		if (n == 0)
			break; /* it shrank: check_file reports it truncated */
		got += (size_t)n;
	}
	close(fd);
	vs->buf = buf;
	vs->len = got;
	if (check_file(vs, e)) {
		vmstate__close(vs);
		return -1;
	}
	return 0;
fail:
	free(buf);
	close(fd);
	return -1;
}

void vmstate__close(struct vmstate *vs)
{
	free(vs->buf);
	memset(vs, 0, sizeof(*vs));
}

/* ---- memory regions --------------------------------------------------------------- */

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

int vmstate__regions(const struct vmstate *vs, struct vmstate_region *out, size_t max,
		     size_t *count, struct error *e)
{
	const char *name;
	unsigned children = 0;
	int r;
	while ((r = vmstate__child(vs, "/memory", children, &name, e)) == 1)
		children++;
	if (r < 0)
		return -1;
	if (children == 0) {
		error__fail(e, EXIT_USAGE, "vmstate node /memory has no regions");
		return -1;
	}
	if (children > max) {
		error__fail(e, EXIT_USAGE, "vmstate has %u memory regions, at most %zu", children,
			    max);
		return -1;
	}
	for (unsigned i = 0; i < children; i++) {
		char path[48];
		snprintf(path, sizeof(path), "/memory/region@%x", i);
		struct vmstate_region *m = &out[i];
		if (!vmstate__has_node(vs, path)) {
			error__fail(e, EXIT_USAGE, "vmstate has %u memory regions but no node %s",
				    children, path);
			return -1;
		}
		if (vmstate__get_u64(vs, path, "guest-address", &m->guest_address, e) ||
		    vmstate__get_u64(vs, path, "size", &m->size, e) ||
		    vmstate__get_u64(vs, path, "file-offset", &m->file_offset, e))
			return -1;
		const uint64_t pm = VMSTATE_PAGE_SIZE - 1;
		if (!m->size || ((m->guest_address | m->size | m->file_offset) & pm) ||
		    m->guest_address + m->size < m->guest_address ||
		    m->file_offset + m->size < m->file_offset) {
			error__fail(e, EXIT_USAGE,
				    "vmstate %s: guest 0x%" PRIx64 ", 0x%" PRIx64
				    " bytes at file offset 0x%" PRIx64
				    " is empty, not page-aligned or wraps around",
				    path, m->guest_address, m->size, m->file_offset);
			return -1;
		}
		for (unsigned j = 0; j < i; j++) {
			if (overlaps(m->guest_address, m->size, out[j].guest_address,
				     out[j].size) ||
			    overlaps(m->file_offset, m->size, out[j].file_offset, out[j].size)) {
				error__fail(e, EXIT_USAGE,
					    "vmstate memory regions %u and %u overlap", j, i);
				return -1;
			}
		}
	}
	*count = children;
	return 0;
}

int vmstate__check_mem_size(const struct vmstate_region *r, size_t n, uint64_t file_size,
			    struct error *e)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t end = r[i].file_offset + r[i].size;
		if (end < r[i].file_offset || end > file_size) {
			error__fail(e, EXIT_USAGE,
				    "memory file is %" PRIu64
				    " bytes, smaller than memory region %zu "
				    "(0x%" PRIx64 " bytes at offset 0x%" PRIx64 ") needs",
				    file_size, i, r[i].size, r[i].file_offset);
			return -1;
		}
	}
	return 0;
}

int vmstate__check_mem_fd(const struct vmstate_region *r, size_t n, int fd, struct error *e)
{
	struct stat st;
	if (fstat(fd, &st)) {
		error__fail(e, EXIT_ERROR, "cannot stat the memory file: %s", strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		error__fail(e, EXIT_USAGE, "memory file is not a regular file");
		return -1;
	}
	return vmstate__check_mem_size(r, n, (uint64_t)st.st_size, e);
}

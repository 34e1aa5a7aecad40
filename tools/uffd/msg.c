#include "msg.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "api/json.h"

static int bad(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static const char *const keys[] = {"base_host_virt_addr", "size", "offset", "page_size",
				   "page_size_kib"};
enum { K_BASE, K_SIZE, K_OFFSET, K_PAGE, K_PAGE_KIB, NR_KEYS };

static int parse_region(const struct json_doc *d, unsigned obj, unsigned idx, uint64_t page,
			struct uffd_region *r, char *err, size_t errlen)
{
	if (d->toks[obj].type != JSON_OBJECT)
		return bad(err, errlen, "region %u: expected an object, got %s", idx,
			   json__type_name(d->toks[obj].type));
	uint64_t v[NR_KEYS];
	bool seen[NR_KEYS] = {false};
	unsigned k = obj + 1;
	for (uint32_t m = 0; m < d->toks[obj].count; m++, k = d->toks[k + 1].next) {
		unsigned which;
		for (which = 0; which < NR_KEYS; which++)
			if (json__string_eq(d, k, keys[which]))
				break;
		if (which == NR_KEYS) {
			char name[48];
			if (json__string(d, k, name, sizeof(name)))
				snprintf(name, sizeof(name), "(long or invalid name)");
			return bad(err, errlen, "region %u: unknown member '%s'", idx, name);
		}
		if (seen[which])
			return bad(err, errlen, "region %u: '%s' given twice", idx, keys[which]);
		seen[which] = true;
		int rc = json__u64(d, k + 1, UINT64_MAX, &v[which]);
		if (rc)
			return bad(err, errlen, "region %u: '%s' %s", idx, keys[which],
				   rc == JSON_ERANGE ? "is out of range"
						     : "must be an unsigned integer");
	}
	for (unsigned i = 0; i < K_PAGE_KIB; i++)
		if (!seen[i])
			return bad(err, errlen, "region %u: '%s' missing", idx, keys[i]);
	for (unsigned i = K_PAGE; i <= K_PAGE_KIB; i++)
		if (seen[i] && v[i] != page)
			return bad(err, errlen,
				   "region %u: %s %llu: this handler serves %llu-byte pages only",
				   idx, keys[i], (unsigned long long)v[i],
				   (unsigned long long)page);
	*r = (struct uffd_region){.base = v[K_BASE], .size = v[K_SIZE], .offset = v[K_OFFSET]};
	return 0;
}

static bool overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

int uffd_msg__parse(const char *text, size_t len, uint64_t file_size, uint64_t page,
		    struct uffd_region *out, char *err, size_t errlen)
{
	if (len > UFFD_MSG_MAX_BYTES)
		return bad(err, errlen, "message of %zu bytes, at most %d expected", len,
			   UFFD_MSG_MAX_BYTES);
	if (page == 0 || (page & (page - 1)))
		return bad(err, errlen, "page size %llu is not a power of two",
			   (unsigned long long)page);
	struct json_tok toks[1 + UFFD_MSG_MAX_REGIONS * (1 + 2 * NR_KEYS)];
	struct json_doc d;
	char why[128];
	if (json__parse(&d, text, len, toks, sizeof(toks) / sizeof(toks[0]), why, sizeof(why)))
		return bad(err, errlen, "not the JSON expected: %s", why);
	if (d.toks[0].type != JSON_ARRAY)
		return bad(err, errlen, "expected an array of regions, got %s",
			   json__type_name(d.toks[0].type));
	unsigned n = d.toks[0].count;
	if (n == 0 || n > UFFD_MSG_MAX_REGIONS)
		return bad(err, errlen, "%u regions: 1 to %d expected", n, UFFD_MSG_MAX_REGIONS);
	unsigned el = 1;
	for (unsigned i = 0; i < n; i++, el = d.toks[el].next) {
		struct uffd_region *r = &out[i];
		if (parse_region(&d, el, i, page, r, err, errlen))
			return -1;
		if (r->size == 0)
			return bad(err, errlen, "region %u: size 0", i);
		if ((r->base | r->size | r->offset) & (page - 1))
			return bad(err, errlen,
				   "region %u: base_host_virt_addr, size and offset must be "
				   "multiples of the page size (%llu)",
				   i, (unsigned long long)page);
		if (r->base + r->size < r->base)
			return bad(err, errlen, "region %u: wraps around the address space", i);
		if (r->offset > file_size || r->size > file_size - r->offset)
			return bad(err, errlen,
				   "region %u: bytes %llu..%llu of the memory file, which has %llu",
				   i, (unsigned long long)r->offset,
				   (unsigned long long)(r->offset + r->size),
				   (unsigned long long)file_size);
		for (unsigned j = 0; j < i; j++) {
			if (overlap(r->base, r->size, out[j].base, out[j].size))
				return bad(err, errlen, "regions %u and %u overlap in memory", j,
					   i);
			if (overlap(r->offset, r->size, out[j].offset, out[j].size))
				return bad(err, errlen, "regions %u and %u overlap in the file", j,
					   i);
		}
	}
	return (int)n;
}

const struct uffd_region *uffd_msg__find(const struct uffd_region *r, unsigned n, uint64_t addr)
{
	for (unsigned i = 0; i < n; i++)
		if (addr >= r[i].base && addr - r[i].base < r[i].size)
			return &r[i];
	return NULL;
}

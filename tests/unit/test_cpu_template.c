/* CPU templates: Firecracker's bitmap, number and capability strings, the static
 * templates' tables, names, vendors and the digest a snapshot records. */
#include <stdlib.h>
#include <string.h>

#include "arch/x86_64/cpu.h"
#include "check.h"
#include "cpu_template.h"
#include "snapshot.h"

static int bm(const char *s, unsigned bits, uint64_t *f, uint64_t *v)
{
	char err[256];
	return cpu_tpl__parse_bitmap(s, bits, f, v, err, sizeof(err));
}

static void bitmap_good(void)
{
	uint64_t f, v;
	/* Firecracker's own example: 0b0101xxxx on 8 bits. */
	CHECK_EQ(bm("0b0101xxxx", 32, &f, &v), 0);
	CHECK_EQ(f, 0xf0);
	CHECK_EQ(v, 0x50);
	/* Separators do not count; the "0b" is optional. */
	CHECK_EQ(bm("0_101_xx_xx", 32, &f, &v), 0);
	CHECK_EQ(f, 0xf0);
	CHECK_EQ(v, 0x50);
	/* Short: the missing high bits are x. */
	CHECK_EQ(bm("0b101", 32, &f, &v), 0);
	CHECK_EQ(f, 0x7);
	CHECK_EQ(v, 0x5);
	/* Empty: all x. */
	CHECK_EQ(bm("0b", 32, &f, &v), 0);
	CHECK_EQ(f, 0);
	CHECK_EQ(bm("", 32, &f, &v), 0);
	CHECK_EQ(f, 0);
	/* Full width, 32 and 64. */
	CHECK_EQ(bm("0b1xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx0", 32, &f, &v), 0);
	CHECK_EQ(f, 0x80000001u);
	CHECK_EQ(v, 0x80000000u);
	char s[70] = "0b1";
	for (int i = 0; i < 63; i++)
		strcat(s, "0");
	CHECK_EQ(bm(s, 64, &f, &v), 0);
	CHECK_EQ(f, UINT64_MAX);
	CHECK_EQ(v, 1ull << 63);
}

static void bitmap_bad(void)
{
	uint64_t f = 7, v = 7;
	char err[256];
	/* One character too many, even a separator after a full width. */
	CHECK_EQ(bm("0b1xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx00", 32, &f, &v), -1);
	CHECK_EQ(bm("0b_1xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx0", 32, &f, &v), -1);
	CHECK_EQ(cpu_tpl__parse_bitmap("0b012", 32, &f, &v, err, sizeof(err)), -1);
	CHECK(strstr(err, "unknown character '2'") != NULL);
	CHECK_EQ(bm("0bX", 32, &f, &v), -1);
	CHECK_EQ(bm("0x1f", 32, &f, &v), -1); /* not a bitmap */
	CHECK_EQ(bm("0b 1", 32, &f, &v), -1);
	CHECK_EQ(bm("0b1\xcf\xbd", 32, &f, &v), -1);
	/* A failure leaves the outputs alone. */
	CHECK_EQ(f, 7);
	CHECK_EQ(v, 7);
}

static void numbers_and_caps(void)
{
	uint32_t n;
	char err[256];
	CHECK_EQ(cpu_tpl__parse_u32("0x45", &n, err, sizeof(err)), 0);
	CHECK_EQ(n, 69);
	CHECK_EQ(cpu_tpl__parse_u32("0b1000101", &n, err, sizeof(err)), 0);
	CHECK_EQ(n, 69);
	CHECK_EQ(cpu_tpl__parse_u32("0x80000008", &n, err, sizeof(err)), 0);
	CHECK_EQ(n, 0x80000008u);
	CHECK_EQ(cpu_tpl__parse_u32("0xFFFFFFFF", &n, err, sizeof(err)), 0);
	CHECK_EQ(n, UINT32_MAX);
	CHECK_EQ(cpu_tpl__parse_u32("69", &n, err, sizeof(err)), -1); /* no prefix */
	CHECK(strstr(err, "prefix") != NULL);
	CHECK_EQ(cpu_tpl__parse_u32("0x", &n, err, sizeof(err)), -1);
	CHECK_EQ(cpu_tpl__parse_u32("0x100000000", &n, err, sizeof(err)), -1);
	CHECK_EQ(cpu_tpl__parse_u32("0b2", &n, err, sizeof(err)), -1);
	CHECK_EQ(cpu_tpl__parse_u32("0x1g", &n, err, sizeof(err)), -1);
	CHECK_EQ(cpu_tpl__parse_u32("0X1", &n, err, sizeof(err)), -1);

	struct cpu_tpl_cap c;
	CHECK_EQ(cpu_tpl__parse_cap("56", &c, err, sizeof(err)), 0);
	CHECK_EQ(c.cap, 56);
	CHECK(!c.remove);
	CHECK_EQ(cpu_tpl__parse_cap("!56", &c, err, sizeof(err)), 0);
	CHECK_EQ(c.cap, 56);
	CHECK(c.remove);
	CHECK_EQ(cpu_tpl__parse_cap("", &c, err, sizeof(err)), -1);
	CHECK_EQ(cpu_tpl__parse_cap("!", &c, err, sizeof(err)), -1);
	CHECK_EQ(cpu_tpl__parse_cap("-5", &c, err, sizeof(err)), -1);
	CHECK_EQ(cpu_tpl__parse_cap("0x5", &c, err, sizeof(err)), -1);
	CHECK_EQ(cpu_tpl__parse_cap("4294967296", &c, err, sizeof(err)), -1);
	CHECK(strstr(err, "!N") != NULL);
}

static void format_round_trips(void)
{
	char s[70];
	uint64_t f, v;
	cpu_tpl__format_bitmap(0xf0, 0x50, 32, s);
	CHECK_STR(s, "0bxxxxxxxxxxxxxxxxxxxxxxxx0101xxxx");
	CHECK_EQ(bm(s, 32, &f, &v), 0);
	CHECK_EQ(f, 0xf0);
	CHECK_EQ(v, 0x50);
}

/* Every static template's table parses, and the values are Firecracker's. */
static void static_tables(void)
{
	static struct cpu_template in, t;
	for (uint32_t k = CPU_TPL_C3; k <= CPU_TPL_T2A; k++) {
		in.kind = k;
		cpu_templates__resolve(&in, &t);
		CHECK_EQ(t.kind, k);
		CHECK(t.nr_leaves >= 4);
		CHECK(cpu_tpl__vendor(k) != CPU_TPL_ANY);
	}
	in.kind = CPU_TPL_T2A;
	cpu_templates__resolve(&in, &t);
	CHECK_EQ(cpu_tpl__vendor(CPU_TPL_T2A), CPU_TPL_AMD);
	CHECK_EQ(t.nr_leaves, 6);
	CHECK_EQ(t.nr_msrs, 0);
	/* leaf 1 eax: family 6 model 0x3f stepping 2 under 0x0fff3fff. */
	CHECK_EQ(t.leaves[0].leaf, 1);
	CHECK_EQ(t.leaves[0].mods[0].reg, CPU_TPL_EAX);
	CHECK_EQ(t.leaves[0].mods[0].filter, 0x0fff3fffu);
	CHECK_EQ(t.leaves[0].mods[0].value, 0x000306f2u);
	CHECK_EQ(t.leaves[1].leaf, 7);
	CHECK_EQ(t.leaves[1].flags, 1);
	in.kind = CPU_TPL_T2S;
	cpu_templates__resolve(&in, &t);
	CHECK_EQ(cpu_tpl__vendor(CPU_TPL_T2S), CPU_TPL_INTEL);
	CHECK_EQ(t.nr_msrs, 1);
	CHECK_EQ(t.msrs[0].addr, 0x10a);
	CHECK_EQ(t.msrs[0].filter, UINT64_MAX);
	CHECK_EQ(t.msrs[0].value, 0x0c0a0c4cull);
	in.kind = CPU_TPL_NONE;
	cpu_templates__resolve(&in, &t);
	CHECK_EQ(t.nr_leaves + t.nr_msrs + t.nr_caps, 0);
}

static void names_and_digest(void)
{
	CHECK_STR(cpu_tpl__name(CPU_TPL_NONE), "None");
	CHECK_STR(cpu_tpl__name(CPU_TPL_T2CL), "T2CL");
	CHECK_STR(cpu_tpl__name(CPU_TPL_CUSTOM), "custom");
	static struct cpu_template a, b;
	a.kind = b.kind = CPU_TPL_CUSTOM;
	a.nr_leaves = b.nr_leaves = 1;
	a.leaves[0] = b.leaves[0] = (struct cpu_tpl_leaf){
	    .leaf = 1, .nr_mods = 1, .mods = {{.reg = CPU_TPL_ECX, .filter = 1, .value = 0}}};
	CHECK_EQ(cpu_tpl__digest(&a), cpu_tpl__digest(&b));
	b.leaves[0].mods[0].value = 1;
	CHECK(cpu_tpl__digest(&a) != cpu_tpl__digest(&b));
	b = a;
	b.nr_caps = 1;
	b.caps[0].cap = 56;
	CHECK(cpu_tpl__digest(&a) != cpu_tpl__digest(&b));
	static struct cpu_template t2, t2a;
	t2.kind = CPU_TPL_T2;
	t2a.kind = CPU_TPL_T2A;
	CHECK(cpu_tpl__digest(&t2) != cpu_tpl__digest(&t2a));
	char err[256] = "";
	CHECK_EQ(cpu_tpl__check_arch(&t2, err, sizeof(err)), 0); /* x86_64 host */
}

/* The vmstate's /cpu-template record against the template the configuration gives. */
static int parse_with(const struct cpu_template *rec, struct vmstate *vs)
{
	struct vmstate_writer w;
	struct error e;
	uint8_t *buf;
	size_t len;
	if (vmstate_writer__init(&w, "t", &e))
		abort();
	vmstate_writer__set_string(&w, "/config", "json", "{}");
	if (rec)
		snapshot__save_cpu_template(&w, rec);
	int rc = vmstate_writer__finish(&w, &buf, &len, &e);
	vmstate_writer__free(&w);
	if (rc)
		return -1;
	rc = vmstate__parse(vs, buf, len, &e);
	free(buf);
	return rc;
}

static void snapshot_record(void)
{
	static struct cpu_template none, t2a, custom, custom2;
	t2a.kind = CPU_TPL_T2A;
	custom.kind = custom2.kind = CPU_TPL_CUSTOM;
	custom.nr_caps = custom2.nr_caps = 1;
	custom.caps[0].cap = 56;
	custom2.caps[0].cap = 57;
	struct vmstate vs;
	struct error e = {0};
	/* Recorded and matching. */
	CHECK_EQ(parse_with(&t2a, &vs), 0);
	CHECK_EQ(snapshot__check_cpu_template(&vs, &t2a, &e), 0);
	CHECK_EQ(snapshot__check_cpu_template(&vs, &none, &e), -1);
	CHECK(strstr(e.msg, "(T2A, digest") && strstr(e.msg, "(None, digest"));
	vmstate__close(&vs);
	/* A custom one: its content counts, not only its name. */
	CHECK_EQ(parse_with(&custom, &vs), 0);
	CHECK_EQ(snapshot__check_cpu_template(&vs, &custom, &e), 0);
	CHECK_EQ(snapshot__check_cpu_template(&vs, &custom2, &e), -1);
	CHECK(strstr(e.msg, "custom") != NULL);
	vmstate__close(&vs);
	/* A snapshot from before templates: no record, only None matches. */
	CHECK_EQ(parse_with(NULL, &vs), 0);
	CHECK_EQ(snapshot__check_cpu_template(&vs, &none, &e), 0);
	CHECK_EQ(snapshot__check_cpu_template(&vs, &t2a, &e), -1);
	CHECK(strstr(e.msg, "records no CPU template") != NULL);
	vmstate__close(&vs);
}

CHECK_MAIN("cpu-template", CHECK_CASE(bitmap_good), CHECK_CASE(bitmap_bad),
	   CHECK_CASE(numbers_and_caps), CHECK_CASE(format_round_trips), CHECK_CASE(static_tables),
	   CHECK_CASE(names_and_digest), CHECK_CASE(snapshot_record))

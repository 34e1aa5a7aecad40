/* Firecracker's static CPU templates for x86_64 (its docs/cpu_templates/cpu-templates.md
 * and tests/data/custom_cpu_templates/ JSON files): the same bitmaps, in the same tri-state
 * notation a custom template uses, parsed by the same parser when one is resolved. */
#include <assert.h>
#include <string.h>

#include "arch/x86_64/cpu.h"

#define MSR_ROW 0xffu /* reg of a row that is an MSR: leaf is then its address */

struct static_mod {
	uint32_t leaf, subleaf, flags, reg;
	const char *bitmap;
};

/* clang-format off */
static const struct static_mod c3[] = {
    {0x1, 0x0, 0, CPU_TPL_EAX, "0bxxxx000000000011xx00011011100100"},
    {0x1, 0x0, 0, CPU_TPL_ECX, "0bxxxxxxxxx0xxxxxx00x000x0xx0000xx"},
    {0x1, 0x0, 0, CPU_TPL_EDX, "0b0x0x0xxxx00xx0xxxxx1xxxx1xxxxxxx"},
    {0x7, 0x0, 1, CPU_TPL_EBX, "0b000000000x0x000000x000x0xx0000xx"},
    {0x7, 0x0, 1, CPU_TPL_ECX, "0bx0xxxxxxx0xxxxx0x0xx0xxxxxx0000x"},
    {0x7, 0x0, 1, CPU_TPL_EDX, "0bxxxxxxxxxxxxxxxxxxxxxxxxxxxx00xx"},
    {0xd, 0x0, 1, CPU_TPL_EAX, "0bxxxxxxxxxxxxxxxxxxxxxx0x00000xxx"},
    {0xd, 0x1, 1, CPU_TPL_EAX, "0bxxxxxxxxxxxxxxxxxxxxxxxxxxxx000x"},
    {0x80000001, 0x0, 0, CPU_TPL_ECX, "0bxxxxxxxxxxxxxxxxxxxxxxx0xx0xxxxx"},
    {0x80000001, 0x0, 0, CPU_TPL_EDX, "0bxxxxx0xxxxxxxxxxxxxxxxxxxxxxxxxx"},
};
static const struct static_mod t2[] = {
    {0x1, 0x0, 0, CPU_TPL_EAX, "0bxxxx000000000011xx00011011110010"},
    {0x1, 0x0, 0, CPU_TPL_ECX, "0bxxxxxxxxxxxxx0xx00xx00x0000000xx"},
    {0x1, 0x0, 0, CPU_TPL_EDX, "0b000x0xxxx00xx0xxxxx1xxxx1xxxxxxx"},
    {0x7, 0x0, 1, CPU_TPL_EBX, "0b00000000000x000000x00x1xxxx0x0xx"},
    {0x7, 0x0, 1, CPU_TPL_ECX, "0bx0xxxxxxx0xxxxx0x0x00000x0x0000x"},
    {0x7, 0x0, 1, CPU_TPL_EDX, "0bxxxxxxxxxxxxxxxxxxxxxxx0xxx000xx"},
    {0xd, 0x0, 1, CPU_TPL_EAX, "0bxxxxxxxxxxxxxxxxxxxxxx0x00000xxx"},
    {0xd, 0x1, 1, CPU_TPL_EAX, "0bxxxxxxxxxxxxxxxxxxxxxxxxxxxx000x"},
    {0x80000001, 0x0, 0, CPU_TPL_ECX, "0bxx0xxxxxxxxxxxxxxxxxxxx0xxxxxxxx"},
    {0x80000001, 0x0, 0, CPU_TPL_EDX, "0bxxxxx0xxxxxxxxxxxxxxxxxxxxxxxxxx"},
    {0x80000008, 0x0, 0, CPU_TPL_EBX, "0bxxxxxxxxxxxxxxxxxxxxxx0xxxxxxxxx"},
};
static const struct static_mod t2s[] = {
    {0x1, 0x0, 0, CPU_TPL_EAX, "0bxxxx000000000011xx00011011110010"},
    {0x1, 0x0, 0, CPU_TPL_ECX, "0bxxxxxxxxxxxxx0xx00xx00x0000000xx"},
    {0x1, 0x0, 0, CPU_TPL_EDX, "0b000x0xxxx00xx0xxxxx1xxxx1xxxxxxx"},
    {0x7, 0x0, 1, CPU_TPL_EBX, "0b00000000000x000000x00x1xxxx0x0xx"},
    {0x7, 0x0, 1, CPU_TPL_ECX, "0bx0xxxxxxx0xxxxx0x0x00000x0x0000x"},
    {0x7, 0x0, 1, CPU_TPL_EDX, "0bxxxxxxxxxxxxxxxxxxxxxxx0xxx000xx"},
    {0xd, 0x0, 1, CPU_TPL_EAX, "0bxxxxxxxxxxxxxxxxxxxxxx0x00000xxx"},
    {0xd, 0x1, 1, CPU_TPL_EAX, "0bxxxxxxxxxxxxxxxxxxxxxxxxxxxx000x"},
    {0x80000001, 0x0, 0, CPU_TPL_ECX, "0bxx0xxxxxxxxxxxxxxxxxxxx0xxxxxxxx"},
    {0x80000001, 0x0, 0, CPU_TPL_EDX, "0bxxxxx0xxxxxxxxxxxxxxxxxxxxxxxxxx"},
    {0x80000008, 0x0, 0, CPU_TPL_EBX, "0bxxxxxxxxxxxxxxxxxxxxxx0xxxxxxxxx"},
    {0x10a, 0, 0, MSR_ROW, "0b0000000000000000000000000000000000001100000010100000110001001100"},
};
static const struct static_mod t2cl[] = {
    {0x1, 0x0, 0, CPU_TPL_EAX, "0bxxxx000000000011xx00011011110010"},
    {0x1, 0x0, 0, CPU_TPL_ECX, "0bxxxxxxxxxxxxx0xx00xx00x0000000xx"},
    {0x1, 0x0, 0, CPU_TPL_EDX, "0b000x0xxxx00xx0xxxxx1xxxx1xxxxxxx"},
    {0x7, 0x0, 1, CPU_TPL_EBX, "0b00000000000x000000x00x1xxxx0x0xx"},
    {0x7, 0x0, 1, CPU_TPL_ECX, "0bx0xxxxxxx0xxxxx0x0x00000x0x0000x"},
    {0x7, 0x0, 1, CPU_TPL_EDX, "0bxxxxxxxxxxxxxxxxxxxxxxx0xxx000xx"},
    {0xd, 0x0, 1, CPU_TPL_EAX, "0bxxxxxxxxxxxxxxxxxxxxxx0x00000xxx"},
    {0xd, 0x1, 1, CPU_TPL_EAX, "0bxxxxxxxxxxxxxxxxxxxxxxxxxxxx000x"},
    {0x80000001, 0x0, 0, CPU_TPL_ECX, "0bxx0xxxxxxxxxxxxxxxxxxxx000xxxxxx"},
    {0x80000001, 0x0, 0, CPU_TPL_EDX, "0bxxxxx00000xxxxxxxxxxxxxxxxxxxxxx"},
    {0x80000008, 0x0, 0, CPU_TPL_EBX, "0bxxxxxxxxxxxxxxxxxxxxxx0xxxxxxxxx"},
    {0x10a, 0, 0, MSR_ROW, "0b00000000000000000000000000000000000xxx0x0000x0x0xxx0000xxxxxxxxx"},
};
static const struct static_mod t2a[] = {
    {0x1, 0x0, 0, CPU_TPL_EAX, "0bxxxx000000000011xx00011011110010"},
    {0x1, 0x0, 0, CPU_TPL_ECX, "0bxxxxxxxxxxxxx0xx00xx00x0000000xx"},
    {0x1, 0x0, 0, CPU_TPL_EDX, "0b000x0xxxx00xx0xxxxx1xxxx1xxxxxxx"},
    {0x7, 0x0, 1, CPU_TPL_EBX, "0b00000000000x000000x00x1xxxx0x0xx"},
    {0x7, 0x0, 1, CPU_TPL_ECX, "0bx0xxxxxxx0xxxxx0x0x00000x0x0000x"},
    {0x7, 0x0, 1, CPU_TPL_EDX, "0bxxxxxxxxxxxxxxxxxxxxxxx0xxx000xx"},
    {0xd, 0x0, 1, CPU_TPL_EAX, "0bxxxxxxxxxxxxxxxxxxxxxx0x00000xxx"},
    {0xd, 0x1, 1, CPU_TPL_EAX, "0bxxxxxxxxxxxxxxxxxxxxxxxxxxxx000x"},
    {0x80000001, 0x0, 0, CPU_TPL_ECX, "0bxx0xxxxxxxxxxxxxxxxxxxx000xxx0xx"},
    {0x80000001, 0x0, 0, CPU_TPL_EDX, "0bxxxxx00xx0xxxxxxxxxxxxxxxxxxxxxx"},
    {0x80000008, 0x0, 0, CPU_TPL_EBX, "0bxxxxxxxxxxx111xxxxxxxx0xxxxxx1x0"},
};
/* clang-format on */

#define ROWS(t) t, sizeof(t) / sizeof(t[0])

static const struct {
	const struct static_mod *rows;
	size_t n;
} tables[CPU_TPL_CUSTOM] = {
    [CPU_TPL_C3] = {ROWS(c3)},	   [CPU_TPL_T2] = {ROWS(t2)},	[CPU_TPL_T2S] = {ROWS(t2s)},
    [CPU_TPL_T2CL] = {ROWS(t2cl)}, [CPU_TPL_T2A] = {ROWS(t2a)},
};

static struct cpu_tpl_leaf *leaf_for(struct cpu_template *t, const struct static_mod *m)
{
	for (uint32_t i = 0; i < t->nr_leaves; i++)
		if (t->leaves[i].leaf == m->leaf && t->leaves[i].subleaf == m->subleaf)
			return &t->leaves[i];
	assert(t->nr_leaves < CPU_TPL_MAX_LEAVES);
	struct cpu_tpl_leaf *l = &t->leaves[t->nr_leaves++];
	*l = (struct cpu_tpl_leaf){.leaf = m->leaf, .subleaf = m->subleaf, .flags = m->flags};
	return l;
}

void cpu_templates__resolve(const struct cpu_template *in, struct cpu_template *out)
{
	if (in->kind == CPU_TPL_CUSTOM || in->kind >= CPU_TPL_NR_KINDS) {
		*out = *in;
		return;
	}
	memset(out, 0, sizeof(*out));
	out->kind = in->kind;
	if (in->kind == CPU_TPL_NONE)
		return;
	for (size_t i = 0; i < tables[in->kind].n; i++) {
		const struct static_mod *m = &tables[in->kind].rows[i];
		uint64_t f, v;
		char why[160];
		int rc = cpu_tpl__parse_bitmap(m->bitmap, m->reg == MSR_ROW ? 64 : 32, &f, &v, why,
					       sizeof(why));
		assert(rc == 0); /* the tables are constants, checked by test_cpu_template */
		(void)rc;
		if (m->reg == MSR_ROW) {
			assert(out->nr_msrs < CPU_TPL_MAX_MSRS);
			out->msrs[out->nr_msrs++] =
			    (struct cpu_tpl_msr){.addr = m->leaf, .filter = f, .value = v};
			continue;
		}
		struct cpu_tpl_leaf *l = leaf_for(out, m);
		assert(l->nr_mods < CPU_TPL_MAX_REG_MODS);
		l->mods[l->nr_mods++] = (struct cpu_tpl_reg_mod){
		    .reg = m->reg, .filter = (uint32_t)f, .value = (uint32_t)v};
	}
}

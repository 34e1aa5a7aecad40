#include "cpu_template.h"

#include <stdio.h>
#include <string.h>

const char *const cpu_tpl_names[] = {"None", "C3", "T2", "T2S", "T2CL", "T2A", NULL};

static int fail(char *err, size_t errlen, const char *fmt, const char *s)
{
	snprintf(err, errlen, fmt, s);
	return -1;
}

int cpu_tpl__parse_bitmap(const char *s, unsigned bits, uint64_t *filter, uint64_t *value,
			  char *err, size_t errlen)
{
	const char *p = strncmp(s, "0b", 2) == 0 ? s + 2 : s;
	uint64_t f = 0, v = 0;
	unsigned i = 0;
	/* From the last character (bit 0) up, as Firecracker reads it: a character
	 * past the width, even a '_', makes the string too long. */
	for (size_t k = strlen(p); k-- > 0;) {
		if (i == bits)
			return fail(err, errlen, "bitmap '%.80s': longer than the register", s);
		switch (p[k]) {
		case '_':
			continue;
		case 'x':
			break;
		case '0':
			f |= 1ull << i;
			break;
		case '1':
			f |= 1ull << i;
			v |= 1ull << i;
			break;
		default:
			snprintf(err, errlen,
				 "bitmap '%.80s': unknown character '%c' (only 0, 1, x, _)", s,
				 p[k] >= 0x20 && p[k] < 0x7f ? p[k] : '?');
			return -1;
		}
		i++;
	}
	*filter = f;
	*value = v;
	return 0;
}

/* Rust's u32::from_str_radix, as Firecracker's templates use it: an optional '+',
 * then at least one digit of the radix, no overflow. */
static int parse_radix(const char *s, unsigned radix, uint32_t *out)
{
	if (*s == '+')
		s++;
	if (!*s)
		return -1;
	uint64_t v = 0;
	for (; *s; s++) {
		unsigned d;
		if (*s >= '0' && *s <= '9')
			d = (unsigned)(*s - '0');
		else if (*s >= 'a' && *s <= 'f')
			d = (unsigned)(*s - 'a' + 10);
		else if (*s >= 'A' && *s <= 'F')
			d = (unsigned)(*s - 'A' + 10);
		else
			return -1;
		if (d >= radix)
			return -1;
		v = v * radix + d;
		if (v > UINT32_MAX)
			return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

int cpu_tpl__parse_u32(const char *s, uint32_t *out, char *err, size_t errlen)
{
	unsigned radix = strncmp(s, "0x", 2) == 0 ? 16 : strncmp(s, "0b", 2) == 0 ? 2 : 0;
	if (!radix)
		return fail(err, errlen,
			    "'%.80s': no number prefix (\"0x\" for hexadecimal, \"0b\" for binary)",
			    s);
	if (parse_radix(s + 2, radix, out))
		return fail(err, errlen, "'%.80s': not a 32-bit number", s);
	return 0;
}

int cpu_tpl__parse_cap(const char *s, struct cpu_tpl_cap *out, char *err, size_t errlen)
{
	bool remove = s[0] == '!';
	uint32_t v;
	if (parse_radix(s + remove, 10, &v))
		return fail(err, errlen,
			    "'%.80s': not a KVM capability number (\"N\" to require it, \"!N\" "
			    "to stop requiring it)",
			    s);
	out->cap = v;
	out->remove = remove;
	return 0;
}

void cpu_tpl__format_bitmap(uint64_t filter, uint64_t value, unsigned bits, char *out)
{
	*out++ = '0';
	*out++ = 'b';
	for (unsigned i = bits; i-- > 0;)
		*out++ = !(filter >> i & 1) ? 'x' : (value >> i & 1) ? '1' : '0';
	*out = '\0';
}

const char *cpu_tpl__name(uint32_t kind)
{
	return kind < CPU_TPL_CUSTOM ? cpu_tpl_names[kind] : "custom";
}

enum cpu_tpl_vendor cpu_tpl__vendor(uint32_t kind)
{
	switch (kind) {
	case CPU_TPL_C3:
	case CPU_TPL_T2:
	case CPU_TPL_T2S:
	case CPU_TPL_T2CL:
		return CPU_TPL_INTEL;
	case CPU_TPL_T2A:
		return CPU_TPL_AMD;
	default:
		return CPU_TPL_ANY;
	}
}

const char *cpu_tpl__vendor_name(enum cpu_tpl_vendor v)
{
	return v == CPU_TPL_INTEL ? "GenuineIntel" : v == CPU_TPL_AMD ? "AuthenticAMD" : "any";
}

int cpu_tpl__check_arch(const struct cpu_template *t, char *err, size_t errlen)
{
#if defined(__aarch64__)
	if (t->kind != CPU_TPL_NONE && t->kind != CPU_TPL_CUSTOM)
		return fail(err, errlen,
			    "cpu_template: %s is an x86_64 CPU template; on aarch64 ember has "
			    "only None",
			    cpu_tpl__name(t->kind));
	if (t->kind == CPU_TPL_CUSTOM && (t->nr_leaves || t->nr_msrs))
		return fail(err, errlen,
			    "cpu-config: %s are x86_64 modifiers; this host is aarch64",
			    t->nr_leaves ? "cpuid_modifiers" : "msr_modifiers");
#endif
	(void)t;
	(void)err;
	(void)errlen;
	return 0;
}

static uint64_t fnv(uint64_t h, uint64_t v)
{
	for (unsigned i = 0; i < 8; i++) {
		h ^= (v >> (8 * i)) & 0xff;
		h *= 0x100000001b3ull;
	}
	return h;
}

uint64_t cpu_tpl__digest(const struct cpu_template *t)
{
	uint64_t h = fnv(0xcbf29ce484222325ull, t->kind);
	if (t->kind != CPU_TPL_CUSTOM)
		return h;
	h = fnv(h, t->nr_leaves);
	for (uint32_t i = 0; i < t->nr_leaves; i++) {
		const struct cpu_tpl_leaf *l = &t->leaves[i];
		h = fnv(fnv(fnv(fnv(h, l->leaf), l->subleaf), l->flags), l->nr_mods);
		for (uint32_t m = 0; m < l->nr_mods && m < CPU_TPL_MAX_REG_MODS; m++)
			h = fnv(fnv(fnv(h, l->mods[m].reg), l->mods[m].filter), l->mods[m].value);
	}
	h = fnv(h, t->nr_msrs);
	for (uint32_t i = 0; i < t->nr_msrs; i++)
		h = fnv(fnv(fnv(h, t->msrs[i].addr), t->msrs[i].filter), t->msrs[i].value);
	h = fnv(h, t->nr_caps);
	for (uint32_t i = 0; i < t->nr_caps; i++)
		h = fnv(fnv(h, t->caps[i].cap), t->caps[i].remove);
	return h;
}

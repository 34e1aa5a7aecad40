/* CPU templates (Firecracker's docs/cpu_templates/): a static template named by
 * machine-config.cpu_template, or a custom one given by PUT /cpu-config. Both are the
 * same data: CPUID register bitmaps, MSR bitmaps and KVM capabilities to add to or
 * drop from the ones ember checks. A bitmap is a filter (the bits it fixes) and a
 * value: a register becomes (old & ~filter) | value. Applying one to a vCPU is the
 * architecture's (vmm/arch/x86_64/cpu.c); this is the model, its parsers and names. */
#ifndef EMBER_CPU_TEMPLATE_H
#define EMBER_CPU_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds of a custom template: Firecracker's largest static one has 8 leaves and one
 * MSR; these leave room for a whole fleet's normalisation and keep the config small. */
#define CPU_TPL_MAX_LEAVES   64
#define CPU_TPL_MAX_REG_MODS 8
#define CPU_TPL_MAX_MSRS     32
#define CPU_TPL_MAX_CAPS     32

/* machine-config.cpu_template's names in this order; CUSTOM is PUT /cpu-config's. */
enum cpu_tpl_kind {
	CPU_TPL_NONE,
	CPU_TPL_C3,
	CPU_TPL_T2,
	CPU_TPL_T2S,
	CPU_TPL_T2CL,
	CPU_TPL_T2A,
	CPU_TPL_CUSTOM,
	CPU_TPL_NR_KINDS,
};
/* "None", "C3", ..., NULL: the choices of machine-config.cpu_template. */
extern const char *const cpu_tpl_names[];

enum cpu_tpl_vendor { CPU_TPL_ANY, CPU_TPL_INTEL, CPU_TPL_AMD };

enum cpu_tpl_reg { CPU_TPL_EAX, CPU_TPL_EBX, CPU_TPL_ECX, CPU_TPL_EDX };

struct cpu_tpl_reg_mod {
	uint32_t reg; /* enum cpu_tpl_reg */
	uint32_t filter, value;
};

struct cpu_tpl_leaf {
	uint32_t leaf, subleaf;
	uint32_t flags; /* KVM_CPUID_FLAG_*, given to the entry as Firecracker does */
	uint32_t nr_mods;
	struct cpu_tpl_reg_mod mods[CPU_TPL_MAX_REG_MODS];
};

struct cpu_tpl_msr {
	uint32_t addr;
	uint64_t filter, value;
};

/* A KVM capability the template adds to ember's checks, or drops from them ("!N"). */
struct cpu_tpl_cap {
	uint32_t cap;
	bool remove;
};

struct cpu_template {
	uint32_t kind; /* enum cpu_tpl_kind; the lists below are CUSTOM's */
	uint32_t nr_leaves, nr_msrs, nr_caps;
	struct cpu_tpl_leaf leaves[CPU_TPL_MAX_LEAVES];
	struct cpu_tpl_msr msrs[CPU_TPL_MAX_MSRS];
	struct cpu_tpl_cap caps[CPU_TPL_MAX_CAPS];
};

/* Firecracker's tri-state bitmap: an optional "0b", then up to `bits` characters of
 * 0, 1 and x (x: leave the bit alone), '_' anywhere as a separator, the last
 * character being bit 0; a shorter string leaves its missing high bits x. Returns 0
 * with *filter (the 0/1 bits) and *value (the 1 bits), or -1 with a reason in err.
 * bits is 32 or 64. Client input: fuzzed (tests/fuzz/fuzz_cpu_config.c). */
int cpu_tpl__parse_bitmap(const char *s, unsigned bits, uint64_t *filter, uint64_t *value,
			  char *err, size_t errlen);
/* Firecracker's numbers in templates: "0x" hex or "0b" binary, at most 32 bits. */
int cpu_tpl__parse_u32(const char *s, uint32_t *out, char *err, size_t errlen);
/* A kvm_capabilities entry: "N" adds KVM capability N, "!N" drops it (decimal u32). */
int cpu_tpl__parse_cap(const char *s, struct cpu_tpl_cap *out, char *err, size_t errlen);
/* The bitmap's text, "0b" and bits characters (out holds at least bits + 3 bytes). */
void cpu_tpl__format_bitmap(uint64_t filter, uint64_t value, unsigned bits, char *out);

/* The template kind's name ("custom" for CUSTOM). */
const char *cpu_tpl__name(uint32_t kind);
/* Which vendor a static template is for (ANY for None and custom ones). */
enum cpu_tpl_vendor cpu_tpl__vendor(uint32_t kind);
const char *cpu_tpl__vendor_name(enum cpu_tpl_vendor v);
/* Whether this build's architecture can have a template of that kind: aarch64 has
 * only None and custom templates of KVM capabilities. 0, or -1 with a reason. */
int cpu_tpl__check_arch(const struct cpu_template *t, char *err, size_t errlen);
/* A 64-bit digest of what the template does (kind and every list), for the snapshot. */
uint64_t cpu_tpl__digest(const struct cpu_template *t);

#endif

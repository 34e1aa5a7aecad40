/* Firecracker's custom CPU template (PUT /cpu-config, the config file's "cpu-config"):
 * its JSON form to and from struct cpu_template. */
#ifndef EMBER_API_CPU_CONFIG_H
#define EMBER_API_CPU_CONFIG_H

#include "cpu_template.h"
#include "error.h"
#include "json.h"

/* Decodes object token obj of d into *out (kind CUSTOM), as Firecracker's serde does:
 * kvm_capabilities ["N" | "!N"], cpuid_modifiers [{leaf, subleaf ("0x.."/"0b.."),
 * flags (number), modifiers [{register, bitmap}]}], msr_modifiers [{addr, bitmap}];
 * each list may be left out; an unknown top-level member is refused (aarch64's
 * reg_modifiers and vcpu_features by name), unknown members inside are ignored (serde's
 * default there). On failure e names the member (cpuid_modifiers[1].modifiers[0].bitmap)
 * and *out may be half-written: decode into a copy. Client input: fuzzed. */
int cpu_config__decode(const struct json_doc *d, unsigned obj, struct cpu_template *out,
		       struct error *e);
/* A custom template in the same JSON form (hex numbers, full-width bitmaps). */
void cpu_config__encode(const struct cpu_template *t, struct json_out *o);
/* The config file's "cpu-config" given as a path: reads that file (at most 64 KiB) and
 * decodes it as above. */
int cpu_config__load_file(const char *path, struct cpu_template *out, struct error *e);

#endif

/* Build-time tool: turns the allowlists of seccomp/allowlist.c into BPF with libseccomp
 * and writes them as C arrays, so that ember itself needs no libseccomp.
 *
 *   seccomp-compile OUT.c     also writes OUT.pfc, the filters in readable form
 */
#include <errno.h>
#include <linux/filter.h>
#include <seccomp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "seccomp/allowlist.h"
#include "seccomp/bpfopt.h"

/* The filters are for the architecture ember is built for, which is not always the
 * build host's: an aarch64 build compiles this tool for x86_64 with arm64's asm/
 * headers (their ioctl numbers) and SECCOMP_TARGET_AARCH64. */
#ifdef SECCOMP_TARGET_AARCH64
#define TARGET_ARCH SCMP_ARCH_AARCH64
#else
#define TARGET_ARCH SCMP_ARCH_X86_64
#endif

static const char *const thread_names[SECCOMP_NR_THREADS] = {
    [SECCOMP_VMM] = "vmm",
    [SECCOMP_API] = "api",
    [SECCOMP_VCPU] = "vcpu",
    [SECCOMP_VCPU_BOOT_TIMER] = "vcpu_boot_timer",
    [SECCOMP_VMM_PREBOOT] = "vmm_preboot",
};

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("seccomp-compile: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

/* The system call's number on the architecture the filters are for. */
static int target_nr(const char *name)
{
	int nr = seccomp_syscall_resolve_name_arch(TARGET_ARCH, name);
	if (nr == __NR_SCMP_ERROR || nr < 0)
		fail("unknown system call '%s' in the allowlist", name);
	return nr;
}

static int resolve(const char *name)
{
	target_nr(name);
	/* libseccomp takes rule numbers in the build host's numbering and translates
	 * them, by name, for each architecture of the filter. */
	int nr = seccomp_syscall_resolve_name(name);
	if (nr == __NR_SCMP_ERROR || nr < 0)
		fail("system call '%s' has no number on the build host", name);
	return nr;
}

static scmp_filter_ctx build(const struct sc_list *list, uint32_t def_action, const char *thread)
{
	scmp_filter_ctx ctx = seccomp_init(def_action);
	if (!ctx)
		fail("seccomp_init failed");
	int rc = 0;
	if (TARGET_ARCH != seccomp_arch_native()) {
		rc = seccomp_arch_add(ctx, TARGET_ARCH);
		if (rc == 0)
			rc = seccomp_arch_remove(ctx, SCMP_ARCH_NATIVE);
		if (rc)
			fail("seccomp_arch_add: %s", strerror(-rc));
	}
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (rc == 0)
		rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	if (rc)
		fail("seccomp_attr_set: %s", strerror(-rc));
	for (unsigned i = 0; i < list->nr_rules; i++) {
		const struct sc_rule *r = &list->rules[i];
		struct scmp_arg_cmp cmps[SC_MAX_CMPS];
		for (unsigned c = 0; c < r->nr_cmps; c++)
			cmps[c] = (struct scmp_arg_cmp){.arg = r->cmps[c].arg,
							.op = SCMP_CMP_MASKED_EQ,
							.datum_a = r->cmps[c].mask,
							.datum_b = r->cmps[c].value};
		rc = seccomp_rule_add_exact_array(ctx, SCMP_ACT_ALLOW, resolve(r->syscall),
						  r->nr_cmps, cmps);
		if (rc && rc != -EEXIST)
			fail("%s: rule %u (%s): %s", thread, i, r->syscall, strerror(-rc));
	}
	if (def_action == SCMP_ACT_TRAP) {
		/* The debug handler has to return from SIGSYS. */
		rc = seccomp_rule_add_exact(ctx, SCMP_ACT_ALLOW, resolve("rt_sigreturn"), 0);
		if (rc && rc != -EEXIST)
			fail("%s: rt_sigreturn: %s", thread, strerror(-rc));
	}
	return ctx;
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Argument values worth trying: every value and mask the rules compare with, each also
 * with a bit flipped and with upper bits set, and the edges. */
static unsigned arg_pool(const struct sc_list *list, uint64_t *pool, unsigned max)
{
	unsigned n = 0;
	static const uint64_t edges[] = {0, 1, 0xffffffffull, 1ull << 32, ~0ull};
	for (unsigned i = 0; i < sizeof(edges) / sizeof(edges[0]); i++)
		pool[n++] = edges[i];
	for (unsigned i = 0; i < list->nr_rules; i++) {
		for (unsigned c = 0; c < list->rules[i].nr_cmps && n + 4 <= max; c++) {
			uint64_t v = list->rules[i].cmps[c].value;
			pool[n++] = v;
			pool[n++] = v ^ 1;
			pool[n++] = v | 1ull << 32;
			pool[n++] = v ^ list->rules[i].cmps[c].mask;
		}
	}
	return n;
}

/* Runs both programs on one call; any difference means the rewrite is wrong. */
static void same_verdict(const struct sock_filter *a, unsigned alen, const struct sock_filter *b,
			 unsigned blen, const struct seccomp_data *d, const char *name)
{
	uint32_t ra, rb;
	if (!bpfopt__run(a, alen, d, &ra))
		fail("%s: libseccomp's program has an instruction the checker does not know", name);
	if (!bpfopt__run(b, blen, d, &rb) || ra != rb)
		fail("%s: the rewritten program decides nr %d (args %#llx %#llx %#llx) differently",
		     name, d->nr, (unsigned long long)d->args[0], (unsigned long long)d->args[1],
		     (unsigned long long)d->args[2]);
}

/* Proves on a large sample of calls that `opt` decides as libseccomp's `orig` does:
 * every number with and without the x32 bit under three architectures, arguments drawn
 * from the values the rules compare with, and calls built to satisfy each rule. */
static void check_rewrite(const struct sock_filter *orig, unsigned olen,
			  const struct sock_filter *opt, unsigned nlen, const struct sc_list *list,
			  const char *name)
{
	/* TARGET_ARCH is one of them. */
	static const uint32_t arches[] = {SCMP_ARCH_X86_64, SCMP_ARCH_X86, SCMP_ARCH_AARCH64};
	uint64_t pool[4 * SC_MAX_CMPS * 512 + 8];
	unsigned npool = arg_pool(list, pool, sizeof(pool) / sizeof(pool[0]));
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	struct seccomp_data d;
	for (unsigned a = 0; a < sizeof(arches) / sizeof(arches[0]); a++) {
		for (int nr = 0; nr < 1024; nr++) {
			for (unsigned x32 = 0; x32 < 2; x32++) {
				for (unsigned k = 0; k < 24; k++) {
					memset(&d, 0, sizeof(d));
					d.arch = arches[a];
					d.nr = (int)((unsigned)nr | (x32 ? 0x40000000u : 0));
					for (unsigned g = 0; g < 6 && k; g++)
						d.args[g] = pool[xorshift(&seed) % npool];
					same_verdict(orig, olen, opt, nlen, &d, name);
				}
			}
		}
	}
	for (unsigned i = 0; i < list->nr_rules; i++) {
		const struct sc_rule *r = &list->rules[i];
		int nr = target_nr(r->syscall);
		for (unsigned k = 0; k < 64; k++) {
			memset(&d, 0, sizeof(d));
			d.arch = TARGET_ARCH;
			d.nr = nr;
			for (unsigned g = 0; g < 6; g++)
				d.args[g] = pool[xorshift(&seed) % npool];
			/* Satisfy every comparison, then break one of them in half the runs. */
			for (unsigned c = 0; c < r->nr_cmps; c++) {
				uint64_t m = r->cmps[c].mask;
				d.args[r->cmps[c].arg] =
				    (d.args[r->cmps[c].arg] & ~m) | r->cmps[c].value;
			}
			if (r->nr_cmps && k % 2)
				d.args[r->cmps[k / 2 % r->nr_cmps].arg] ^= 1ull << (k / 2 % 64);
			same_verdict(orig, olen, opt, nlen, &d, name);
		}
	}
}

/* Writes the program as a C array; returns its length in instructions. */
static unsigned emit(FILE *out, scmp_filter_ctx ctx, const char *name, const struct sc_list *list)
{
	FILE *tmp = tmpfile();
	if (!tmp)
		fail("tmpfile: %s", strerror(errno));
	int rc = seccomp_export_bpf(ctx, fileno(tmp));
	if (rc)
		fail("seccomp_export_bpf: %s", strerror(-rc));
	rewind(tmp);
	static struct sock_filter orig[BPF_MAXINSNS], prog[BPF_MAXINSNS];
	unsigned olen = (unsigned)fread(orig, sizeof(orig[0]), BPF_MAXINSNS, tmp);
	if (olen == 0 || olen >= BPF_MAXINSNS || (!feof(tmp) && fgetc(tmp) != EOF))
		fail("%s: %u instructions", name, olen);
	fclose(tmp);
	memcpy(prog, orig, olen * sizeof(orig[0]));
	unsigned n = bpfopt__drop_dead_upper_tests(prog, olen);
	check_rewrite(orig, olen, prog, n, list, name);
	if (n > SECCOMP_MAX_PROGRAM)
		fail("%s: %u instructions, more than SECCOMP_MAX_PROGRAM (%u, seccomp/filters.h)",
		     name, n, SECCOMP_MAX_PROGRAM);

	fprintf(out, "/* %u instructions; libseccomp's %u less its dead upper-half tests */\n", n,
		olen);
	fprintf(out, "static const struct sock_filter %s[] = {\n", name);
	for (unsigned i = 0; i < n; i++) {
		const struct sock_filter *insn = &prog[i];
		/* install.c patches descriptor stand-ins in JEQ instructions only. */
		if ((insn->k == SECCOMP_FD_VM || insn->k == SECCOMP_FD_VCPU) &&
		    insn->code != (BPF_JMP | BPF_JEQ | BPF_K))
			fail("%s: a descriptor stand-in outside a BPF_JEQ (code 0x%04x)", name,
			     insn->code);
		fprintf(out, "\t{0x%04x, %u, %u, 0x%08x},\n", insn->code, insn->jt, insn->jf,
			insn->k);
	}
	fprintf(out, "};\n\n");
	return n;
}

int main(int argc, char **argv)
{
	if (argc != 2)
		fail("usage: seccomp-compile OUT.c");
	if (seccomp_arch_native() != SCMP_ARCH_X86_64)
		fail("only x86_64 build hosts are supported");
	char pfc_path[4096];
	snprintf(pfc_path, sizeof(pfc_path), "%s.pfc", argv[1]);
	FILE *out = fopen(argv[1], "w");
	FILE *pfc = fopen(pfc_path, "w");
	if (!out || !pfc)
		fail("%s: %s", argv[1], strerror(errno));
	fprintf(out, "/* Generated by seccomp/compile.c from seccomp/allowlist.c: do not edit. */\n"
		     "#include \"seccomp/filters.h\"\n\n");

	unsigned kill_len[SECCOMP_NR_THREADS], trap_len[SECCOMP_NR_THREADS];
	unsigned nr_names[SECCOMP_NR_THREADS];
	for (int t = 0; t < SECCOMP_NR_THREADS; t++) {
		const struct sc_list *list = &sc_lists[t];
		char name[64];

		scmp_filter_ctx ctx = build(list, SCMP_ACT_KILL_PROCESS, thread_names[t]);
		snprintf(name, sizeof(name), "%s_kill", thread_names[t]);
		kill_len[t] = emit(out, ctx, name, list);
		fprintf(pfc, "# thread %s\n", thread_names[t]);
		fflush(pfc);
		seccomp_export_pfc(ctx, fileno(pfc));
		seccomp_release(ctx);

		ctx = build(list, SCMP_ACT_TRAP, thread_names[t]);
		snprintf(name, sizeof(name), "%s_trap", thread_names[t]);
		trap_len[t] = emit(out, ctx, name, list);
		seccomp_release(ctx);

		/* Distinct system calls, in allowlist order: what the summary counts. */
		fprintf(out, "static const char *const %s_names[] = {\n", thread_names[t]);
		nr_names[t] = 0;
		for (unsigned i = 0; i < list->nr_rules; i++) {
			unsigned j;
			for (j = 0; j < i; j++)
				if (strcmp(list->rules[j].syscall, list->rules[i].syscall) == 0)
					break;
			if (j == i) {
				fprintf(out, "\t\"%s\",\n", list->rules[i].syscall);
				nr_names[t]++;
			}
		}
		fprintf(out, "};\n\n");
	}

	fprintf(out, "const struct seccomp_program seccomp_programs[SECCOMP_NR_THREADS] = {\n");
	static const char *const enum_names[SECCOMP_NR_THREADS] = {
	    [SECCOMP_VMM] = "SECCOMP_VMM",
	    [SECCOMP_API] = "SECCOMP_API",
	    [SECCOMP_VCPU] = "SECCOMP_VCPU",
	    [SECCOMP_VCPU_BOOT_TIMER] = "SECCOMP_VCPU_BOOT_TIMER",
	    [SECCOMP_VMM_PREBOOT] = "SECCOMP_VMM_PREBOOT",
	};
	for (int t = 0; t < SECCOMP_NR_THREADS; t++) {
		const char *n = thread_names[t];
		fprintf(out, "\t[%s] = {\"%s\", %s_kill, %u, %s_trap, %u, %u, %s_names},\n",
			enum_names[t], n, n, kill_len[t], n, trap_len[t], nr_names[t], n);
	}
	fprintf(out, "};\n");
	if (fclose(out) || fclose(pfc))
		fail("%s: %s", argv[1], strerror(errno));
	return 0;
}

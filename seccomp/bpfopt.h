/* Build-time only (seccomp/compile.c and its unit test): a peephole pass over the
 * classic BPF that libseccomp emits, and an interpreter that proves the pass changed
 * no verdict. Never linked into ember. */
#ifndef EMBER_SECCOMP_BPFOPT_H
#define EMBER_SECCOMP_BPFOPT_H

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdbool.h>
#include <stdint.h>

/* libseccomp compiles a masked comparison whose mask has no upper 32 bits as a test
 * of the upper half too: `ld [arg_hi]; and #0; jeq #0`, which always falls through.
 * Removes every such triple that is followed by a load (so the accumulator it leaves
 * is never read) and that no jump enters past its first instruction, retargets the
 * jumps, and returns the new length (a program with a jump past its end is left
 * alone). The kernel compiles, JITs and, for its action
 * cache, emulates every instruction of each filter installed, once per thread. */
unsigned bpfopt__drop_dead_upper_tests(struct sock_filter *prog, unsigned len);

/* Runs a seccomp program on one system call as the kernel would. Knows the
 * instructions libseccomp emits (loads of seccomp_data words, AND/OR/immediate ALU,
 * JEQ/JGT/JGE/JSET with a constant, JA, RET with a constant); returns false, with
 * *ret untouched, on any other instruction or a jump or load out of bounds. */
bool bpfopt__run(const struct sock_filter *prog, unsigned len, const struct seccomp_data *d,
		 uint32_t *ret);

#endif

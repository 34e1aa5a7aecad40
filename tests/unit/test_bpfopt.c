/* seccomp/bpfopt.c: the build-time pass that drops libseccomp's dead upper-half tests
 * from the filters, and the interpreter that checks it. */
#include <stddef.h>
#include <string.h>

#include "check.h"
#include "seccomp/bpfopt.h"

#define LD(field) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, field))
#define LD_ARG(n, hi)                                                                              \
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[n]) + 4 * (hi))
#define AND(k)	     BPF_STMT(BPF_ALU | BPF_AND | BPF_K, k)
#define JEQ(k, t, f) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, k, t, f)
#define JA(k)	     BPF_JUMP(BPF_JMP | BPF_JA, k, 0, 0)
#define RET(k)	     BPF_STMT(BPF_RET | BPF_K, k)
#define ALLOW	     SECCOMP_RET_ALLOW
#define KILL	     SECCOMP_RET_KILL_PROCESS
#define LEN(p)	     (sizeof(p) / sizeof((p)[0]))

/* Verdicts of both programs agree on nr 0..3 with arg 0 and arg 1 drawn from a few values. */
static int same_everywhere(const struct sock_filter *a, unsigned alen, const struct sock_filter *b,
			   unsigned blen)
{
	static const uint64_t vals[] = {0, 5, 7, 1ull << 32 | 7, 0xffffffff, 9};
	int checked = 0;
	for (int nr = 0; nr < 4; nr++)
		for (unsigned i = 0; i < LEN(vals); i++)
			for (unsigned j = 0; j < LEN(vals); j++) {
				struct seccomp_data d = {.nr = nr, .args = {vals[i], vals[j]}};
				uint32_t ra = 1, rb = 2;
				if (!bpfopt__run(a, alen, &d, &ra) ||
				    !bpfopt__run(b, blen, &d, &rb) || ra != rb)
					return -1;
				checked++;
			}
	return checked;
}

/* libseccomp's shape: nr 1 allowed iff arg0's low half is 7 and arg1's is 5, each
 * compared through a dead upper-half test; jumps cross the removed triples. */
static void drops_triples_and_retargets(void)
{
	struct sock_filter orig[] = {
	    LD(nr),	  JEQ(1, 0, 12), LD_ARG(0, 1), AND(0),	   JEQ(0, 0, 9),
	    LD_ARG(0, 0), JEQ(7, 0, 7),	 LD_ARG(1, 1), AND(0),	   JEQ(0, 0, 4),
	    LD_ARG(1, 0), JEQ(5, 1, 2),	 JA(1),	       RET(ALLOW), RET(KILL),
	};
	struct sock_filter p[LEN(orig)];
	memcpy(p, orig, sizeof(orig));
	unsigned n = bpfopt__drop_dead_upper_tests(p, LEN(orig));
	CHECK_EQ(n, LEN(orig) - 6);
	CHECK(same_everywhere(orig, LEN(orig), p, n) > 0);
	/* Directly: the first jump now skips to the KILL at the end. */
	CHECK_EQ(p[1].jf, n - 1 - 2);
	struct seccomp_data ok = {.nr = 1, .args = {1ull << 32 | 7, 5}};
	struct seccomp_data bad = {.nr = 1, .args = {7, 6}};
	uint32_t r = 0;
	CHECK(bpfopt__run(p, n, &ok, &r) && r == ALLOW);
	CHECK(bpfopt__run(p, n, &bad, &r) && r == KILL);
}

/* A jump into the middle of a triple, or a triple not followed by a load, stays. */
static void keeps_what_it_cannot_prove_dead(void)
{
	struct sock_filter entered[] = {
	    LD(nr),	  JEQ(1, 1, 0), /* to the AND */
	    LD_ARG(0, 1), AND(0),	JEQ(0, 0, 2), LD_ARG(0, 0),
	    JEQ(7, 1, 0), RET(KILL),	RET(ALLOW),
	};
	struct sock_filter p[LEN(entered)];
	memcpy(p, entered, sizeof(entered));
	CHECK_EQ(bpfopt__drop_dead_upper_tests(p, LEN(entered)), LEN(entered));
	CHECK(memcmp(p, entered, sizeof(p)) == 0);

	struct sock_filter no_load[] = {
	    LD_ARG(0, 1), AND(0), JEQ(0, 0, 1), RET(ALLOW), RET(KILL),
	};
	struct sock_filter q[LEN(no_load)];
	memcpy(q, no_load, sizeof(no_load));
	CHECK_EQ(bpfopt__drop_dead_upper_tests(q, LEN(no_load)), LEN(no_load));

	/* A mask with upper bits, or a jt that skips, is a real test. */
	struct sock_filter live[] = {
	    LD_ARG(0, 1), AND(1), JEQ(0, 0, 3), LD_ARG(0, 0), JEQ(7, 0, 1), RET(ALLOW), RET(KILL),
	};
	struct sock_filter l[LEN(live)];
	memcpy(l, live, sizeof(live));
	CHECK_EQ(bpfopt__drop_dead_upper_tests(l, LEN(live)), LEN(live));

	/* A jump past the end makes the whole program suspect: nothing is touched. */
	struct sock_filter past_end[] = {
	    LD(nr), JEQ(1, 0, 200), LD_ARG(0, 1), AND(0), JEQ(0, 0, 1), LD_ARG(0, 0), RET(ALLOW),
	};
	struct sock_filter e[LEN(past_end)];
	memcpy(e, past_end, sizeof(past_end));
	CHECK_EQ(bpfopt__drop_dead_upper_tests(e, LEN(past_end)), LEN(past_end));
	struct sock_filter ja_far[] = {
	    LD(nr), JA(0xffffffffu), LD_ARG(0, 1), AND(0), JEQ(0, 0, 0), LD_ARG(0, 0), RET(ALLOW),
	};
	memcpy(e, ja_far, sizeof(ja_far));
	CHECK_EQ(bpfopt__drop_dead_upper_tests(e, LEN(ja_far)), LEN(ja_far));
}

/* Two triples in a row, and a JA whose target is a removed triple. */
static void chained_triples_and_ja(void)
{
	struct sock_filter orig[] = {
	    LD(nr),	  JEQ(2, 1, 0), JA(0), /* lands on the first triple */
	    LD_ARG(0, 1), AND(0),	JEQ(0, 0, 6), LD_ARG(1, 1), AND(0),
	    JEQ(0, 0, 3), LD_ARG(1, 0), JEQ(5, 1, 0), RET(KILL),    RET(ALLOW),
	};
	struct sock_filter p[LEN(orig)];
	memcpy(p, orig, sizeof(orig));
	unsigned n = bpfopt__drop_dead_upper_tests(p, LEN(orig));
	CHECK_EQ(n, LEN(orig) - 6);
	CHECK(same_everywhere(orig, LEN(orig), p, n) > 0);
}

/* The interpreter refuses what it does not know rather than guessing. */
static void run_refuses_unknown_and_out_of_bounds(void)
{
	struct seccomp_data d = {.nr = 1};
	uint32_t r = 12345;
	struct sock_filter tax[] = {BPF_STMT(BPF_MISC | BPF_TAX, 0), RET(ALLOW)};
	CHECK(!bpfopt__run(tax, LEN(tax), &d, &r));
	struct sock_filter far_load[] = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, sizeof(d)), RET(ALLOW)};
	CHECK(!bpfopt__run(far_load, LEN(far_load), &d, &r));
	struct sock_filter odd_load[] = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 2), RET(ALLOW)};
	CHECK(!bpfopt__run(odd_load, LEN(odd_load), &d, &r));
	struct sock_filter far_ja[] = {JA(5), RET(ALLOW)};
	CHECK(!bpfopt__run(far_ja, LEN(far_ja), &d, &r));
	struct sock_filter no_ret[] = {LD(nr)};
	CHECK(!bpfopt__run(no_ret, LEN(no_ret), &d, &r));
	CHECK_EQ(r, 12345);
	struct sock_filter fine[] = {LD(nr), JEQ(1, 0, 1), RET(ALLOW), RET(KILL)};
	CHECK(bpfopt__run(fine, LEN(fine), &d, &r) && r == ALLOW);
}

CHECK_MAIN("bpfopt", CHECK_CASE(drops_triples_and_retargets),
	   CHECK_CASE(keeps_what_it_cannot_prove_dead), CHECK_CASE(chained_triples_and_ja),
	   CHECK_CASE(run_refuses_unknown_and_out_of_bounds))

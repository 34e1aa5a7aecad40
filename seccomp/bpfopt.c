#include "seccomp/bpfopt.h"

#include <stddef.h>
#include <string.h>

#define OP_LD_ABS (BPF_LD | BPF_W | BPF_ABS)
#define OP_AND_K  (BPF_ALU | BPF_AND | BPF_K)
#define OP_JEQ_K  (BPF_JMP | BPF_JEQ | BPF_K)

static bool is_jump(const struct sock_filter *i)
{
	return BPF_CLASS(i->code) == BPF_JMP;
}

static bool is_dead_upper_test(const struct sock_filter *p, unsigned len, unsigned i)
{
	return i + 3 < len && p[i].code == OP_LD_ABS && p[i + 1].code == OP_AND_K &&
	       p[i + 1].k == 0 && p[i + 2].code == OP_JEQ_K && p[i + 2].k == 0 &&
	       p[i + 2].jt == 0 && p[i + 3].code == OP_LD_ABS;
}

unsigned bpfopt__drop_dead_upper_tests(struct sock_filter *p, unsigned len)
{
	if (len == 0 || len > BPF_MAXINSNS)
		return len;
	bool removed[BPF_MAXINSNS] = {false};
	bool entered[BPF_MAXINSNS] = {false}; /* some jump lands here */
	for (unsigned i = 0; i < len; i++) {
		if (!is_jump(&p[i]))
			continue;
		uint64_t t = (uint64_t)i + 1 + (BPF_OP(p[i].code) == BPF_JA ? p[i].k : p[i].jt);
		uint64_t f = (uint64_t)i + 1 + (BPF_OP(p[i].code) == BPF_JA ? p[i].k : p[i].jf);
		if (t >= len || f >= len)
			return len; /* not a program the kernel would take: left alone */
		entered[t] = entered[f] = true;
	}
	for (unsigned i = 0; i < len; i++) {
		if (is_dead_upper_test(p, len, i) && !entered[i + 1] && !entered[i + 2])
			removed[i] = removed[i + 1] = removed[i + 2] = true;
	}
	/* A removed instruction's new index is that of the first kept one after it: a
	 * jump to a removed triple lands on what follows it, which loads the
	 * accumulator anew (chained triples included). */
	unsigned new_index[BPF_MAXINSNS + 1];
	unsigned n = 0;
	for (unsigned i = 0; i < len; i++) {
		new_index[i] = n;
		if (!removed[i])
			n++;
	}
	new_index[len] = n;
	if (n == len)
		return len;
	/* Offsets only shrink, so every one still fits its field. */
	unsigned out = 0;
	for (unsigned i = 0; i < len; i++) {
		if (removed[i])
			continue;
		struct sock_filter insn = p[i];
		if (is_jump(&insn)) {
			unsigned from = new_index[i] + 1;
			if (BPF_OP(insn.code) == BPF_JA) {
				insn.k = new_index[i + 1 + insn.k] - from;
			} else {
				insn.jt = (uint8_t)(new_index[i + 1 + insn.jt] - from);
				insn.jf = (uint8_t)(new_index[i + 1 + insn.jf] - from);
			}
		}
		p[out++] = insn;
	}
	return out;
}

bool bpfopt__run(const struct sock_filter *p, unsigned len, const struct seccomp_data *d,
		 uint32_t *ret)
{
	uint32_t a = 0;
	unsigned pc = 0;
	/* Every jump goes forward, so at most len steps. */
	while (pc < len) {
		const struct sock_filter *i = &p[pc++];
		switch (i->code) {
		case OP_LD_ABS: {
			if (i->k % 4 || i->k + 4 > sizeof(*d))
				return false;
			memcpy(&a, (const uint8_t *)d + i->k, 4);
			break;
		}
		case BPF_ALU | BPF_AND | BPF_K:
			a &= i->k;
			break;
		case BPF_ALU | BPF_OR | BPF_K:
			a |= i->k;
			break;
		case BPF_LD | BPF_IMM:
			a = i->k;
			break;
		case BPF_RET | BPF_K:
			*ret = i->k;
			return true;
		case BPF_JMP | BPF_JA:
			if (i->k >= len - pc)
				return false;
			pc += i->k;
			break;
		case BPF_JMP | BPF_JEQ | BPF_K:
		case BPF_JMP | BPF_JGT | BPF_K:
		case BPF_JMP | BPF_JGE | BPF_K:
		case BPF_JMP | BPF_JSET | BPF_K: {
			bool taken;
			switch (BPF_OP(i->code)) {
			case BPF_JEQ:
				taken = a == i->k;
				break;
			case BPF_JGT:
				taken = a > i->k;
				break;
			case BPF_JGE:
				taken = a >= i->k;
				break;
			default:
				taken = (a & i->k) != 0;
				break;
			}
			pc += taken ? i->jt : i->jf;
			break;
		}
		default:
			return false;
		}
	}
	return false; /* fell off the end: the kernel refuses such a program */
}

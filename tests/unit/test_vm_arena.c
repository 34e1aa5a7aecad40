/* vm__zalloc / vm__free: VM-lifetime objects from struct vm's own memory, then calloc. */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "pagealloc.h"
#include "vm.h"

static bool in_arena(const struct vm *vm, const void *p)
{
	uintptr_t a = (uintptr_t)p, base = (uintptr_t)vm->arena;
	return a >= base && a < base + VM_ARENA_BYTES;
}

static void zeroed_aligned_then_calloc(void)
{
	static struct vm vm;
	/* Whatever made the VM, what vm__zalloc hands out is zero. */
	memset(&vm, 0xa5, sizeof(vm));
	vm.arena_used = 0;
	unsigned char *a = vm__zalloc(&vm, 3);
	unsigned char *b = vm__zalloc(&vm, 100);
	CHECK(a && b);
	CHECK_EQ((uintptr_t)a % _Alignof(max_align_t), 0);
	CHECK_EQ((uintptr_t)b % _Alignof(max_align_t), 0);
	CHECK(b >= a + 3);
	for (unsigned i = 0; i < 100; i++)
		CHECK_EQ(b[i], 0);
#ifndef PAGEALLOC_FROM_CALLOC
	CHECK(in_arena(&vm, a) && in_arena(&vm, b));
	/* Fill the rest: a request larger than what is left comes from calloc, and so
	 * does every later one, even a small one that would have fitted before. */
	unsigned char *big = vm__zalloc(&vm, VM_ARENA_BYTES - 2 * _Alignof(max_align_t) - 112);
	CHECK(big && in_arena(&vm, big));
	unsigned char *over = vm__zalloc(&vm, 200);
	CHECK(over && !in_arena(&vm, over));
	unsigned char *small = vm__zalloc(&vm, 1);
	CHECK(small && !in_arena(&vm, small));
	CHECK_EQ(over[0] | over[199] | small[0], 0);
	vm__free(&vm, big); /* returns with the VM: nothing to do */
	vm__free(&vm, over);
	vm__free(&vm, small);
#else
	/* The sanitizer build watches every object on its own. */
	CHECK(!in_arena(&vm, a) && !in_arena(&vm, b));
#endif
	vm__free(&vm, a);
	vm__free(&vm, b);
	vm__free(&vm, NULL);
	/* Larger than the whole arena, and zero bytes: calloc's. */
	unsigned char *huge = vm__zalloc(&vm, VM_ARENA_BYTES + 1);
	CHECK(huge && !in_arena(&vm, huge) && huge[VM_ARENA_BYTES] == 0);
	vm__free(&vm, huge);
	void *none = vm__zalloc(&vm, 0);
	CHECK(none != NULL);
	vm__free(&vm, none);
}

CHECK_MAIN("vm_arena", CHECK_CASE(zeroed_aligned_then_calloc))

/* Zeroed objects of a page or more, each mapped on its own.
 *
 * Why not calloc: musl's malloc reads the header of a group it has just mapped before
 * it writes it (a bitfield), so the first touch maps the shared zero page and the write
 * right after replaces it. Replacing a mapping flushes the TLB of every CPU that runs
 * this process; while the start-up helper runs on another CPU (vm_early.h) that is an
 * interrupt to that CPU, waited for, per new group. The objects made during a start
 * (the configuration, the controller, the event loop, the VM, its CPUID table) caused 5
 * of the 7 such flushes of a start on kvm_pvm. Here the first touch is a write (the
 * size), and pages stay untouched until used, as calloc's fresh ones did.
 *
 * Under AddressSanitizer they come from calloc, which it watches
 * (PAGEALLOC_FROM_CALLOC is then defined). */
#ifndef EMBER_PAGEALLOC_H
#define EMBER_PAGEALLOC_H

#include <pthread.h>
#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
#define PAGEALLOC_FROM_CALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PAGEALLOC_FROM_CALLOC 1
#endif
#endif

/* NULL (errno ENOMEM) if it cannot be mapped. */
void *pagealloc__zalloc(size_t bytes);
/* p from pagealloc__zalloc, or NULL. */
void pagealloc__free(void *p);

/* A thread's stack of our own mapping, for the threads that are joined (the vCPUs):
 * pthread_join unmaps a stack musl made, and that unmapping, after the thread ran on
 * another CPU, flushes that CPU's TLB with an interrupt, at the end of every VM, just
 * before the exit would drop the mapping anyway. This one stays until its owner frees
 * it (a VM torn down while the process goes on). */
struct thread_stack {
	void *map; /* NULL: none */
	size_t len;
};
/* Starts fn(arg) as *thread on `bytes` of stack above a guard page, kept in *s. 0, or an
 * error number (pthread_create's way); *s may hold the stack either way. */
int pagealloc__start_thread(pthread_t *thread, struct thread_stack *s, size_t bytes,
			    void *(*fn)(void *), void *arg);
/* After the thread is joined, or if it never started; a zeroed s is none. */
void pagealloc__free_thread_stack(struct thread_stack *s);

#endif

#include "pagealloc.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

/* Before each object: its mapping's length, keeping the object as aligned as malloc's. */
union pagealloc_head {
	size_t len;
	max_align_t align;
};

void *pagealloc__zalloc(size_t bytes)
{
	if (bytes > SIZE_MAX / 2) {
		errno = ENOMEM;
		return NULL;
	}
#ifdef PAGEALLOC_FROM_CALLOC
	return calloc(1, bytes);
#else
	size_t len = bytes + sizeof(union pagealloc_head);
	union pagealloc_head *h =
	    mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (h == MAP_FAILED)
		return NULL;
	h->len = len;
	return h + 1;
#endif
}

void pagealloc__free(void *p)
{
#ifdef PAGEALLOC_FROM_CALLOC
	free(p);
#else
	if (!p)
		return;
	union pagealloc_head *h = (union pagealloc_head *)p - 1;
	munmap(h, h->len);
#endif
}

int pagealloc__start_thread(pthread_t *thread, struct thread_stack *s, size_t bytes,
			    void *(*fn)(void *), void *arg)
{
	const size_t guard = 4096;
	*s = (struct thread_stack){0};
	void *map = mmap(NULL, guard + bytes, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (map == MAP_FAILED)
		return errno;
	*s = (struct thread_stack){.map = map, .len = guard + bytes};
	if (mprotect(map, guard, PROT_NONE))
		return errno;
	pthread_attr_t attr;
	int err = pthread_attr_init(&attr);
	if (err)
		return err;
	err = pthread_attr_setstack(&attr, (char *)map + guard, bytes);
	if (!err)
		err = pthread_create(thread, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return err;
}

void pagealloc__free_thread_stack(struct thread_stack *s)
{
	if (s->map)
		munmap(s->map, s->len);
	*s = (struct thread_stack){0};
}

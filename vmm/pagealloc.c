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

int pagealloc__thread_stack(pthread_attr_t *attr, size_t bytes, struct thread_stack *s)
{
	const size_t guard = 4096;
	*s = (struct thread_stack){0};
	void *map = mmap(NULL, guard + bytes, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (map == MAP_FAILED)
		return -1;
	int err = mprotect(map, guard, PROT_NONE) ? errno : 0;
	if (!err)
		err = pthread_attr_setstack(attr, (char *)map + guard, bytes);
	if (err) {
		munmap(map, guard + bytes);
		errno = err;
		return -1;
	}
	*s = (struct thread_stack){.map = map, .len = guard + bytes};
	return 0;
}

void pagealloc__free_thread_stack(struct thread_stack *s)
{
	if (s->map)
		munmap(s->map, s->len);
	*s = (struct thread_stack){0};
}

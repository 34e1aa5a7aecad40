/* The little of libc the probe needs. The compiler may call memset/memcpy on its own,
 * so these are written as string instructions it cannot turn back into calls. */
#include "probe.h"

void *memset(void *d, int c, size_t n)
{
	void *p = d;
	asm volatile("rep stosb" : "+D"(p), "+c"(n) : "a"(c) : "memory");
	return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
	void *p = d;
	asm volatile("rep movsb" : "+D"(p), "+S"(s), "+c"(n) : : "memory");
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const uint8_t *x = a, *y = b;
	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

static void emit_num(void (*emit)(void *, char), void *ctx, uint64_t v, unsigned base,
		     unsigned width, bool zero, bool neg)
{
	char tmp[24];
	unsigned n = 0;
	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (neg)
		tmp[n++] = '-';
	for (unsigned i = n; i < width; i++)
		emit(ctx, zero ? '0' : ' ');
	while (n)
		emit(ctx, tmp[--n]);
}

void fmt__v(void (*emit)(void *ctx, char c), void *ctx, const char *f, va_list ap)
{
	while (*f) {
		if (*f != '%') {
			emit(ctx, *f++);
			continue;
		}
		f++;
		bool zero = false;
		unsigned width = 0, lng = 0;
		int prec = -1;
		if (*f == '0') {
			zero = true;
			f++;
		}
		while (*f >= '0' && *f <= '9')
			width = width * 10 + (unsigned)(*f++ - '0');
		if (f[0] == '.' && f[1] == '*') {
			prec = va_arg(ap, int);
			f += 2;
		}
		while (*f == 'l') {
			lng++;
			f++;
		}
		if (*f == 'z') {
			lng = 1;
			f++;
		}
		char c = *f;
		if (c)
			f++;
		switch (c) {
		case 's': {
			const char *s = va_arg(ap, const char *);
			if (!s)
				s = "(null)";
			for (int i = 0; s[i] && (prec < 0 || i < prec); i++)
				emit(ctx, s[i]);
			break;
		}
		case 'c':
			emit(ctx, (char)va_arg(ap, int));
			break;
		case 'd': {
			int64_t v = lng >= 2 ? va_arg(ap, long long)
				    : lng    ? va_arg(ap, long)
					     : va_arg(ap, int);
			emit_num(emit, ctx, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v, 10,
				 width, zero, v < 0);
			break;
		}
		case 'u':
		case 'x': {
			uint64_t v = lng >= 2 ? va_arg(ap, unsigned long long)
				     : lng    ? va_arg(ap, unsigned long)
					      : va_arg(ap, unsigned);
			emit_num(emit, ctx, v, c == 'x' ? 16 : 10, width, zero, false);
			break;
		}
		case '%':
			emit(ctx, '%');
			break;
		default:
			emit(ctx, '%');
			if (c)
				emit(ctx, c);
			break;
		}
	}
}

struct bufsink {
	char *buf;
	size_t len, pos;
};

static void buf_emit(void *ctx, char c)
{
	struct bufsink *s = ctx;
	if (s->pos + 1 < s->len)
		s->buf[s->pos] = c;
	s->pos++;
}

size_t fmt__buf(char *buf, size_t len, const char *fmt, ...)
{
	struct bufsink s = {buf, len, 0};
	va_list ap;
	va_start(ap, fmt);
	fmt__v(buf_emit, &s, fmt, ap);
	va_end(ap);
	if (len)
		buf[s.pos < len ? s.pos : len - 1] = 0;
	return s.pos;
}

bool parse__u64(const char *s, size_t n, unsigned base, uint64_t *out)
{
	uint64_t v = 0;
	if (n == 0 || n > (base == 16 ? 16u : 19u))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned d;
		char c = s[i];
		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (base == 16 && c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (base == 16 && c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return false;
		v = v * base + d;
	}
	*out = v;
	return true;
}

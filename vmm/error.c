#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int error__fail(struct error *e, enum ember_exit code, const char *fmt, ...)
{
	if (!e)
		return -1;
	e->code = code;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

int error__wrap(struct error *e, const char *fmt, ...)
{
	if (!e)
		return -1;
	char old[ERROR_MSG_MAX];
	memcpy(old, e->msg, sizeof(old));
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(e->msg) - 2) {
		memcpy(e->msg + n, ": ", 2);
		size_t room = sizeof(e->msg) - (size_t)n - 2;
		size_t len = strnlen(old, room - 1);
		memcpy(e->msg + n + 2, old, len);
		e->msg[(size_t)n + 2 + len] = '\0';
	}
	return -1;
}

int error__from_text(struct error *e, enum ember_exit code, const char *text)
{
	return error__fail(e, code, "%s", text);
}

int error__coded(struct error *e, enum ember_exit code)
{
	e->code = code;
	return -1;
}

void error__clear(struct error *e)
{
	e->code = EXIT_OK;
	e->msg[0] = '\0';
}

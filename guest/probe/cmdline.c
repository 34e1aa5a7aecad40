/* probe.* parameters from the kernel command line ember wrote at cmd_line_ptr. */
#include "probe.h"

#define CMDLINE_MAX 4096 /* more than ember's 2048; a missing NUL is cut here */

/* Set once by the BSP before any other CPU runs, read-only afterwards. */
static const char *cmdline = "";

void cmdline__init(const char *s)
{
	cmdline = s ? s : "";
}

static size_t cmdline_len(void)
{
	size_t n = 0;
	while (n < CMDLINE_MAX && cmdline[n])
		n++;
	return n;
}

const char *cmdline__get_raw(size_t *len)
{
	*len = cmdline_len();
	return cmdline;
}

bool cmdline__get(const char *key, const char **val, size_t *len)
{
	size_t klen = strlen(key), n = cmdline_len();
	bool found = false;
	/* The last occurrence wins, as in Linux. */
	for (size_t i = 0; i < n;) {
		while (i < n && cmdline[i] == ' ')
			i++;
		size_t start = i;
		while (i < n && cmdline[i] != ' ')
			i++;
		if (i - start > klen && !memcmp(cmdline + start, key, klen) &&
		    cmdline[start + klen] == '=') {
			*val = cmdline + start + klen + 1;
			*len = i - start - klen - 1;
			found = true;
		}
	}
	return found;
}

int cmdline__get_u64(const char *key, unsigned base, uint64_t *out)
{
	const char *v;
	size_t n;
	if (!cmdline__get(key, &v, &n))
		return -1;
	return parse__u64(v, n, base, out) ? 0 : 1;
}

bool cmdline__has_word(const char *key, const char *word)
{
	const char *v;
	size_t n, wlen = strlen(word);
	if (!cmdline__get(key, &v, &n))
		return false;
	for (size_t i = 0; i < n;) {
		size_t start = i;
		while (i < n && v[i] != ',')
			i++;
		if (i - start == wlen && !memcmp(v + start, word, wlen))
			return true;
		i++;
	}
	return false;
}

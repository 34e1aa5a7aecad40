/* The MMDS data store's tree: a JSON value whose objects are sorted by key
 * (serde_json's map, which Firecracker serializes and lists in that order), its
 * compact serialization, RFC 7396 merge and RFC 6901 pointers. */
#include <stdlib.h>
#include <string.h>

#include "api/json.h"
#include "mmds_int.h"

void mmds_node__free(struct mnode *x)
{
	if (!x)
		return;
	for (size_t i = 0; i < x->n; i++) {
		if (x->keys)
			free(x->keys[i]);
		mmds_node__free(x->kids[i]);
	}
	free(x->keys);
	free(x->kids);
	free(x->s);
	free(x);
}

static bool grow(struct mnode *x, bool keys)
{
	if (x->n < x->cap)
		return true;
	size_t cap = x->cap ? x->cap * 2 : 4;
	struct mnode **k = realloc(x->kids, cap * sizeof(*k));
	if (!k)
		return false;
	x->kids = k;
	if (keys) {
		char **kk = realloc(x->keys, cap * sizeof(*kk));
		if (!kk)
			return false;
		x->keys = kk;
	}
	x->cap = cap;
	return true;
}

/* Index of key in object x, or where it would go (*found false). */
size_t mmds_node__find(const struct mnode *x, const char *key, bool *found)
{
	size_t lo = 0, hi = x->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(x->keys[mid], key);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

/* Puts kid under key (taking both), replacing a member of the same name (as serde's
 * map keeps the last duplicate). */
static bool obj_set(struct mnode *x, char *key, struct mnode *kid)
{
	bool found;
	size_t i = mmds_node__find(x, key, &found);
	if (found) {
		mmds_node__free(x->kids[i]);
		free(key);
		x->kids[i] = kid;
		return true;
	}
	if (!grow(x, true))
		return false;
	memmove(x->keys + i + 1, x->keys + i, (x->n - i) * sizeof(*x->keys));
	memmove(x->kids + i + 1, x->kids + i, (x->n - i) * sizeof(*x->kids));
	x->keys[i] = key;
	x->kids[i] = kid;
	x->n++;
	return true;
}

static void obj_remove(struct mnode *x, const char *key)
{
	bool found;
	size_t i = mmds_node__find(x, key, &found);
	if (!found)
		return;
	free(x->keys[i]);
	mmds_node__free(x->kids[i]);
	memmove(x->keys + i, x->keys + i + 1, (x->n - i - 1) * sizeof(*x->keys));
	memmove(x->kids + i, x->kids + i + 1, (x->n - i - 1) * sizeof(*x->kids));
	x->n--;
}

static char *tok_string(const struct json_doc *d, unsigned i)
{
	size_t cap = d->toks[i].len + 1; /* decoding never lengthens */
	char *s = malloc(cap);
	if (s && json__string(d, i, s, cap)) {
		free(s);
		return NULL;
	}
	return s;
}

struct mnode *mmds_node__from(const struct json_doc *d, unsigned i)
{
	const struct json_tok *t = &d->toks[i];
	struct mnode *x = calloc(1, sizeof(*x));
	if (!x)
		return NULL;
	x->type = t->type;
	switch (t->type) {
	case JSON_BOOL:
		x->b = d->text[t->start] == 't';
		return x;
	case JSON_NULL:
		return x;
	case JSON_NUMBER:
		x->s = strndup(d->text + t->start, t->len);
		x->len = t->len;
		break;
	case JSON_STRING:
		x->s = tok_string(d, i);
		x->len = x->s ? strlen(x->s) : 0;
		break;
	case JSON_ARRAY: {
		unsigned k = i + 1;
		for (uint32_t m = 0; m < t->count; m++) {
			struct mnode *kid = grow(x, false) ? mmds_node__from(d, k) : NULL;
			if (!kid)
				goto fail;
			x->kids[x->n++] = kid;
			k = d->toks[k].next;
		}
		return x;
	}
	case JSON_OBJECT: {
		unsigned k = i + 1;
		for (uint32_t m = 0; m < t->count; m++) {
			char *key = tok_string(d, k);
			struct mnode *kid = key ? mmds_node__from(d, k + 1) : NULL;
			if (!kid || !obj_set(x, key, kid)) {
				free(key);
				mmds_node__free(kid);
				goto fail;
			}
			k = d->toks[k + 1].next;
		}
		return x;
	}
	}
	if (x->s)
		return x;
fail:
	mmds_node__free(x);
	return NULL;
}

struct mnode *mmds_node__copy(const struct mnode *x)
{
	struct mnode *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->type = x->type;
	c->b = x->b;
	c->len = x->len;
	if (x->s && !(c->s = strndup(x->s, x->len)))
		goto fail;
	for (size_t i = 0; i < x->n; i++) {
		if (!grow(c, x->keys != NULL))
			goto fail;
		struct mnode *kid = mmds_node__copy(x->kids[i]);
		char *key = x->keys ? strdup(x->keys[i]) : NULL;
		if (!kid || (x->keys && !key)) {
			mmds_node__free(kid);
			free(key);
			goto fail;
		}
		if (x->keys)
			c->keys[c->n] = key;
		c->kids[c->n++] = kid;
	}
	return c;
fail:
	mmds_node__free(c);
	return NULL;
}

/* serde_json's escaping: the two mandatory ones, short forms for \b \f \n \r \t,
 * \u00XX for the other controls, everything else as is. */
static void put_string(struct json_out *o, const char *s, size_t n)
{
	json_out__raw(o, "\"", 1);
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *e = NULL;
		char u[8];
		if (c == '"')
			e = "\\\"";
		else if (c == '\\')
			e = "\\\\";
		else if (c == '\b')
			e = "\\b";
		else if (c == '\f')
			e = "\\f";
		else if (c == '\n')
			e = "\\n";
		else if (c == '\r')
			e = "\\r";
		else if (c == '\t')
			e = "\\t";
		else if (c < 0x20) {
			static const char hex[] = "0123456789abcdef";
			memcpy(u, "\\u00", 4);
			u[4] = hex[c >> 4];
			u[5] = hex[c & 15];
			u[6] = 0;
			e = u;
		}
		if (!e)
			continue;
		json_out__raw(o, s + run, i - run);
		json_out__raw(o, e, strlen(e));
		run = i + 1;
	}
	json_out__raw(o, s + run, n - run);
	json_out__raw(o, "\"", 1);
}

void mmds_node__write(const struct mnode *x, struct json_out *o)
{
	switch (x->type) {
	case JSON_NULL:
		json_out__raw(o, "null", 4);
		return;
	case JSON_BOOL:
		json_out__raw(o, x->b ? "true" : "false", x->b ? 4 : 5);
		return;
	case JSON_NUMBER:
		json_out__raw(o, x->s, x->len);
		return;
	case JSON_STRING:
		put_string(o, x->s, x->len);
		return;
	default:
		break;
	}
	bool obj = x->type == JSON_OBJECT;
	json_out__raw(o, obj ? "{" : "[", 1);
	for (size_t i = 0; i < x->n; i++) {
		if (i)
			json_out__raw(o, ",", 1);
		if (obj) {
			put_string(o, x->keys[i], strlen(x->keys[i]));
			json_out__raw(o, ":", 1);
		}
		mmds_node__write(x->kids[i], o);
	}
	json_out__raw(o, obj ? "}" : "]", 1);
}

/* RFC 7396, as Firecracker's json_patch: an object patches member by member (null
 * removes), anything else replaces. Returns false if out of memory (the target is
 * then partly patched: callers patch a copy). */
bool mmds_node__merge(struct mnode **target, const struct mnode *patch)
{
	if (patch->type != JSON_OBJECT) {
		struct mnode *c = mmds_node__copy(patch);
		if (!c)
			return false;
		mmds_node__free(*target);
		*target = c;
		return true;
	}
	if (!*target || (*target)->type != JSON_OBJECT) {
		struct mnode *e = calloc(1, sizeof(*e));
		if (!e)
			return false;
		e->type = JSON_OBJECT;
		mmds_node__free(*target);
		*target = e;
	}
	struct mnode *t = *target;
	for (size_t i = 0; i < patch->n; i++) {
		const char *key = patch->keys[i];
		if (patch->kids[i]->type == JSON_NULL) {
			obj_remove(t, key);
			continue;
		}
		bool found;
		size_t at = mmds_node__find(t, key, &found);
		if (found) {
			if (!mmds_node__merge(&t->kids[at], patch->kids[i]))
				return false;
			continue;
		}
		struct mnode *kid = NULL;
		char *k = strdup(key);
		if (!k || !mmds_node__merge(&kid, patch->kids[i]) || !obj_set(t, k, kid)) {
			free(k);
			mmds_node__free(kid);
			return false;
		}
	}
	return true;
}

/* One reference token of a JSON pointer (RFC 6901: ~1 is '/', ~0 is '~'). */
static size_t unescape(const char *p, size_t n, char *out)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '~' && i + 1 < n && (p[i + 1] == '0' || p[i + 1] == '1')) {
			out[k++] = p[i + 1] == '0' ? '~' : '/';
			i++;
		} else {
			out[k++] = p[i];
		}
	}
	out[k] = 0;
	return k;
}

/* An array index as serde reads one: digits only, no leading zero. */
static bool array_index(const char *t, size_t n, size_t *out)
{
	if (n == 0 || (n > 1 && t[0] == '0') || n > 18)
		return false;
	size_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (t[i] < '0' || t[i] > '9')
			return false;
		v = v * 10 + (size_t)(t[i] - '0');
	}
	*out = v;
	return true;
}

/* serde_json's Value::pointer: "" is the whole value, otherwise "/tok/tok...". */
const struct mnode *mmds_node__pointer(const struct mnode *root, const char *p, size_t n, char *tmp)
{
	static const struct mnode null_node = {.type = JSON_NULL};
	const struct mnode *x = root ? root : &null_node;
	if (n == 0)
		return x;
	if (p[0] != '/')
		return NULL;
	size_t i = 1;
	for (;;) {
		size_t j = i;
		while (j < n && p[j] != '/')
			j++;
		size_t tl = unescape(p + i, j - i, tmp);
		if (x->type == JSON_OBJECT) {
			bool found;
			size_t at = strlen(tmp) == tl ? mmds_node__find(x, tmp, &found)
						      : (found = false, 0);
			if (!found)
				return NULL;
			x = x->kids[at];
		} else if (x->type == JSON_ARRAY) {
			size_t at;
			if (!array_index(tmp, tl, &at) || at >= x->n)
				return NULL;
			x = x->kids[at];
		} else {
			return NULL;
		}
		if (j >= n)
			return x;
		i = j + 1;
	}
}

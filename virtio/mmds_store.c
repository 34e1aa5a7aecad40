/* The MMDS data store: a JSON value kept as a tree whose objects are sorted by key
 * (serde_json's map, which Firecracker serializes and lists in that order), bounded
 * by the size of its compact serialization, as Firecracker bounds it. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/json.h"
#include "mmds_int.h"

struct mnode {
	uint8_t type; /* enum json_type */
	bool b;
	char *s; /* string (decoded) or number (its JSON text) */
	size_t len;
	size_t n, cap;
	char **keys; /* objects: sorted by strcmp */
	struct mnode **kids;
};

static void node_free(struct mnode *x)
{
	if (!x)
		return;
	for (size_t i = 0; i < x->n; i++) {
		if (x->keys)
			free(x->keys[i]);
		node_free(x->kids[i]);
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
static size_t find_key(const struct mnode *x, const char *key, bool *found)
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
	size_t i = find_key(x, key, &found);
	if (found) {
		node_free(x->kids[i]);
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
	size_t i = find_key(x, key, &found);
	if (!found)
		return;
	free(x->keys[i]);
	node_free(x->kids[i]);
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

static struct mnode *node_from(const struct json_doc *d, unsigned i)
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
			struct mnode *kid = grow(x, false) ? node_from(d, k) : NULL;
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
			struct mnode *kid = key ? node_from(d, k + 1) : NULL;
			if (!kid || !obj_set(x, key, kid)) {
				free(key);
				node_free(kid);
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
	node_free(x);
	return NULL;
}

static struct mnode *node_copy(const struct mnode *x)
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
		struct mnode *kid = node_copy(x->kids[i]);
		char *key = x->keys ? strdup(x->keys[i]) : NULL;
		if (!kid || (x->keys && !key)) {
			node_free(kid);
			free(key);
			goto fail;
		}
		if (x->keys)
			c->keys[c->n] = key;
		c->kids[c->n++] = kid;
	}
	return c;
fail:
	node_free(c);
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

static void node_write(const struct mnode *x, struct json_out *o)
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
		node_write(x->kids[i], o);
	}
	json_out__raw(o, obj ? "}" : "]", 1);
}

/* RFC 7396, as Firecracker's json_patch: an object patches member by member (null
 * removes), anything else replaces. Returns false if out of memory (the target is
 * then partly patched: callers patch a copy). */
static bool merge(struct mnode **target, const struct mnode *patch)
{
	if (patch->type != JSON_OBJECT) {
		struct mnode *c = node_copy(patch);
		if (!c)
			return false;
		node_free(*target);
		*target = c;
		return true;
	}
	if (!*target || (*target)->type != JSON_OBJECT) {
		struct mnode *e = calloc(1, sizeof(*e));
		if (!e)
			return false;
		e->type = JSON_OBJECT;
		node_free(*target);
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
		size_t at = find_key(t, key, &found);
		if (found) {
			if (!merge(&t->kids[at], patch->kids[i]))
				return false;
			continue;
		}
		struct mnode *kid = NULL;
		char *k = strdup(key);
		if (!k || !merge(&kid, patch->kids[i]) || !obj_set(t, k, kid)) {
			free(k);
			node_free(kid);
			return false;
		}
	}
	return true;
}

struct mmds_store {
	pthread_mutex_t lock;
	struct mnode *root; /* NULL until the first PUT: Firecracker's Value::Null */
	size_t limit;
	enum mmds_version version;
	bool imds_compat, touched;
	struct mmds_token_key key;
};

struct mmds_store *mmds_store__create(size_t size_limit)
{
	struct mmds_store *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	if (mmds_token__init_key(&s->key)) {
		free(s);
		return NULL;
	}
	pthread_mutex_init(&s->lock, NULL);
	s->limit = size_limit;
	return s;
}

void mmds_store__destroy(struct mmds_store *s)
{
	if (!s)
		return;
	node_free(s->root);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static struct mmds_store *the_store;
static pthread_once_t the_store_once = PTHREAD_ONCE_INIT;

static void make_default(void)
{
	the_store = mmds_store__create(MMDS_DEFAULT_SIZE_LIMIT);
}

struct mmds_store *mmds_store__default(void)
{
	pthread_once(&the_store_once, make_default);
	return the_store;
}

void mmds_store__reset(struct mmds_store *s, size_t size_limit)
{
	pthread_mutex_lock(&s->lock);
	node_free(s->root);
	s->root = NULL;
	s->limit = size_limit;
	s->version = MMDS_V1;
	s->imds_compat = false;
	s->touched = false;
	pthread_mutex_unlock(&s->lock);
}

static size_t serialized_len(const struct mnode *x, bool *oom)
{
	struct json_out o = {0};
	node_write(x, &o);
	*oom = o.oom;
	size_t n = o.len;
	json_out__free(&o);
	return n;
}

static struct mnode *parse(const char *json, size_t len, char *err, size_t errlen, int *rc)
{
	/* Every value takes at least one byte of text. */
	struct json_tok *toks = malloc((len + 1) * sizeof(*toks));
	struct json_doc d;
	struct mnode *x = NULL;
	*rc = MMDS_ENOMEM;
	if (!toks)
		return NULL;
	if (json__parse(&d, json, len, toks, (unsigned)(len + 1), err, errlen)) {
		*rc = MMDS_EJSON;
	} else if (!(x = node_from(&d, 0))) {
		/* node_from fails only for memory or a string holding U+0000. */
		snprintf(err, errlen, "a string holds U+0000 or memory ran out");
		*rc = MMDS_EJSON;
	}
	free(toks);
	return x;
}

static int commit(struct mmds_store *s, struct mnode *next)
{
	bool oom;
	size_t n = serialized_len(next, &oom);
	if (oom) {
		node_free(next);
		return MMDS_ENOMEM;
	}
	if (n > s->limit) {
		node_free(next);
		return MMDS_ETOOBIG;
	}
	node_free(s->root);
	s->root = next;
	return MMDS_OK;
}

int mmds_store__put(struct mmds_store *s, const char *json, size_t len, char *err, size_t errlen)
{
	int rc;
	if (len > UINT32_MAX)
		return MMDS_ETOOBIG;
	struct mnode *x = parse(json, len, err, errlen, &rc);
	if (!x)
		return rc;
	pthread_mutex_lock(&s->lock);
	s->touched = true;
	rc = commit(s, x);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int mmds_store__patch(struct mmds_store *s, const char *json, size_t len, char *err, size_t errlen)
{
	int rc;
	if (len > UINT32_MAX)
		return MMDS_ETOOBIG;
	struct mnode *p = parse(json, len, err, errlen, &rc);
	if (!p)
		return rc;
	pthread_mutex_lock(&s->lock);
	s->touched = true;
	struct mnode *next = NULL;
	if (!s->root) {
		rc = MMDS_EUNINIT;
	} else if (!(next = node_copy(s->root)) || !merge(&next, p)) {
		node_free(next);
		rc = MMDS_ENOMEM;
	} else {
		rc = commit(s, next);
	}
	pthread_mutex_unlock(&s->lock);
	node_free(p);
	return rc;
}

void mmds_store__get(struct mmds_store *s, struct json_out *o)
{
	pthread_mutex_lock(&s->lock);
	if (s->root)
		node_write(s->root, o);
	else
		json_out__raw(o, "{}", 2);
	pthread_mutex_unlock(&s->lock);
}

void mmds_store__touch(struct mmds_store *s)
{
	pthread_mutex_lock(&s->lock);
	s->touched = true;
	pthread_mutex_unlock(&s->lock);
}

bool mmds_store__touched(struct mmds_store *s)
{
	pthread_mutex_lock(&s->lock);
	bool t = s->touched;
	pthread_mutex_unlock(&s->lock);
	return t;
}

void mmds_store__set_options(struct mmds_store *s, enum mmds_version v, bool imds_compat)
{
	pthread_mutex_lock(&s->lock);
	s->version = v;
	s->imds_compat = imds_compat;
	s->touched = true;
	pthread_mutex_unlock(&s->lock);
}

enum mmds_version mmds_store__version(struct mmds_store *s)
{
	pthread_mutex_lock(&s->lock);
	enum mmds_version v = s->version;
	pthread_mutex_unlock(&s->lock);
	return v;
}

size_t mmds_store__limit(struct mmds_store *s)
{
	return s->limit;
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
static const struct mnode *pointer(const struct mnode *root, const char *p, size_t n, char *tmp)
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
			size_t at =
			    strlen(tmp) == tl ? find_key(x, tmp, &found) : (found = false, 0);
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

int mmds_store__lookup(struct mmds_store *s, const char *path, size_t path_len, bool json,
		       struct json_out *o)
{
	/* Firecracker's sanitize_uri: runs of '/' become one; then one trailing '/' goes. */
	char *clean = malloc(path_len + 1), *tmp = malloc(path_len + 1);
	if (!clean || !tmp) {
		free(clean);
		free(tmp);
		return 500;
	}
	size_t n = 0;
	for (size_t i = 0; i < path_len; i++)
		if (!(path[i] == '/' && n && clean[n - 1] == '/'))
			clean[n++] = path[i];
	if (n && clean[n - 1] == '/')
		n--;
	int status = 200;
	pthread_mutex_lock(&s->lock);
	const struct mnode *x = pointer(s->root, clean, n, tmp);
	if (!x) {
		status = 404;
	} else if (json && !s->imds_compat) {
		node_write(x, o);
	} else if (x->type == JSON_OBJECT) {
		/* The IMDS listing: keys one a line, a '/' after those that are objects. */
		for (size_t i = 0; i < x->n; i++) {
			if (i)
				json_out__raw(o, "\n", 1);
			json_out__raw(o, x->keys[i], strlen(x->keys[i]));
			if (x->kids[i]->type == JSON_OBJECT)
				json_out__raw(o, "/", 1);
		}
	} else if (x->type == JSON_STRING) {
		json_out__raw(o, x->s, x->len);
	} else {
		status = 501;
	}
	pthread_mutex_unlock(&s->lock);
	free(clean);
	free(tmp);
	return status;
}

int mmds_store__new_token(struct mmds_store *s, uint32_t ttl_s, char out[MMDS_TOKEN_LEN + 1])
{
	if (ttl_s < MMDS_TOKEN_TTL_MIN || ttl_s > MMDS_TOKEN_TTL_MAX)
		return -1;
	pthread_mutex_lock(&s->lock);
	mmds_token__make(&s->key, mmds_token__now_ms() + (uint64_t)ttl_s * 1000, out);
	pthread_mutex_unlock(&s->lock);
	return MMDS_TOKEN_LEN;
}

bool mmds_store__token_valid(struct mmds_store *s, const char *tok, size_t len)
{
	pthread_mutex_lock(&s->lock);
	bool ok = mmds_token__check(&s->key, tok, len, mmds_token__now_ms());
	pthread_mutex_unlock(&s->lock);
	return ok;
}

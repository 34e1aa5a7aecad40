/* The MMDS data store: the tree (mmds_tree.c) behind a lock, bounded by the size of
 * its compact serialization, as Firecracker bounds it; the guest's lookups; tokens. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/json.h"
#include "mmds_int.h"

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
	mmds_node__free(s->root);
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
	mmds_node__free(s->root);
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
	mmds_node__write(x, &o);
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
	} else if (!(x = mmds_node__from(&d, 0))) {
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
		mmds_node__free(next);
		return MMDS_ENOMEM;
	}
	if (n > s->limit) {
		mmds_node__free(next);
		return MMDS_ETOOBIG;
	}
	mmds_node__free(s->root);
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
	} else if (!(next = mmds_node__copy(s->root)) || !mmds_node__merge(&next, p)) {
		mmds_node__free(next);
		rc = MMDS_ENOMEM;
	} else {
		rc = commit(s, next);
	}
	pthread_mutex_unlock(&s->lock);
	mmds_node__free(p);
	return rc;
}

void mmds_store__get(struct mmds_store *s, struct json_out *o)
{
	pthread_mutex_lock(&s->lock);
	if (s->root)
		mmds_node__write(s->root, o);
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
	const struct mnode *x = mmds_node__pointer(s->root, clean, n, tmp);
	if (!x) {
		status = 404;
	} else if (json && !s->imds_compat) {
		mmds_node__write(x, o);
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

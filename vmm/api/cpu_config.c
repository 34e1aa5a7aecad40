#include "cpu_config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file.h"

/* Long enough for a 64-bit bitmap with a '_' between every bit. */
#define TEXT_MAX 160

static const char *const top_names[] = {"kvm_capabilities", "cpuid_modifiers", "msr_modifiers"};
static const char *const reg_names[] = {"eax", "ebx", "ecx", "edx"};

/* Where the member being decoded is, for errors: "cpuid_modifiers[1].modifiers[0]". */
struct where {
	char at[96];
};

static int bad(struct error *e, const struct where *w, const char *member, const char *why)
{
	return error__fail(e, EXIT_USAGE, "cpu-config: %s%s%s: %s", w->at, w->at[0] ? "." : "",
			   member, why);
}

/* The value token of member `name` of object obj, or 0 if absent. */
static unsigned member(const struct json_doc *d, unsigned obj, const char *name)
{
	unsigned k = obj + 1;
	for (uint32_t m = 0; m < d->toks[obj].count; m++, k = d->toks[k + 1].next)
		if (json__string_eq(d, k, name))
			return k + 1;
	return 0;
}

static int need(const struct json_doc *d, unsigned obj, const char *name, enum json_type type,
		const struct where *w, unsigned *tok, struct error *e)
{
	*tok = member(d, obj, name);
	if (!*tok) {
		char why[64];
		snprintf(why, sizeof(why), "missing field `%s`", name);
		return error__fail(e, EXIT_USAGE, "cpu-config: %s: %s", w->at[0] ? w->at : "(top)",
				   why);
	}
	if (d->toks[*tok].type != type) {
		char why[64];
		snprintf(why, sizeof(why), "expected %s, got %s", json__type_name(type),
			 json__type_name(d->toks[*tok].type));
		return bad(e, w, name, why);
	}
	return 0;
}

static int text(const struct json_doc *d, unsigned obj, const char *name, const struct where *w,
		char *out, struct error *e)
{
	unsigned t;
	if (need(d, obj, name, JSON_STRING, w, &t, e))
		return -1;
	if (json__string(d, t, out, TEXT_MAX))
		return bad(e, w, name, "too long, or holds a NUL");
	return 0;
}

static int number(const struct json_doc *d, unsigned obj, const char *name, const struct where *w,
		  uint32_t *out, struct error *e)
{
	char s[TEXT_MAX], why[ERROR_MSG_MAX];
	if (text(d, obj, name, w, s, e))
		return -1;
	if (cpu_tpl__parse_u32(s, out, why, sizeof(why)))
		return bad(e, w, name, why);
	return 0;
}

static int bitmap(const struct json_doc *d, unsigned obj, unsigned bits, const struct where *w,
		  uint64_t *filter, uint64_t *value, struct error *e)
{
	char s[TEXT_MAX], why[ERROR_MSG_MAX];
	if (text(d, obj, "bitmap", w, s, e))
		return -1;
	if (cpu_tpl__parse_bitmap(s, bits, filter, value, why, sizeof(why)))
		return bad(e, w, "bitmap", why);
	return 0;
}

static int reg_mod(const struct json_doc *d, unsigned obj, const struct where *w,
		   struct cpu_tpl_reg_mod *m, struct error *e)
{
	char s[TEXT_MAX];
	if (text(d, obj, "register", w, s, e))
		return -1;
	for (m->reg = 0; m->reg < 4; m->reg++)
		if (!strcmp(s, reg_names[m->reg]))
			break;
	if (m->reg == 4)
		return bad(e, w, "register",
			   "Invalid CPUID register. Must be one of [eax, ebx, ecx, "
			   "edx]");
	uint64_t f, v;
	if (bitmap(d, obj, 32, w, &f, &v, e))
		return -1;
	m->filter = (uint32_t)f;
	m->value = (uint32_t)v;
	return 0;
}

static int leaf_mod(const struct json_doc *d, unsigned obj, struct where *w, struct cpu_tpl_leaf *l,
		    struct error *e)
{
	unsigned t, mods;
	uint64_t flags;
	if (number(d, obj, "leaf", w, &l->leaf, e) ||
	    number(d, obj, "subleaf", w, &l->subleaf, e) ||
	    need(d, obj, "flags", JSON_NUMBER, w, &t, e))
		return -1;
	if (json__u64(d, t, UINT32_MAX, &flags))
		return bad(e, w, "flags", "not a 32-bit unsigned number");
	l->flags = (uint32_t)flags;
	if (need(d, obj, "modifiers", JSON_ARRAY, w, &mods, e))
		return -1;
	if (d->toks[mods].count > CPU_TPL_MAX_REG_MODS) {
		char why[64];
		snprintf(why, sizeof(why), "at most %d register modifiers per leaf",
			 CPU_TPL_MAX_REG_MODS);
		return bad(e, w, "modifiers", why);
	}
	size_t len = strlen(w->at);
	l->nr_mods = 0;
	for (unsigned el = mods + 1; el < d->toks[mods].next; el = d->toks[el].next) {
		snprintf(w->at + len, sizeof(w->at) - len, ".modifiers[%u]", l->nr_mods);
		if (d->toks[el].type != JSON_OBJECT)
			return bad(e, w, "", "expected an object");
		if (reg_mod(d, el, w, &l->mods[l->nr_mods++], e))
			return -1;
	}
	w->at[len] = '\0';
	return 0;
}

static int msr_mod(const struct json_doc *d, unsigned obj, const struct where *w,
		   struct cpu_tpl_msr *m, struct error *e)
{
	return number(d, obj, "addr", w, &m->addr, e) ||
		       bitmap(d, obj, 64, w, &m->filter, &m->value, e)
		   ? -1
		   : 0;
}

static int list(const struct json_doc *d, unsigned arr, unsigned which, struct cpu_template *t,
		struct error *e)
{
	static const unsigned max[] = {CPU_TPL_MAX_CAPS, CPU_TPL_MAX_LEAVES, CPU_TPL_MAX_MSRS};
	if (d->toks[arr].type != JSON_ARRAY)
		return error__fail(e, EXIT_USAGE, "cpu-config: %s: expected an array, got %s",
				   top_names[which], json__type_name(d->toks[arr].type));
	if (d->toks[arr].count > max[which])
		return error__fail(e, EXIT_USAGE, "cpu-config: %s: at most %u entries",
				   top_names[which], max[which]);
	unsigned i = 0;
	for (unsigned el = arr + 1; el < d->toks[arr].next; el = d->toks[el].next, i++) {
		struct where w;
		snprintf(w.at, sizeof(w.at), "%s[%u]", top_names[which], i);
		enum json_type want = which == 0 ? JSON_STRING : JSON_OBJECT;
		if (d->toks[el].type != want)
			return error__fail(e, EXIT_USAGE, "cpu-config: %s: expected %s, got %s",
					   w.at, json__type_name(want),
					   json__type_name(d->toks[el].type));
		if (which == 0) {
			char s[TEXT_MAX], why[ERROR_MSG_MAX];
			if (json__string(d, el, s, sizeof(s)))
				return error__fail(e, EXIT_USAGE, "cpu-config: %s: too long", w.at);
			if (cpu_tpl__parse_cap(s, &t->caps[t->nr_caps++], why, sizeof(why)))
				return error__fail(e, EXIT_USAGE, "cpu-config: %s: %s", w.at, why);
		} else if (which == 1) {
			if (leaf_mod(d, el, &w, &t->leaves[t->nr_leaves++], e))
				return -1;
		} else if (msr_mod(d, el, &w, &t->msrs[t->nr_msrs++], e)) {
			return -1;
		}
	}
	return 0;
}

int cpu_config__decode(const struct json_doc *d, unsigned obj, struct cpu_template *out,
		       struct error *e)
{
	memset(out, 0, sizeof(*out));
	out->kind = CPU_TPL_CUSTOM;
	if (d->toks[obj].type != JSON_OBJECT)
		return error__fail(e, EXIT_USAGE, "cpu-config: expected an object, got %s",
				   json__type_name(d->toks[obj].type));
	bool seen[3] = {false, false, false};
	unsigned k = obj + 1;
	for (uint32_t m = 0; m < d->toks[obj].count; m++, k = d->toks[k + 1].next) {
		unsigned which;
		for (which = 0; which < 3; which++)
			if (json__string_eq(d, k, top_names[which]))
				break;
		if (which == 3) {
			char name[64];
			if (json__string(d, k, name, sizeof(name)))
				snprintf(name, sizeof(name), "(long or invalid name)");
			bool arm = !strcmp(name, "reg_modifiers") || !strcmp(name, "vcpu_features");
#if defined(__aarch64__)
			if (arm)
				return error__fail(e, EXIT_USAGE,
						   "cpu-config: %s: not supported by ember yet",
						   name);
#endif
			return error__fail(
			    e, EXIT_USAGE,
			    "cpu-config: unknown field `%s`, expected one of "
			    "`kvm_capabilities`, `cpuid_modifiers`, `msr_modifiers`%s",
			    name, arm ? " (it is an aarch64 field; this host is x86_64)" : "");
		}
		if (seen[which])
			return error__fail(e, EXIT_USAGE, "cpu-config: duplicate field `%s`",
					   top_names[which]);
		seen[which] = true;
		if (list(d, k + 1, which, out, e))
			return -1;
	}
	char why[ERROR_MSG_MAX];
	if (cpu_tpl__check_arch(out, why, sizeof(why)))
		return error__from_text(e, EXIT_USAGE, why);
	return 0;
}

void cpu_config__encode(const struct cpu_template *t, struct json_out *o)
{
	json_out__raw(o, "{\"kvm_capabilities\":[", 21);
	for (uint32_t i = 0; i < t->nr_caps; i++)
		json_out__printf(o, "%s\"%s%u\"", i ? "," : "", t->caps[i].remove ? "!" : "",
				 t->caps[i].cap);
	json_out__raw(o, "],\"cpuid_modifiers\":[", 21);
	char bits[67];
	for (uint32_t i = 0; i < t->nr_leaves; i++) {
		const struct cpu_tpl_leaf *l = &t->leaves[i];
		json_out__printf(o,
				 "%s{\"leaf\":\"0x%x\",\"subleaf\":\"0x%x\",\"flags\":%u,"
				 "\"modifiers\":[",
				 i ? "," : "", l->leaf, l->subleaf, l->flags);
		for (uint32_t m = 0; m < l->nr_mods && m < CPU_TPL_MAX_REG_MODS; m++) {
			cpu_tpl__format_bitmap(l->mods[m].filter, l->mods[m].value, 32, bits);
			json_out__printf(o, "%s{\"register\":\"%s\",\"bitmap\":\"%s\"}",
					 m ? "," : "", reg_names[l->mods[m].reg & 3], bits);
		}
		json_out__raw(o, "]}", 2);
	}
	json_out__raw(o, "],\"msr_modifiers\":[", 19);
	for (uint32_t i = 0; i < t->nr_msrs; i++) {
		cpu_tpl__format_bitmap(t->msrs[i].filter, t->msrs[i].value, 64, bits);
		json_out__printf(o, "%s{\"addr\":\"0x%x\",\"bitmap\":\"%s\"}", i ? "," : "",
				 t->msrs[i].addr, bits);
	}
	json_out__raw(o, "]}", 2);
}

int cpu_config__load_file(const char *path, struct cpu_template *out, struct error *e)
{
	enum { MAX = 64 * 1024, TOKS = 8192 };
	int fd = file__open(path, FILE_IMAGE);
	if (fd < 0)
		return error__fail(e, EXIT_USAGE, "cpu-config: '%s': %s", path, file__error());
	char *buf = malloc(MAX + 1);
	struct json_tok *toks = calloc(TOKS, sizeof(*toks));
	int rc = -1;
	size_t got = 0;
	if (!buf || !toks) {
		error__fail(e, EXIT_ERROR, "out of memory");
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf + got, MAX + 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			error__fail(e, EXIT_USAGE, "cpu-config: '%s': %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got > MAX) {
			error__fail(e, EXIT_USAGE, "cpu-config: '%s': larger than 64 KiB", path);
			goto out;
		}
	}
	struct json_doc d;
	char why[200];
	if (json__parse(&d, buf, got, toks, TOKS, why, sizeof(why))) {
		error__fail(e, EXIT_USAGE, "cpu-config: '%s': invalid JSON: %s", path, why);
		goto out;
	}
	rc = cpu_config__decode(&d, 0, out, e);
out:
	free(toks);
	free(buf);
	close(fd);
	return rc;
}

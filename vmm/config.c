#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define CONFIG_PAGE 4096u

/* Bytes from p to the end of its page, at most n. */
static size_t page_chunk(const void *p, size_t n)
{
	size_t left = CONFIG_PAGE - ((uintptr_t)p & (CONFIG_PAGE - 1));
	return left < n ? left : n;
}

bool config__equal(const void *a, const void *b, size_t n)
{
	/* Eight bytes at a time: musl's memcmp goes byte by byte, and comparing two
	 * configurations that way took a fifth of ember's start-up (issue 16). */
	const uint8_t *x = a, *y = b;
	uint64_t diff = 0;
	for (; n >= 8; n -= 8, x += 8, y += 8) {
		uint64_t u, v;
		memcpy(&u, x, 8);
		memcpy(&v, y, 8);
		diff |= u ^ v;
	}
	for (; n; n--)
		diff |= (uint64_t)(*x++ ^ *y++);
	return diff == 0;
}

void config__assign(void *dst, const void *src, size_t n)
{
	uint8_t *d = dst;
	const uint8_t *s = src;
	while (n) {
		size_t c = page_chunk(d, n);
		if (!config__equal(d, s, c))
			memcpy(d, s, c);
		d += c;
		s += c;
		n -= c;
	}
}

void config__zero(void *dst, size_t n)
{
	static const uint8_t zeros[CONFIG_PAGE];
	uint8_t *d = dst;
	while (n) {
		size_t c = page_chunk(d, n);
		if (!config__equal(d, zeros, c))
			memset(d, 0, c);
		d += c;
		n -= c;
	}
}

void config__init(struct vm_config *cfg)
{
	config__zero(cfg, sizeof(*cfg));
	config__init_zeroed(cfg);
}

void config__init_zeroed(struct vm_config *cfg)
{
	cfg->vcpus = 1;
	cfg->mem_mib = 128;
	cfg->serial_out = SERIAL_OUT_STDOUT;
	cfg->serial_in = SERIAL_IN_NONE;
}

const char *config__cmdline(const struct vm_config *cfg)
{
	return cfg->has_cmdline ? cfg->cmdline : CONFIG_DEFAULT_CMDLINE;
}

int config__root_args(const struct drive_config *d, char *out, size_t n)
{
	int len = d->partuuid[0] ? snprintf(out, n, "root=PARTUUID=%s %s", d->partuuid,
					    d->read_only ? "ro" : "rw")
				 : snprintf(out, n, "root=/dev/vda %s", d->read_only ? "ro" : "rw");
	return len < 0 || (size_t)len >= n ? -1 : 0;
}

void config__root_first(struct vm_config *cfg)
{
	for (unsigned i = 1; i < cfg->nr_drives; i++) {
		if (!cfg->drives[i].is_root_device)
			continue;
		struct drive_config root = cfg->drives[i];
		memmove(&cfg->drives[1], &cfg->drives[0], i * sizeof(cfg->drives[0]));
		cfg->drives[0] = root;
		return;
	}
}

int config__set_path(char *dst, size_t dstlen, const char *field, const char *value, char *err,
		     size_t errlen)
{
	size_t n = strlen(value);
	if (n == 0)
		return error__set(err, errlen, "%s: must not be empty", field);
	if (n >= dstlen)
		return error__set(err, errlen, "%s: longer than %zu bytes", field, dstlen - 1);
	memcpy(dst, value, n + 1);
	return 0;
}

int config__check_id(const char *field, const char *id, char *err, size_t errlen)
{
	size_t n = strlen(id);
	if (n == 0 || n > CONFIG_ID_MAX)
		return error__set(err, errlen, "%s: must be 1 to %d characters", field,
				  CONFIG_ID_MAX);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)id[i];
		if (!isalnum(c) && c != '_' && c != '-')
			return error__set(err, errlen,
					  "%s: '%s' may hold only letters, digits, '_' and '-'",
					  field, id);
	}
	return 0;
}

int config__parse_u64(const char *s, unsigned long long max, unsigned long long *out)
{
	if (!s || !isdigit((unsigned char)s[0]))
		return -1;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

int config__parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char tail;
	if (strlen(s) != 17 || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3],
				      &v[4], &v[5], &tail) != 6)
		return -1;
	for (int i = 0; i < 6; i++) {
		if (!isxdigit((unsigned char)s[i * 3]) || !isxdigit((unsigned char)s[i * 3 + 1]))
			return -1;
		mac[i] = (uint8_t)v[i];
	}
	return 0;
}

static uint64_t mem_max_mib = CONFIG_MAX_MEM_MIB;

void config__set_mem_max_mib(uint64_t mib)
{
	mem_max_mib = mib;
}

uint64_t config__mem_max_mib(void)
{
	return mem_max_mib;
}

void config__mem_cap_error(const char *mib, char *err, size_t errlen)
{
	snprintf(err, errlen,
		 "mem_size_mib: %s MiB is more than this host allows (%llu MiB, set by ember "
		 "--mem-max-mib; the default is the host's RAM)",
		 mib, (unsigned long long)mem_max_mib);
}

int config__validate(const struct vm_config *cfg, char *err, size_t errlen)
{
	if (cfg->kernel_path[0] == '\0')
		return error__set(err, errlen, "kernel_image_path: no kernel image given");
	return config__validate_pending(cfg, err, errlen);
}

int config__validate_pending(const struct vm_config *cfg, char *err, size_t errlen)
{
	if (cfg->vcpus < 1 || cfg->vcpus > CONFIG_MAX_VCPUS)
		return error__set(err, errlen, "vcpu_count: %u is out of range 1..%d", cfg->vcpus,
				  CONFIG_MAX_VCPUS);
#if defined(__aarch64__)
	/* Threads per core are an x86 CPUID topology here; arm64 has none to offer. */
	if (cfg->smt)
		return error__set(err, errlen, "smt: not supported on aarch64");
#endif
	if (cfg->smt && cfg->vcpus > 1 && cfg->vcpus % 2)
		return error__set(err, errlen, "vcpu_count: must be 1 or even when smt is enabled");
	if (cpu_tpl__check_arch(&cfg->cpu_template, err, errlen))
		return -1;
	/* The cap is at most CONFIG_MAX_MEM_MIB (cli.c clamps it): one message for both. */
	if (cfg->mem_mib < 1)
		return error__set(err, errlen, "mem_size_mib: 0 is out of range 1..%llu",
				  (unsigned long long)mem_max_mib);
	if (cfg->mem_mib > mem_max_mib || cfg->mem_mib > CONFIG_MAX_MEM_MIB) {
		char num[24];
		snprintf(num, sizeof(num), "%llu", (unsigned long long)cfg->mem_mib);
		config__mem_cap_error(num, err, errlen);
		return -1;
	}
	if (cfg->balloon.present && cfg->balloon.amount_mib > cfg->mem_mib)
		return error__set(
		    err, errlen,
		    "balloon.amount_mib: %u MiB is more than the guest's memory (%llu "
		    "MiB): Amount of pages requested is too large.",
		    cfg->balloon.amount_mib, (unsigned long long)cfg->mem_mib);
	if (cfg->serial_out == SERIAL_OUT_FILE && !cfg->serial_out_path[0])
		return error__set(err, errlen, "serial: no output path");
	if (cfg->serial_in == SERIAL_IN_FILE && !cfg->serial_in_path[0])
		return error__set(err, errlen, "serial: no input path");

	unsigned roots = 0;
	for (unsigned i = 0; i < cfg->nr_drives; i++) {
		const struct drive_config *d = &cfg->drives[i];
		if (config__check_id("drive_id", d->id, err, errlen))
			return -1;
		if (!d->path[0])
			return error__set(err, errlen, "drives[%s].path_on_host: must not be empty",
					  d->id);
		roots += d->is_root_device;
		/* It goes on the kernel command line: one word, no quotes. */
		for (const char *p = d->partuuid; *p; p++)
			if (!isgraph((unsigned char)*p) || *p == '"')
				return error__set(err, errlen,
						  "drives[%s].partuuid: '%s' may not hold spaces, "
						  "quotes or control characters",
						  d->id, d->partuuid);
		for (unsigned j = 0; j < i; j++)
			if (strcmp(cfg->drives[j].id, d->id) == 0)
				return error__set(err, errlen, "drive_id: '%s' is used twice",
						  d->id);
	}
	if (roots > 1)
		return error__set(err, errlen,
				  "is_root_device: only one drive can be the root device");

	for (unsigned i = 0; i < cfg->nr_nets; i++) {
		const struct net_config *n = &cfg->nets[i];
		if (config__check_id("iface_id", n->id, err, errlen))
			return -1;
		if (!n->host_dev_name[0])
			return error__set(err, errlen,
					  "network-interfaces[%s].host_dev_name: must not be empty",
					  n->id);
		for (unsigned j = 0; j < i; j++) {
			if (strcmp(cfg->nets[j].id, n->id) == 0)
				return error__set(err, errlen, "iface_id: '%s' is used twice",
						  n->id);
			if (strcmp(cfg->nets[j].host_dev_name, n->host_dev_name) == 0)
				return error__set(err, errlen, "host_dev_name: '%s' is used twice",
						  n->host_dev_name);
			if (n->has_mac && cfg->nets[j].has_mac &&
			    memcmp(n->guest_mac, cfg->nets[j].guest_mac, 6) == 0)
				return error__set(err, errlen, "guest_mac: used by two interfaces");
		}
	}

	unsigned virtio = cfg->nr_drives + cfg->nr_nets + cfg->vsock.present + cfg->entropy;
	if (virtio > CONFIG_MAX_VIRTIO)
		return error__set(err, errlen,
				  "too many virtio devices: %u drives, %u network interfaces%s%s "
				  "need %u IRQ lines, and a VM has %d for virtio devices",
				  cfg->nr_drives, cfg->nr_nets, cfg->vsock.present ? ", vsock" : "",
				  cfg->entropy ? ", entropy" : "", virtio, CONFIG_MAX_VIRTIO);

	if (cfg->mmds.present) {
		const struct mmds_config *m = &cfg->mmds;
		/* Firecracker's MmdsConfigError texts (its "MMMDS" included). */
		if (!config__mmds_ipv4_ok(m->ipv4))
			return error__set(
			    err, errlen,
			    "MMMDS config error: The MMDS IPv4 address is not link local.");
		if (m->nr_ifaces == 0)
			return error__set(err, errlen,
					  "MMMDS config error: The list of network interface IDs "
					  "that allow forwarding MMDS requests is empty.");
		for (unsigned i = 0; i < m->nr_ifaces; i++) {
			bool found = false;
			for (unsigned j = 0; j < cfg->nr_nets; j++)
				found |= strcmp(cfg->nets[j].id, m->ifaces[i]) == 0;
			if (!found)
				return error__set(
				    err, errlen,
				    "MMMDS config error: The list of network interface IDs "
				    "provided "
				    "contains at least one ID that does not correspond to any "
				    "existing network interface.");
		}
	}

	if (cfg->vsock.present) {
		if (cfg->vsock.guest_cid < 3)
			return error__set(err, errlen, "guest_cid: %u is reserved; use 3 or more",
					  cfg->vsock.guest_cid);
		if (!cfg->vsock.uds_path[0])
			return error__set(err, errlen, "uds_path: must not be empty");
	}
	return 0;
}

/* Splits "k=v,k2,k3=v3" in place; calls fn for each pair (value NULL for a bare key). */
typedef int (*spec_fn)(void *ctx, const char *key, const char *value, char *err, size_t errlen);
static int parse_spec(const char *spec, const char *what, spec_fn fn, void *ctx, char *err,
		      size_t errlen)
{
	char buf[CONFIG_PATH_MAX + 256];
	if (strlen(spec) >= sizeof(buf))
		return error__set(err, errlen, "%s: specification too long", what);
	strcpy(buf, spec);
	char *save = NULL;
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		if (eq)
			*eq++ = '\0';
		if (fn(ctx, tok, eq, err, errlen))
			return -1;
	}
	return 0;
}

static int drive_kv(void *ctx, const char *key, const char *value, char *err, size_t errlen)
{
	struct drive_config *d = ctx;
	if (strcmp(key, "path") == 0 && value)
		return config__set_path(d->path, sizeof(d->path), "--drive path", value, err,
					errlen);
	if (strcmp(key, "id") == 0 && value)
		return config__set_path(d->id, sizeof(d->id), "--drive id", value, err, errlen);
	if (strcmp(key, "ro") == 0 && !value) {
		d->read_only = true;
		return 0;
	}
	if (strcmp(key, "root") == 0 && !value) {
		d->is_root_device = true;
		return 0;
	}
	return error__set(err, errlen,
			  "--drive: unknown option '%s' (expected path=, id=, ro, root)", key);
}

int config__add_drive_spec(struct vm_config *cfg, const char *spec, char *err, size_t errlen)
{
	if (cfg->nr_drives == CONFIG_MAX_DRIVES)
		return error__set(err, errlen, "--drive: at most %d drives", CONFIG_MAX_DRIVES);
	struct drive_config d = {0};
	if (parse_spec(spec, "--drive", drive_kv, &d, err, errlen))
		return -1;
	if (!d.path[0])
		return error__set(err, errlen, "--drive: path= is required");
	if (!d.id[0])
		snprintf(d.id, sizeof(d.id), "drive%u", cfg->nr_drives);
	cfg->drives[cfg->nr_drives++] = d;
	return 0;
}

static int net_kv(void *ctx, const char *key, const char *value, char *err, size_t errlen)
{
	struct net_config *n = ctx;
	if (strcmp(key, "tap") == 0 && value)
		return config__set_path(n->host_dev_name, sizeof(n->host_dev_name), "--net tap",
					value, err, errlen);
	if (strcmp(key, "id") == 0 && value)
		return config__set_path(n->id, sizeof(n->id), "--net id", value, err, errlen);
	if (strcmp(key, "mac") == 0 && value) {
		if (config__parse_mac(value, n->guest_mac))
			return error__set(err, errlen, "--net mac: '%s' is not a MAC address",
					  value);
		n->has_mac = true;
		return 0;
	}
	if (strcmp(key, "mtu") == 0 && value) {
		unsigned long long mtu;
		if (config__parse_u64(value, 65535, &mtu) || mtu < 68)
			return error__set(err, errlen, "--net mtu: '%s' is not in 68..65535",
					  value);
		n->mtu = (uint32_t)mtu;
		return 0;
	}
	return error__set(err, errlen,
			  "--net: unknown option '%s' (expected tap=, mac=, id=, mtu=)", key);
}

int config__add_net_spec(struct vm_config *cfg, const char *spec, char *err, size_t errlen)
{
	if (cfg->nr_nets == CONFIG_MAX_NETS)
		return error__set(err, errlen, "--net: at most %d interfaces", CONFIG_MAX_NETS);
	struct net_config n = {0};
	if (parse_spec(spec, "--net", net_kv, &n, err, errlen))
		return -1;
	if (!n.host_dev_name[0])
		return error__set(err, errlen, "--net: tap= is required");
	if (!n.id[0])
		snprintf(n.id, sizeof(n.id), "eth%u", cfg->nr_nets);
	cfg->nets[cfg->nr_nets++] = n;
	return 0;
}

static int vsock_kv(void *ctx, const char *key, const char *value, char *err, size_t errlen)
{
	struct vsock_config *v = ctx;
	if (strcmp(key, "cid") == 0 && value) {
		unsigned long long cid;
		if (config__parse_u64(value, UINT32_MAX, &cid))
			return error__set(err, errlen, "--vsock cid: '%s' is not a number", value);
		v->guest_cid = (uint32_t)cid;
		return 0;
	}
	if (strcmp(key, "uds") == 0 && value)
		return config__set_path(v->uds_path, sizeof(v->uds_path), "--vsock uds", value, err,
					errlen);
	return error__set(err, errlen, "--vsock: unknown option '%s' (expected cid=, uds=)", key);
}

int config__set_vsock_spec(struct vm_config *cfg, const char *spec, char *err, size_t errlen)
{
	struct vsock_config v = {.present = true};
	if (parse_spec(spec, "--vsock", vsock_kv, &v, err, errlen))
		return -1;
	if (!v.guest_cid || !v.uds_path[0])
		return error__set(err, errlen, "--vsock: cid= and uds= are required");
	cfg->vsock = v;
	return 0;
}

bool config__mmds_ipv4_ok(uint32_t ipv4)
{
	uint32_t third = ipv4 >> 8 & 0xff;
	return (ipv4 >> 16) == 0xa9fe && third != 0 && third != 255;
}

bool config__mmds_iface(const struct vm_config *cfg, const char *id)
{
	if (!cfg->mmds.present)
		return false;
	for (unsigned i = 0; i < cfg->mmds.nr_ifaces; i++)
		if (strcmp(cfg->mmds.ifaces[i], id) == 0)
			return true;
	return false;
}

/* The virtio devices' counters: as name/value pairs (virtio__metrics) and as the
 * metrics file's groups, in Firecracker's names (virtio__write_metrics). */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "api/json.h"
#include "devices.h"
#include "mmds.h"
#include "vm.h"

static bool is_virtio(const struct device_ops *ops);

void virtio__metrics(struct vm *vm, virtio_metric_fn fn, void *opaque)
{
	for (unsigned i = 0; i < vm->nr_devices; i++) {
		if (!is_virtio(vm->devices[i].ops))
			continue;
		struct virtio_dev *d = vm->devices[i].dev;
		pthread_mutex_lock(&d->lock);
		const struct virtio_stats *s = &d->stats;
		fn(opaque, d->name, "requests", s->requests);
		fn(opaque, d->name, "read_bytes", s->read_bytes);
		fn(opaque, d->name, "write_bytes", s->write_bytes);
		fn(opaque, d->name, "errors", s->errors);
		fn(opaque, d->name, "dropped", s->dropped);
		fn(opaque, d->name, "interrupts", s->interrupts);
		fn(opaque, d->name, "ring_errors", s->ring_errors);
		if (d->ops->metrics)
			d->ops->metrics(d, fn, opaque);
		pthread_mutex_unlock(&d->lock);
	}
}

/* One group's counters, in the order a device type always gives them, so that the
 * groups of devices of one type add up position by position. */
#define GROUP_MAX 32
struct group {
	const char *name[GROUP_MAX];
	uint64_t value[GROUP_MAX];
	unsigned n;
};

static void put(struct group *g, const char *name, uint64_t value)
{
	if (name && g->n < GROUP_MAX) {
		g->name[g->n] = name;
		g->value[g->n++] = value;
	}
}

static void put_extra(void *opaque, const char *device, const char *name, uint64_t value)
{
	put(opaque, name, value);
}

static void collect(struct virtio_dev *d, struct group *g)
{
	const struct virtio_metric_names *m = d->ops->metric_names;
	const struct virtio_stats *s = &d->stats;
	g->n = 0;
	pthread_mutex_lock(&d->lock);
	put(g, m->requests, s->requests);
	put(g, m->read_bytes, s->read_bytes);
	put(g, m->write_bytes, s->write_bytes);
	put(g, m->errors, s->errors);
	put(g, m->dropped, s->dropped);
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		put(g, m->queue_events[q], s->queue_events[q]);
		put(g, m->queue_chains[q], s->queue_chains[q]);
	}
	if (d->ops->metrics)
		d->ops->metrics(d, put_extra, g);
	/* ember's own: Firecracker has no equivalents. */
	put(g, "interrupts", s->interrupts);
	put(g, "ring_errors", s->ring_errors);
	/* Firecracker's rate-limiter counters, last so the older ones keep their places. */
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		put(g, m->throttled[q], s->throttled[q]);
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		put(g, m->limiter_events[q], s->limiter_events[q]);
	pthread_mutex_unlock(&d->lock);
}

static void write_group(struct json_out *o, const char *key, const struct group *g)
{
	json_out__raw(o, ",", 1);
	json_out__str(o, key);
	json_out__raw(o, ":{", 2);
	for (unsigned i = 0; i < g->n; i++)
		json_out__printf(o, "%s\"%s\":%llu", i ? "," : "", g->name[i],
				 (unsigned long long)g->value[i]);
	json_out__raw(o, "}", 1);
}

/* "block.<id>" -> "block_<id>", as Firecracker names a drive's group. */
static void group_key(const struct virtio_dev *d, char *key, size_t len)
{
	const struct virtio_metric_names *m = d->ops->metric_names;
	const char *dot = strchr(d->name, '.');
	if (m->per_id && dot)
		snprintf(key, len, "%s_%s", m->group, dot + 1);
	else
		snprintf(key, len, "%s", m->group);
}

void virtio__device_metrics(void *dev, struct json_out *o)
{
	struct virtio_dev *d = dev;
	struct group g;
	char key[sizeof(d->name) + 16];
	if (!d->ops->metric_names)
		return;
	collect(d, &g);
	group_key(d, key, sizeof(key));
	write_group(o, key, &g);
}

/* A device-table row whose metrics hook is ours holds a struct virtio_dev: that is
 * how the rows of vmm/devices and virtio_device_ops alike are recognised. */
static bool is_virtio(const struct device_ops *ops)
{
	return ops->metrics == virtio__device_metrics;
}

/* Firecracker's "mmds" group, summed over the interfaces that answer for MMDS; none:
 * the controller writes it as zeros. */
static void write_mmds(struct vm *vm, struct json_out *o)
{
	struct mmds_stack_stats sum = {0};
	bool any = false;
	for (unsigned i = 0; i < vm->nr_devices; i++) {
		if (!is_virtio(vm->devices[i].ops))
			continue;
		struct virtio_dev *d = vm->devices[i].dev;
		struct mmds_stack_stats s;
		pthread_mutex_lock(&d->lock);
		bool has = net__mmds_stats(d, &s);
		pthread_mutex_unlock(&d->lock);
		if (!has)
			continue;
		any = true;
		sum.rx_accepted += s.rx_accepted + s.rx_accepted_err + s.rx_accepted_unusual;
		sum.rx_accepted_err += s.rx_accepted_err;
		sum.rx_accepted_unusual += s.rx_accepted_unusual;
		sum.rx_bad_eth += s.rx_bad_eth;
		sum.tx_frames += s.tx_frames;
		sum.tx_bytes += s.tx_bytes;
		sum.tx_errors += s.tx_errors;
		sum.conns_created += s.conns_created;
		sum.conns_destroyed += s.conns_destroyed;
	}
	if (!any)
		return;
	json_out__printf(
	    o,
	    ",\"mmds\":{\"rx_accepted\":%llu,\"rx_accepted_err\":%llu,\"rx_accepted_unusual\":%llu,"
	    "\"rx_bad_eth\":%llu,\"rx_count\":%llu,\"tx_bytes\":%llu,\"tx_count\":%llu,"
	    "\"tx_errors\":%llu,\"tx_frames\":%llu,\"connections_created\":%llu,"
	    "\"connections_destroyed\":%llu}",
	    (unsigned long long)sum.rx_accepted, (unsigned long long)sum.rx_accepted_err,
	    (unsigned long long)sum.rx_accepted_unusual, (unsigned long long)sum.rx_bad_eth,
	    (unsigned long long)(sum.rx_accepted - sum.rx_accepted_err - sum.rx_accepted_unusual),
	    (unsigned long long)sum.tx_bytes, (unsigned long long)sum.tx_frames,
	    (unsigned long long)sum.tx_errors, (unsigned long long)sum.tx_frames,
	    (unsigned long long)sum.conns_created, (unsigned long long)sum.conns_destroyed);
}

static void write_all(struct vm *vm, struct json_out *o, bool groups)
{
	/* The sums of the per-id groups, one per device type, in order of appearance. */
	struct {
		const struct virtio_metric_names *names;
		struct group sum;
	} sums[4];
	unsigned nsums = 0;
	for (unsigned i = 0; i < vm->nr_devices; i++) {
		if (!is_virtio(vm->devices[i].ops))
			continue;
		struct virtio_dev *d = vm->devices[i].dev;
		const struct virtio_metric_names *m = d->ops->metric_names;
		if (!m)
			continue;
		struct group g;
		collect(d, &g);
		if (groups) {
			char key[sizeof(d->name) + 16];
			group_key(d, key, sizeof(key));
			write_group(o, key, &g);
		}
		if (!m->per_id)
			continue;
		unsigned k = 0;
		while (k < nsums && sums[k].names != m)
			k++;
		if (k == nsums) {
			if (nsums == sizeof(sums) / sizeof(sums[0]))
				continue;
			sums[nsums].names = m;
			sums[nsums++].sum = g;
			continue;
		}
		for (unsigned j = 0; j < g.n && j < sums[k].sum.n; j++)
			sums[k].sum.value[j] += g.value[j];
	}
	for (unsigned k = 0; k < nsums; k++)
		write_group(o, sums[k].names->group, &sums[k].sum);
	write_mmds(vm, o);
}

void virtio__write_metrics(struct vm *vm, struct json_out *o)
{
	write_all(vm, o, true);
}

void virtio__write_sums(struct vm *vm, struct json_out *o)
{
	write_all(vm, o, false);
}

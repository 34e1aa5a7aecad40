/* The internal API of virtio/ (and its unit tests); the VMM sees only virtio.h.
 *   mmio.c    the virtio-mmio transport (version 2, virtio 1.2 §4.2): registers,
 *             feature negotiation, status, queue set-up;
 *   core.c    the generic part of every device: interrupts, failure, reset;
 *   serve.c   the one loop that serves a queue for every device;
 *   metrics.c the counters, for the metrics file.
 * A device model embeds a struct virtio_dev first and supplies a struct
 * virtio_dev_ops, whose main hook handles one descriptor chain. */
#ifndef EMBER_VIRTIO_MMIO_H
#define EMBER_VIRTIO_MMIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "log.h"
#include "queue.h"
#include "ratelimit.h"
#include "virtio.h"

struct vm;
struct event_loop;

/* Registers (§4.2.2). */
#define VIRTIO_MMIO_MAGIC_VALUE		0x000
#define VIRTIO_MMIO_VERSION		0x004
#define VIRTIO_MMIO_DEVICE_ID		0x008
#define VIRTIO_MMIO_VENDOR_ID		0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES	0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES	0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL		0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX	0x034
#define VIRTIO_MMIO_QUEUE_NUM		0x038
#define VIRTIO_MMIO_QUEUE_READY		0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY	0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS	0x060
#define VIRTIO_MMIO_INTERRUPT_ACK	0x064
#define VIRTIO_MMIO_STATUS		0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW	0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH	0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW	0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH	0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW	0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH	0x0a4
#define VIRTIO_MMIO_SHM_LEN_LOW		0x0b0
#define VIRTIO_MMIO_SHM_LEN_HIGH	0x0b4
#define VIRTIO_MMIO_CONFIG_GENERATION	0x0fc
#define VIRTIO_MMIO_CONFIG		0x100

#define VIRTIO_MMIO_MAGIC  0x74726976 /* "virt" */
#define VIRTIO_MMIO_VENDOR 0x52424d45 /* "EMBR" */

/* Device status bits (§2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE	 1
#define VIRTIO_STATUS_DRIVER		 2
#define VIRTIO_STATUS_DRIVER_OK		 4
#define VIRTIO_STATUS_FEATURES_OK	 8
#define VIRTIO_STATUS_DEVICE_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED		 128

#define VIRTIO_INT_VRING  1
#define VIRTIO_INT_CONFIG 2

/* Transport feature bits (§6). */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX     29
#define VIRTIO_F_VERSION_1     32

#define VIRTIO_BIT(n) (1ull << (n))

#define VIRTIO_ID_NET	1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_RNG	4
#define VIRTIO_ID_VSOCK 19

#define VIRTIO_MAX_QUEUES 4 /* the balloon: inflate, deflate, stats, reporting */

struct virtio_dev;

/* What a chain handler did with one chain. */
enum virtio_chain_result {
	VIRTIO_CHAIN_USED,   /* done: the core returns it with *written bytes */
	VIRTIO_CHAIN_UNUSED, /* nothing to put in it after all: the core gives it back */
	VIRTIO_CHAIN_BAD,    /* the driver broke the rules (*why): DEVICE_NEEDS_RESET */
	/* The device keeps the chain (by its head) and returns it later itself, with
	 * virtio_dev__used() and virtio_dev__flush(): the balloon's statistics buffer. */
	VIRTIO_CHAIN_KEPT,
};

/* How a device's counters are called in the metrics file: Firecracker's group and
 * counter names where it has them (NULL: the counter is not written). */
struct virtio_metric_names {
	const char *group; /* "block", "net", "vsock", "entropy" */
	bool per_id;	   /* "<group>_<id>" per device, and "<group>" sums them all */
	const char *requests, *read_bytes, *write_bytes, *errors, *dropped;
	const char *queue_events[VIRTIO_MAX_QUEUES];
	const char *queue_chains[VIRTIO_MAX_QUEUES];
	/* Chains (or frames) the queue's rate limiter held back. */
	const char *throttled[VIRTIO_MAX_QUEUES];
	const char *limiter_events[VIRTIO_MAX_QUEUES]; /* the limiter's timer expiries */
};

/* Each device model embeds a struct virtio_dev first and supplies these. Every hook
 * runs with dev->lock held. */
struct virtio_dev_ops {
	/* VMM thread: handles one chain popped from queue q, which the core then
	 * returns, counts and signals (see virtio_dev__serve). */
	enum virtio_chain_result (*chain)(struct virtio_dev *dev, unsigned q, struct virtq_chain *c,
					  uint32_t *written, const char **why);
	/* VMM thread: the bytes the chain costs the bandwidth bucket of queue q's rate
	 * limiter (it costs one op); asked only on a queue with a limiter. */
	uint64_t (*cost)(struct virtio_dev *dev, unsigned q, const struct virtq_chain *c);
	/* VMM thread: whether the device has anything to put into queue q. NULL: every
	 * chain the driver makes available is a request (driver-to-device queues). */
	bool (*has_work)(struct virtio_dev *dev, unsigned q);
	/* VMM thread: the driver kicked queue q. NULL: virtio_dev__serve(dev, q). */
	void (*notify)(struct virtio_dev *dev, unsigned q);
	/* vCPU thread: the driver set FEATURES_OK with dev->driver_features; -1 refuses. */
	int (*features_ok)(struct virtio_dev *dev);
	/* vCPU thread: the driver wrote len bytes at off into the device configuration
	 * space (bounds checked). NULL: the configuration is read-only. */
	void (*config_write)(struct virtio_dev *dev, uint32_t off, const uint8_t *data,
			     uint32_t len);
	/* vCPU thread: the driver reset the device. Must not block or touch the event
	 * loop; back-end clean-up that needs the VMM thread watches dev->resets. */
	void (*reset)(struct virtio_dev *dev);
	/* Device-specific counters beyond struct virtio_stats, by Firecracker's names. */
	void (*metrics)(struct virtio_dev *dev, virtio_metric_fn fn, void *opaque);
	const struct virtio_metric_names *metric_names;
	/* Lock not held; the VM is gone. Frees the device. */
	void (*destroy)(struct virtio_dev *dev);
	/* The process ends instead (device_ops.leave): undo what outlives it only. */
	void (*leave)(struct virtio_dev *dev);
};

/* Counters every device keeps; a device keeps its own only for what these do not
 * tell (frames, not buffers; successful writes...). Read them through
 * virtio__metrics() or virtio__write_metrics(). */
struct virtio_stats {
	uint64_t requests;    /* chains completed */
	uint64_t read_bytes;  /* bytes taken from the guest (written to the back end) */
	uint64_t write_bytes; /* bytes given to the guest */
	uint64_t errors;      /* requests failed for host or request errors */
	uint64_t dropped;     /* frames/packets the device had to drop */
	uint64_t interrupts;
	uint64_t ring_errors; /* driver broke the ring rules: DEVICE_NEEDS_RESET */
	uint64_t queue_events[VIRTIO_MAX_QUEUES]; /* kicks, and the serve loop's re-queues */
	/* `requests` split by queue: both bumped in virtio_dev__used() only. */
	uint64_t queue_chains[VIRTIO_MAX_QUEUES];
	/* Times a request waited for queue q's rate limiter (Firecracker's
	 * *_rate_limiter_throttled*: every refused attempt counts). */
	uint64_t throttled[VIRTIO_MAX_QUEUES];
	uint64_t limiter_events[VIRTIO_MAX_QUEUES];
};

/* The core's guest-triggerable log lines, each limited per device (log.h). */
struct virtio_log_limits {
	struct log_limit fail, legacy;
};

struct virtio_kick {
	struct virtio_dev *dev;
	unsigned q;
};

/* A queue's rate limiter and the timer that serves the queue again when its tokens
 * are back. */
struct virtio_throttle {
	struct ratelimit rl;
	int timer_fd;
	bool armed;
	struct virtio_dev *dev;
	unsigned q;
};

struct virtio_dev {
	/* Register accesses come from vCPU threads, queue work from the VMM thread. */
	pthread_mutex_t lock;
	const struct virtio_dev_ops *ops;
	char name[CONFIG_ID_MAX + 16]; /* "block.<id>", "net.<id>", "vsock", "rng" */
	uint32_t device_id;
	const struct guest_mem *mem;
	struct event_loop *loop;

	uint64_t host_features;
	uint64_t driver_features;
	uint32_t dev_feat_sel, drv_feat_sel;
	uint32_t status;
	uint32_t int_status;
	uint32_t config_gen;
	uint32_t queue_sel;
	uint32_t resets; /* bumped on every reset */
	struct virtio_log_limits limits;

	unsigned nr_queues;
	struct virtq vq[VIRTIO_MAX_QUEUES];
	struct virtq_layout pending[VIRTIO_MAX_QUEUES]; /* what the driver wrote so far */
	struct virtio_kick kicks[VIRTIO_MAX_QUEUES];
	int kick_fd[VIRTIO_MAX_QUEUES];
	int irq_fd; /* written to interrupt the guest; -1 = none (unit tests count only) */

	uint8_t *config;
	uint32_t config_len;

	uint64_t addr;
	uint32_t irq;
	struct virtio_stats stats;
	/* NULL: queue q is not limited (nor can be made so later). */
	struct virtio_throttle *throttle[VIRTIO_MAX_QUEUES];
	/* The chain being served; one at a time, on the VMM thread, under the lock. */
	struct virtq_chain chain;
};

void virtio_dev__init(struct virtio_dev *dev, const struct virtio_dev_ops *ops, uint32_t device_id,
		      const char *name, const struct guest_mem *mem, struct event_loop *loop,
		      unsigned nr_queues, uint64_t features, void *config, uint32_t config_len);
/* Releases what virtio_dev__init and __attach took (not the device memory). */
void virtio_dev__release(struct virtio_dev *dev);
/* Gives the device an MMIO slot, IRQ, irqfd and ioeventfds, serves its kicks on the
 * VMM thread and announces it on the guest command line. */
int virtio_dev__attach(struct virtio_dev *dev, struct vm *vm, char *err, size_t errlen);

/* Serves the kick eventfds already in dev->kick_fd on dev->loop (attach does this;
 * unit tests call it with plain eventfds). */
int virtio_dev__watch_kicks(struct virtio_dev *dev);

/* The bus handler (vCPU threads). */
void virtio_mmio__access(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write);
/* Serves queue q as if the driver had kicked it (VMM thread). */
void virtio_dev__kick(struct virtio_dev *dev, unsigned q);
/* Any thread: has the VMM thread serve queue q soon, through its kick eventfd. */
void virtio_dev__signal_kick(struct virtio_dev *dev, unsigned q);

/* Gives queue q a rate limiter (p NULL: none yet, PATCH may set one) and its timer on
 * dev->loop; before the VM runs. -1 with err. */
int virtio_dev__limit(struct virtio_dev *dev, unsigned q, const struct rate_limiter_config *p,
		      char *err, size_t errlen);
/* Changes queue q's limits live (VMM thread; lock not held): a NULL bucket is kept.
 * The queue is served again at once under the new limits; what the guest queued
 * stays queued. -1 if the queue has no limiter. */
int virtio_dev__update_limit(struct virtio_dev *dev, unsigned q,
			     const struct token_bucket_config *bw,
			     const struct token_bucket_config *ops);
/* Frees the limiters (virtio_dev__release does). */
void virtio_dev__unlimit(struct virtio_dev *dev);
/* Timer expiry (the event loop calls it; tests may too): serves queue q again. */
void virtio_dev__unthrottle(struct virtio_dev *dev, unsigned q);

/* At most this many chains per call of virtio_dev__serve: a guest that keeps adding
 * buffers must not keep the VMM thread from its other devices and the API. */
#define VIRTIO_SERVE_BUDGET 64

/* Lock held from here on. */
/* The one queue-serving loop (VMM thread): pops the chains of queue q while the
 * device has work for it (ops->has_work), hands each to ops->chain, returns and
 * counts them, publishes them with one interrupt if the driver wants it, and asks
 * for a kick (event-idx aware) before it stops on an empty ring. A driver that
 * breaks the ring rules puts the device in DEVICE_NEEDS_RESET. After
 * VIRTIO_SERVE_BUDGET chains it re-signals the queue's kick eventfd and returns, so
 * the event loop comes back to it after the other ready events. */
void virtio_dev__serve(struct virtio_dev *dev, unsigned q);
/* Lock held. Whether queue q's limiter refuses `bytes` and one op now; if so the
 * refusal is counted and the timer armed for when tokens are back. */
bool virtio_dev__throttled(struct virtio_dev *dev, unsigned q, uint64_t bytes);
bool virtio_dev__live(const struct virtio_dev *dev);
bool virtio_dev__has(const struct virtio_dev *dev, unsigned feature);
void virtio_dev__interrupt(struct virtio_dev *dev, uint32_t why);
/* Returns a completed chain of queue q to the driver (not yet visible) and counts it. */
void virtio_dev__used(struct virtio_dev *dev, unsigned q, uint16_t head, uint32_t len);
/* Publishes used entries of queue q and interrupts the driver if it wants that. */
void virtio_dev__flush(struct virtio_dev *dev, unsigned q);
/* The driver broke the rules: DEVICE_NEEDS_RESET, a config interrupt, a log line
 * (rate-limited). */
void virtio_dev__fail(struct virtio_dev *dev, const char *why);
void virtio_dev__config_changed(struct virtio_dev *dev);
/* The driver wrote 0 to the status register. */
void virtio_dev__reset(struct virtio_dev *dev);
/* The driver set FEATURES_OK: whether its features can be accepted. */
bool virtio_dev__features_acceptable(struct virtio_dev *dev);

#endif

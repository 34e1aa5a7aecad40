/* The virtio-mmio transport (version 2, virtio 1.2 §4.2) and the generic part of
 * every virtio device: registers, feature negotiation, status, queues, interrupts.
 * Internal to virtio/ (and its unit tests); the VMM sees only virtio.h. */
#ifndef EMBER_VIRTIO_MMIO_H
#define EMBER_VIRTIO_MMIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "queue.h"
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

#define VIRTIO_MAX_QUEUES 3

struct virtio_dev;

/* Each device model embeds a struct virtio_dev first and supplies these. Every hook
 * runs with dev->lock held. */
struct virtio_dev_ops {
	/* VMM thread: the driver kicked queue q (or a back end wants it served). */
	void (*notify)(struct virtio_dev *dev, unsigned q);
	/* vCPU thread: the driver set FEATURES_OK with dev->driver_features; -1 refuses. */
	int (*features_ok)(struct virtio_dev *dev);
	/* vCPU thread: the driver reset the device. Must not block or touch the event
	 * loop; back-end clean-up that needs the VMM thread watches dev->resets. */
	void (*reset)(struct virtio_dev *dev);
	/* Device-specific counters beyond the generic ones. */
	void (*metrics)(struct virtio_dev *dev, virtio_metric_fn fn, void *opaque);
	/* Lock not held; the VM is gone. Frees the device. */
	void (*destroy)(struct virtio_dev *dev);
};

/* Counters every device keeps; read them through virtio__metrics(). */
struct virtio_stats {
	uint64_t requests;    /* chains completed */
	uint64_t read_bytes;  /* bytes taken from the guest (written to the back end) */
	uint64_t write_bytes; /* bytes given to the guest */
	uint64_t errors;      /* requests failed for host or request errors */
	uint64_t dropped;     /* frames/packets the device had to drop */
	uint64_t interrupts;
	uint64_t ring_errors; /* driver broke the ring rules: DEVICE_NEEDS_RESET */
};

struct virtio_kick {
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
	bool broken_logged;

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

/* Lock held from here on. */
bool virtio_dev__live(const struct virtio_dev *dev);
bool virtio_dev__has(const struct virtio_dev *dev, unsigned feature);
void virtio_dev__interrupt(struct virtio_dev *dev, uint32_t why);
/* Publishes used entries of queue q and interrupts the driver if it wants that. */
void virtio_dev__flush(struct virtio_dev *dev, unsigned q);
/* The driver broke the rules: DEVICE_NEEDS_RESET, a config interrupt, one log line. */
void virtio_dev__fail(struct virtio_dev *dev, const char *why);
void virtio_dev__config_changed(struct virtio_dev *dev);

#endif

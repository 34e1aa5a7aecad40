#include "mmio.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "event.h"
#include "log.h"
#include "vm.h"

static void write_status(struct virtio_dev *dev, uint32_t val)
{
	if (val == 0) {
		virtio_dev__reset(dev);
		return;
	}
	const uint32_t driver_bits = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				     VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK |
				     VIRTIO_STATUS_FAILED;
	uint32_t old = dev->status, next = val & driver_bits;
	/* Only a reset clears bits; a driver that tries otherwise is ignored. */
	if (old & driver_bits & ~next)
		return;
	uint32_t added = next & ~old;
	if ((added & VIRTIO_STATUS_DRIVER) && !(next & VIRTIO_STATUS_ACKNOWLEDGE))
		next &= ~VIRTIO_STATUS_DRIVER;
	if (added & VIRTIO_STATUS_FEATURES_OK) {
		if (!(next & VIRTIO_STATUS_DRIVER) || !virtio_dev__features_acceptable(dev))
			next &= ~VIRTIO_STATUS_FEATURES_OK;
	}
	if ((added & VIRTIO_STATUS_DRIVER_OK) && !(next & VIRTIO_STATUS_FEATURES_OK))
		next &= ~VIRTIO_STATUS_DRIVER_OK;
	dev->status = next | (old & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	/* Buffers made available before DRIVER_OK get served now. */
	if ((dev->status & ~old & VIRTIO_STATUS_DRIVER_OK))
		for (unsigned i = 0; i < dev->nr_queues; i++)
			if (dev->vq[i].ready)
				virtio_dev__signal_kick(dev, i);
}

static void set_ready(struct virtio_dev *dev, unsigned q, uint32_t val)
{
	if (!val) {
		virtq__disable(&dev->vq[q]);
		return;
	}
	if (dev->vq[q].ready)
		return;
	/* Queues are set up between FEATURES_OK and DRIVER_OK (§3.1.1). */
	if (!(dev->status & VIRTIO_STATUS_FEATURES_OK)) {
		virtio_dev__fail(dev, "queue enabled before FEATURES_OK");
		return;
	}
	const char *why;
	if (virtq__enable(&dev->vq[q], dev->mem, &dev->pending[q],
			  virtio_dev__has(dev, VIRTIO_F_EVENT_IDX),
			  virtio_dev__has(dev, VIRTIO_F_INDIRECT_DESC), &why))
		virtio_dev__fail(dev, why);
}

static void set_half(uint64_t *v, bool high, uint32_t val)
{
	if (high)
		*v = (*v & 0xffffffffull) | ((uint64_t)val << 32);
	else
		*v = (*v & ~0xffffffffull) | val;
}

static void reg_write(struct virtio_dev *dev, uint64_t off, uint32_t val)
{
	unsigned q = dev->queue_sel;
	bool qvalid = q < dev->nr_queues;
	/* Queue layout registers are frozen while the queue is enabled (§4.2.2.3). */
	bool qwritable = qvalid && !dev->vq[q].ready;
	struct virtq_layout *l = qvalid ? &dev->pending[q] : NULL;
	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		dev->dev_feat_sel = val;
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		if ((dev->status & VIRTIO_STATUS_DRIVER) &&
		    !(dev->status & VIRTIO_STATUS_FEATURES_OK) && dev->drv_feat_sel < 2)
			set_half(&dev->driver_features, dev->drv_feat_sel == 1, val);
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		dev->drv_feat_sel = val;
		break;
	case VIRTIO_MMIO_QUEUE_SEL:
		dev->queue_sel = val;
		break;
	case VIRTIO_MMIO_QUEUE_NUM:
		if (qwritable)
			l->size = val <= VIRTQ_MAX_SIZE ? (uint16_t)val : 0;
		break;
	case VIRTIO_MMIO_QUEUE_READY:
		if (qvalid)
			set_ready(dev, q, val);
		break;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		/* Normally KVM's ioeventfd catches these before they reach us. */
		if (val < dev->nr_queues)
			virtio_dev__signal_kick(dev, val);
		break;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		dev->int_status &= ~val;
		break;
	case VIRTIO_MMIO_STATUS:
		write_status(dev, val);
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		if (qwritable)
			set_half(&l->desc, off == VIRTIO_MMIO_QUEUE_DESC_HIGH, val);
		break;
	case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
	case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
		if (qwritable)
			set_half(&l->avail, off == VIRTIO_MMIO_QUEUE_DRIVER_HIGH, val);
		break;
	case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
	case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
		if (qwritable)
			set_half(&l->used, off == VIRTIO_MMIO_QUEUE_DEVICE_HIGH, val);
		break;
	default:
		break; /* read-only or unknown: ignored */
	}
}

static uint32_t reg_read(struct virtio_dev *dev, uint64_t off)
{
	unsigned q = dev->queue_sel;
	bool qvalid = q < dev->nr_queues;
	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		return VIRTIO_MMIO_MAGIC;
	case VIRTIO_MMIO_VERSION:
		return 2;
	case VIRTIO_MMIO_DEVICE_ID:
		return dev->device_id;
	case VIRTIO_MMIO_VENDOR_ID:
		return VIRTIO_MMIO_VENDOR;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		if (dev->dev_feat_sel == 0)
			return (uint32_t)dev->host_features;
		if (dev->dev_feat_sel == 1)
			return (uint32_t)(dev->host_features >> 32);
		return 0;
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		return qvalid ? VIRTQ_MAX_SIZE : 0;
	case VIRTIO_MMIO_QUEUE_READY:
		return qvalid && dev->vq[q].ready;
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		return dev->int_status;
	case VIRTIO_MMIO_STATUS:
		return dev->status;
	case VIRTIO_MMIO_SHM_LEN_LOW:
	case VIRTIO_MMIO_SHM_LEN_HIGH:
		return 0xffffffffu; /* no shared memory regions */
	case VIRTIO_MMIO_CONFIG_GENERATION:
		return dev->config_gen;
	default:
		return 0;
	}
}

void virtio_mmio__access(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct virtio_dev *dev = opaque;
	pthread_mutex_lock(&dev->lock);
	if (off >= VIRTIO_MMIO_CONFIG) {
		/* Device config: any width; writable fields only where the device says so. */
		uint64_t c = off - VIRTIO_MMIO_CONFIG;
		bool inside = c < dev->config_len && len <= dev->config_len - c;
		if (!is_write) {
			memset(data, 0, len);
			if (inside)
				memcpy(data, dev->config + c, len);
		} else if (inside && dev->ops->config_write) {
			dev->ops->config_write(dev, (uint32_t)c, data, len);
		}
	} else if (len == 4 && !(off & 3)) {
		uint32_t v;
		if (is_write) {
			memcpy(&v, data, 4);
			reg_write(dev, off, v);
		} else {
			v = reg_read(dev, off);
			memcpy(data, &v, 4);
		}
	} else if (!is_write) {
		/* §4.2.2.2: registers are 32-bit; other widths read as zero. */
		memset(data, 0, len);
	}
	pthread_mutex_unlock(&dev->lock);
}

int virtio_dev__attach(struct virtio_dev *dev, struct vm *vm, char *err, size_t errlen)
{
	if (vm__alloc_mmio_slot(vm, &dev->addr, &dev->irq))
		return error__set(err, errlen,
				  "virtio %s: no MMIO slot or IRQ left (at most %d devices)",
				  dev->name, VM_MMIO_LAST_IRQ - VM_MMIO_FIRST_IRQ + 1);
	if (bus__register(&vm->mmio, dev->addr, VM_MMIO_SLOT_SIZE, virtio_mmio__access, dev))
		return error__set(err, errlen, "virtio %s: cannot register MMIO range: %s",
				  dev->name, strerror(errno));
	dev->irq_fd = vm__irqfd(vm, dev->irq);
	if (dev->irq_fd < 0)
		return error__set(err, errlen, "virtio %s: KVM_IRQFD: %s", dev->name,
				  strerror(errno));
	for (unsigned i = 0; i < dev->nr_queues; i++) {
		dev->kick_fd[i] = vm__ioeventfd(vm, dev->addr + VIRTIO_MMIO_QUEUE_NOTIFY, i);
		if (dev->kick_fd[i] < 0)
			return error__set(err, errlen, "virtio %s: KVM_IOEVENTFD: %s", dev->name,
					  strerror(errno));
	}
	if (virtio_dev__watch_kicks(dev))
		return error__set(err, errlen, "virtio %s: cannot watch its queues: %s", dev->name,
				  strerror(errno));
	char arg[64];
	snprintf(arg, sizeof(arg), "virtio_mmio.device=4K@0x%llx:%u", (unsigned long long)dev->addr,
		 dev->irq);
	if (vm__cmdline_append(vm, arg))
		return error__set(err, errlen, "kernel command line too long to announce virtio %s",
				  dev->name);
	return 0;
}

/* probe.flood=MS: a guest that repeats, for MS milliseconds, every write that makes
 * ember log a warning: the boot timer, FEATURES_OK without VIRTIO_F_VERSION_1, and a
 * queue enabled before FEATURES_OK (DEVICE_NEEDS_RESET), on every virtio device.
 * The host side (tests/kvm/t_flood.sh) checks that ember's log stays small and its
 * API answers meanwhile. Spec constants come from the kernel's UAPI headers. */
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>

#include "probe.h"

#define BOOT_TIMER_ADDR	 0xd0000000ull
#define BOOT_TIMER_MAGIC 123
#define MAX_DEVICES	 16
/* Where ember places virtio-mmio devices; any other address is not touched. */
#define WINDOW_MIN 0xc0000000ull
#define WINDOW_MAX 0xfec00000ull

/* The base addresses from the virtio_mmio.device=4K@0xADDR:IRQ words. */
static unsigned find_devices(uint64_t *base, unsigned max)
{
	static const char key[] = "virtio_mmio.device=4K@0x";
	const size_t k = sizeof(key) - 1;
	size_t n;
	const char *cl = cmdline__get_raw(&n);
	unsigned found = 0;
	for (size_t i = 0; i + k < n && found < max; i++) {
		if ((i && cl[i - 1] != ' ') || memcmp(cl + i, key, k))
			continue;
		size_t end = i + k;
		while (end < n && cl[end] != ':' && cl[end] != ' ')
			end++;
		uint64_t a;
		if (!parse__u64(cl + i + k, end - i - k, 16, &a) || a < WINDOW_MIN ||
		    a >= WINDOW_MAX || (a & 0xfff))
			continue;
		if (mmio_read32(a + VIRTIO_MMIO_MAGIC_VALUE) == 0x74726976u) /* "virt" */
			base[found++] = a;
	}
	return found;
}

static void status(uint64_t base, uint32_t v)
{
	mmio_write32(base + VIRTIO_MMIO_STATUS, v);
}

/* FEATURES_OK with no feature accepted, VIRTIO_F_VERSION_1 included: refused, and
 * logged as a legacy driver. */
static bool legacy_driver(uint64_t base)
{
	const uint32_t drv = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;
	status(base, 0);
	status(base, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	status(base, drv);
	for (uint32_t sel = 0; sel < 2; sel++) {
		mmio_write32(base + VIRTIO_MMIO_DRIVER_FEATURES_SEL, sel);
		mmio_write32(base + VIRTIO_MMIO_DRIVER_FEATURES, 0);
	}
	status(base, drv | VIRTIO_CONFIG_S_FEATURES_OK);
	return !(mmio_read32(base + VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK);
}

/* A queue enabled before FEATURES_OK: the device needs a reset, and says so. */
static bool early_queue(uint64_t base)
{
	status(base, 0);
	status(base, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	status(base, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	mmio_write32(base + VIRTIO_MMIO_QUEUE_SEL, 0);
	mmio_write32(base + VIRTIO_MMIO_QUEUE_READY, 1);
	return mmio_read32(base + VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET;
}

void flood__run(struct probe *p)
{
	uint64_t ms;
	if (cmdline__get_u64("probe.flood", 10, &ms) || !ms)
		return;
	uint64_t base[MAX_DEVICES];
	unsigned nr = find_devices(base, MAX_DEVICES);
	unsigned rounds = 0, refused = 0, broken = 0;
	uint64_t start = time__us();
	while (time__us() - start < ms * 1000) {
		mmio_write8(BOOT_TIMER_ADDR, BOOT_TIMER_MAGIC);
		for (unsigned i = 0; i < nr; i++) {
			refused += legacy_driver(base[i]);
			broken += early_queue(base[i]);
			status(base[i], 0);
		}
		rounds++;
	}
	uart__printf("PROBE flood rounds=%u devices=%u refused=%u needs_reset=%u ms=%lu\n", rounds,
		     nr, refused, broken, (time__us() - start) / 1000);
	probe__check(p, "flood", rounds > 0 && refused == rounds * nr && broken == rounds * nr,
		     "rounds=%u devices=%u refused=%u needs_reset=%u", rounds, nr, refused, broken);
}

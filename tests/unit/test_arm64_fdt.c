/* The aarch64 device tree builder, read back with libfdt: runs on any host. */
#include <libfdt.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "arch/aarch64/fdt.h"
#include "arch/aarch64/layout.h"
#include "check.h"

static uint8_t blob[A64_FDT_SIZE];

static const uint64_t mpidrs[4] = {0x0, 0x1, 0x2, 0x3};

static struct arm64_fdt_machine machine(unsigned cpus, unsigned nr_virtio,
					const struct arm64_fdt_dev *virtio)
{
	return (struct arm64_fdt_machine){
	    .mem_base = A64_RAM_BASE,
	    .mem_size = 128ull << 20,
	    .nr_cpus = cpus,
	    .mpidrs = mpidrs,
	    .gicd_addr = A64_GICD_ADDR,
	    .gicd_size = A64_GICD_SIZE,
	    .gicr_addr = A64_GICR_ADDR,
	    .gicr_size = A64_GICR_SIZE_PER_CPU * cpus,
	    .serial = {.addr = A64_SERIAL_ADDR, .size = 0x1000, .spi = A64_SERIAL_SPI},
	    .virtio = virtio,
	    .nr_virtio = nr_virtio,
	    .bootargs = "console=ttyS0 quiet",
	};
}

/* Property `name` of node `path` as big-endian cells; returns the cell count or -1. */
static int cells(const char *path, const char *name, uint32_t *out, int max)
{
	int node = fdt_path_offset(blob, path);
	if (node < 0)
		return -1;
	int len;
	const fdt32_t *p = fdt_getprop(blob, node, name, &len);
	if (!p || len % 4)
		return -1;
	for (int i = 0; i < len / 4 && i < max; i++)
		out[i] = fdt32_to_cpu(p[i]);
	return len / 4;
}

static uint64_t u64_at(const uint32_t *c)
{
	return (uint64_t)c[0] << 32 | c[1];
}

static const char *str(const char *path, const char *name)
{
	int node = fdt_path_offset(blob, path);
	return node < 0 ? NULL : fdt_getprop(blob, node, name, NULL);
}

static void one_cpu_no_initrd(void)
{
	struct arm64_fdt_machine m = machine(1, 0, NULL);
	char err[200] = "";
	CHECK_EQ(arm64_fdt__build(blob, sizeof(blob), &m, err, sizeof(err)), 0);
	CHECK_EQ(fdt_check_full(blob, sizeof(blob)), 0);
	uint32_t c[16];
	CHECK_EQ(cells("/memory@80000000", "reg", c, 16), 4);
	CHECK_EQ(u64_at(c), A64_RAM_BASE);
	CHECK_EQ(u64_at(c + 2), 128ull << 20);
	CHECK_STR(str("/memory@80000000", "device_type"), "memory");
	CHECK_STR(str("/cpus/cpu@0", "enable-method"), "psci");
	CHECK_EQ(cells("/cpus/cpu@0", "reg", c, 16), 2);
	CHECK(fdt_path_offset(blob, "/cpus/cpu@1") < 0);
	CHECK_STR(str("/psci", "compatible"), "arm,psci-0.2");
	CHECK_STR(str("/psci", "method"), "hvc");
	CHECK_STR(str("/chosen", "bootargs"), "console=ttyS0 quiet");
	CHECK_STR(str("/chosen", "stdout-path"), "/uart@40001000");
	CHECK_EQ(cells("/chosen", "linux,initrd-start", c, 16), -1);
	CHECK_EQ(cells("/chosen", "linux,initrd-end", c, 16), -1);
	/* The GIC: distributor and one 128 KiB redistributor, the interrupt parent. */
	CHECK_STR(str("/intc@8000000", "compatible"), "arm,gic-v3");
	CHECK_EQ(cells("/intc@8000000", "reg", c, 16), 8);
	CHECK_EQ(u64_at(c), A64_GICD_ADDR);
	CHECK_EQ(u64_at(c + 2), A64_GICD_SIZE);
	CHECK_EQ(u64_at(c + 4), A64_GICR_ADDR);
	CHECK_EQ(u64_at(c + 6), 0x20000);
	CHECK_EQ(cells("/intc@8000000", "#interrupt-cells", c, 16), 1);
	CHECK_EQ(c[0], 3);
	CHECK_EQ(cells("/", "interrupt-parent", c, 16), 1);
	uint32_t gic_phandle = c[0];
	CHECK_EQ(fdt_get_phandle(blob, fdt_path_offset(blob, "/intc@8000000")), gic_phandle);
	/* The timer's four PPIs, the serial's SPI and clock. */
	CHECK_EQ(cells("/timer", "interrupts", c, 16), 12);
	CHECK_EQ(c[0], ARM64_FDT_IRQ_PPI);
	CHECK_EQ(c[1], 13);
	CHECK_EQ(c[4], 14);
	CHECK_EQ(c[7], 11);
	CHECK_EQ(c[10], 10);
	CHECK_STR(str("/uart@40001000", "compatible"), "ns16550a");
	CHECK_EQ(cells("/uart@40001000", "interrupts", c, 16), 3);
	CHECK_EQ(c[0], ARM64_FDT_IRQ_SPI);
	CHECK_EQ(c[1], A64_SERIAL_SPI);
	CHECK_EQ(c[2], ARM64_FDT_IRQ_LEVEL_HIGH);
	CHECK_EQ(cells("/uart@40001000", "clock-frequency", c, 16), 1);
	CHECK_EQ(cells("/uart@40001000", "reg", c, 16), 4);
	CHECK_EQ(u64_at(c), A64_SERIAL_ADDR);
}

static void four_cpus_initrd_virtio(void)
{
	struct arm64_fdt_dev v[4];
	for (unsigned i = 0; i < 4; i++)
		v[i] = (struct arm64_fdt_dev){A64_MMIO_SLOT_BASE + i * A64_MMIO_SLOT_SIZE,
					      A64_MMIO_SLOT_SIZE, A64_MMIO_FIRST_SPI + i};
	struct arm64_fdt_machine m = machine(4, 4, v);
	m.initrd_addr = 0x87000000;
	m.initrd_size = 0x123456;
	char err[200] = "";
	CHECK_EQ(arm64_fdt__build(blob, sizeof(blob), &m, err, sizeof(err)), 0);
	CHECK_EQ(fdt_check_full(blob, sizeof(blob)), 0);
	uint32_t c[16];
	for (unsigned i = 0; i < 4; i++) {
		char path[64];
		snprintf(path, sizeof(path), "/cpus/cpu@%u", i);
		CHECK_EQ(cells(path, "reg", c, 16), 2);
		CHECK_EQ(u64_at(c), mpidrs[i]);
		snprintf(path, sizeof(path), "/virtio_mmio@%llx",
			 (unsigned long long)(A64_MMIO_SLOT_BASE + i * A64_MMIO_SLOT_SIZE));
		CHECK_STR(str(path, "compatible"), "virtio,mmio");
		CHECK_EQ(cells(path, "reg", c, 16), 4);
		CHECK_EQ(u64_at(c), A64_MMIO_SLOT_BASE + i * A64_MMIO_SLOT_SIZE);
		CHECK_EQ(u64_at(c + 2), A64_MMIO_SLOT_SIZE);
		CHECK_EQ(cells(path, "interrupts", c, 16), 3);
		CHECK_EQ(c[0], ARM64_FDT_IRQ_SPI);
		CHECK_EQ(c[1], A64_MMIO_FIRST_SPI + i);
		CHECK_EQ(c[2], ARM64_FDT_IRQ_EDGE_RISING);
	}
	CHECK_EQ(cells("/intc@8000000", "reg", c, 16), 8);
	CHECK_EQ(u64_at(c + 6), 4 * 0x20000);
	CHECK_EQ(cells("/chosen", "linux,initrd-start", c, 16), 2);
	CHECK_EQ(u64_at(c), 0x87000000);
	CHECK_EQ(cells("/chosen", "linux,initrd-end", c, 16), 2);
	CHECK_EQ(u64_at(c), 0x87000000 + 0x123456);
}

/* A too small buffer or a machine without CPUs is an error, not a broken blob. */
static void refuses(void)
{
	struct arm64_fdt_machine m = machine(1, 0, NULL);
	char err[200] = "";
	static uint8_t small[256];
	CHECK_EQ(arm64_fdt__build(small, sizeof(small), &m, err, sizeof(err)), -1);
	CHECK(strstr(err, "device tree") != NULL);
	m.nr_cpus = 0;
	CHECK_EQ(arm64_fdt__build(blob, sizeof(blob), &m, err, sizeof(err)), -1);
}

/* The whole blob, as dtc decompiles it, against the checked-in expected source: any
 * change to the guest's device tree shows up here as a diff to review. */
static void matches_expected_dts(void)
{
	struct arm64_fdt_dev v[2] = {
	    {A64_MMIO_SLOT_BASE, A64_MMIO_SLOT_SIZE, A64_MMIO_FIRST_SPI},
	    {A64_MMIO_SLOT_BASE + A64_MMIO_SLOT_SIZE, A64_MMIO_SLOT_SIZE, A64_MMIO_FIRST_SPI + 1},
	};
	struct arm64_fdt_machine m = machine(2, 2, v);
	m.initrd_addr = 0x87e00000;
	m.initrd_size = 0x100000;
	char err[200] = "";
	CHECK_EQ(arm64_fdt__build(blob, sizeof(blob), &m, err, sizeof(err)), 0);
	char path[64];
	snprintf(path, sizeof(path), "/tmp/ember-test-fdt-%d.dtb", (int)getpid());
	FILE *f = fopen(path, "w");
	CHECK(f && fwrite(blob, fdt_totalsize(blob), 1, f) == 1);
	if (f)
		fclose(f);
	char cmd[128], got[8192] = "", want[8192] = "";
	snprintf(cmd, sizeof(cmd), "dtc -q -I dtb -O dts %s", path);
	FILE *p = popen(cmd, "r");
	CHECK(p != NULL);
	if (p) {
		size_t n = fread(got, 1, sizeof(got) - 1, p);
		got[n] = 0;
		CHECK_EQ(pclose(p), 0);
	}
	unlink(path);
	FILE *w = fopen("tests/unit/arm64_fdt.dts", "r");
	CHECK(w != NULL);
	if (w) {
		size_t n = fread(want, 1, sizeof(want) - 1, w);
		want[n] = 0;
		fclose(w);
	}
	if (getenv("EMBER_WRITE_DTS")) /* regenerates the expected file, for review */
		printf("%s", got);
	CHECK_STR(got, want);
}

CHECK_MAIN("arm64_fdt", CHECK_CASE(matches_expected_dts), CHECK_CASE(one_cpu_no_initrd),
	   CHECK_CASE(four_cpus_initrd_virtio), CHECK_CASE(refuses))

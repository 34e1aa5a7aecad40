/* The guest device tree. Bindings: Documentation/devicetree/bindings/ (arm/cpus.yaml,
 * arm/psci.yaml, interrupt-controller/arm,gic-v3.yaml, timer/arm,arch_timer.yaml,
 * serial/8250.yaml, virtio/mmio.yaml) and Documentation/arch/arm64/booting.rst. */
#include "fdt.h"

#include <libfdt.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

struct builder {
	void *fdt;
	int rc; /* the first libfdt error; later calls do nothing */
};

#define B(call)                                                                                    \
	do {                                                                                       \
		if (b->rc == 0)                                                                    \
			b->rc = (call);                                                            \
	} while (0)

static void begin(struct builder *b, const char *name)
{
	B(fdt_begin_node(b->fdt, name));
}
static void end(struct builder *b)
{
	B(fdt_end_node(b->fdt));
}
static void prop_u32(struct builder *b, const char *name, uint32_t v)
{
	B(fdt_property_u32(b->fdt, name, v));
}
static void prop_u64(struct builder *b, const char *name, uint64_t v)
{
	B(fdt_property_u64(b->fdt, name, v));
}
static void prop_str(struct builder *b, const char *name, const char *s)
{
	B(fdt_property_string(b->fdt, name, s));
}
static void prop_empty(struct builder *b, const char *name)
{
	B(fdt_property(b->fdt, name, NULL, 0));
}
/* reg = <addr size>... with #address-cells = #size-cells = 2. */
static void prop_reg(struct builder *b, const uint64_t *pairs, unsigned n)
{
	fdt64_t v[4];
	for (unsigned i = 0; i < n * 2 && i < 4; i++)
		v[i] = cpu_to_fdt64(pairs[i]);
	B(fdt_property(b->fdt, "reg", v, (int)(n * 2 * sizeof(fdt64_t))));
}
static void prop_irqs(struct builder *b, const uint32_t *cells, unsigned n)
{
	fdt32_t v[12];
	for (unsigned i = 0; i < n && i < 12; i++)
		v[i] = cpu_to_fdt32(cells[i]);
	B(fdt_property(b->fdt, "interrupts", v, (int)(n * sizeof(fdt32_t))));
}

static void dev_node(struct builder *b, const char *kind, const char *compatible,
		     const struct arm64_fdt_dev *d, uint32_t irq_flags, char *path, size_t pathlen)
{
	char name[48];
	snprintf(name, sizeof(name), "%s@%llx", kind, (unsigned long long)d->addr);
	if (path)
		snprintf(path, pathlen, "/%s", name);
	begin(b, name);
	prop_str(b, "compatible", compatible);
	uint64_t reg[2] = {d->addr, d->size};
	prop_reg(b, reg, 1);
	uint32_t irq[3] = {ARM64_FDT_IRQ_SPI, d->spi, irq_flags};
	prop_irqs(b, irq, 3);
}

int arm64_fdt__build(void *buf, size_t bufsize, const struct arm64_fdt_machine *m, char *err,
		     size_t errlen)
{
	struct builder bb = {.fdt = buf}, *b = &bb;
	if (bufsize > INT32_MAX || m->nr_cpus == 0 || !m->mpidrs)
		return error__set(err, errlen, "device tree: bad machine description");
	B(fdt_create(buf, (int)bufsize));
	B(fdt_finish_reservemap(buf));

	begin(b, "");
	prop_str(b, "compatible", "linux,dummy-virt");
	prop_str(b, "model", "ember");
	prop_u32(b, "#address-cells", 2);
	prop_u32(b, "#size-cells", 2);
	prop_u32(b, "interrupt-parent", ARM64_FDT_GIC_PHANDLE);

	/* cpus: reg is the MPIDR's affinity (cpus.yaml: 2 cells when Aff3 is used). */
	begin(b, "cpus");
	prop_u32(b, "#address-cells", 2);
	prop_u32(b, "#size-cells", 0);
	for (unsigned i = 0; i < m->nr_cpus; i++) {
		char name[32];
		snprintf(name, sizeof(name), "cpu@%llx", (unsigned long long)m->mpidrs[i]);
		begin(b, name);
		prop_str(b, "device_type", "cpu");
		prop_str(b, "compatible", "arm,arm-v8");
		prop_str(b, "enable-method", "psci");
		prop_u64(b, "reg", m->mpidrs[i]);
		end(b);
	}
	end(b);

	char name[48];
	snprintf(name, sizeof(name), "memory@%llx", (unsigned long long)m->mem_base);
	begin(b, name);
	prop_str(b, "device_type", "memory");
	uint64_t mem[2] = {m->mem_base, m->mem_size};
	prop_reg(b, mem, 1);
	end(b);

	/* KVM implements PSCI 0.2 and later through HVC. */
	begin(b, "psci");
	prop_str(b, "compatible", "arm,psci-0.2");
	prop_str(b, "method", "hvc");
	end(b);

	snprintf(name, sizeof(name), "intc@%llx", (unsigned long long)m->gicd_addr);
	begin(b, name);
	prop_str(b, "compatible", "arm,gic-v3");
	prop_u32(b, "#interrupt-cells", 3);
	prop_empty(b, "interrupt-controller");
	uint64_t gic[4] = {m->gicd_addr, m->gicd_size, m->gicr_addr, m->gicr_size};
	prop_reg(b, gic, 2);
	prop_u32(b, "phandle", ARM64_FDT_GIC_PHANDLE);
	end(b);

	begin(b, "timer");
	prop_str(b, "compatible", "arm,armv8-timer");
	static const uint32_t ppis[4] = ARM64_FDT_TIMER_PPIS;
	uint32_t cells[12];
	for (unsigned i = 0; i < 4; i++) {
		cells[3 * i] = ARM64_FDT_IRQ_PPI;
		cells[3 * i + 1] = ppis[i];
		cells[3 * i + 2] = ARM64_FDT_IRQ_LEVEL_HIGH;
	}
	prop_irqs(b, cells, 12);
	prop_empty(b, "always-on");
	end(b);

	char stdout_path[64];
	dev_node(b, "uart", "ns16550a", &m->serial, ARM64_FDT_IRQ_LEVEL_HIGH, stdout_path,
		 sizeof(stdout_path));
	prop_u32(b, "clock-frequency", ARM64_FDT_SERIAL_CLOCK);
	end(b);

	/* virtio-mmio interrupts arrive through irqfds: edges. */
	for (unsigned i = 0; i < m->nr_virtio; i++) {
		dev_node(b, "virtio_mmio", "virtio,mmio", &m->virtio[i], ARM64_FDT_IRQ_EDGE_RISING,
			 NULL, 0);
		prop_empty(b, "dma-coherent");
		end(b);
	}

	begin(b, "chosen");
	prop_str(b, "bootargs", m->bootargs ? m->bootargs : "");
	prop_str(b, "stdout-path", stdout_path);
	if (m->initrd_size) {
		prop_u64(b, "linux,initrd-start", m->initrd_addr);
		prop_u64(b, "linux,initrd-end", m->initrd_addr + m->initrd_size);
	}
	end(b);

	end(b); /* root */
	B(fdt_finish(buf));
	if (b->rc == 0)
		B(fdt_check_full(buf, bufsize));
	if (b->rc)
		return error__set(err, errlen, "device tree: %s", fdt_strerror(b->rc));
	return 0;
}

/* libFuzzer over the split irqchip's IOAPIC (vmm/arch/x86_64/ioapic.c), which a guest
 * drives through its MMIO window: the input is a program of window accesses of any
 * offset and width, device line changes, EOIs and snapshot states, on a VM without
 * KVM (every route update fails and only stops the VM). Any crash or sanitizer report,
 * a read-only register that changed, or a remote IRR on an edge pin is a finding. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "arch/x86_64/ioapic.h"
#include "event.h"
#include "log.h"
#include "vm.h"

static uint32_t reg(struct ioapic *io, uint32_t index)
{
	uint8_t b[4];
	memcpy(b, &index, 4);
	ioapic__mmio(io, 0x00, b, 4, true);
	ioapic__mmio(io, 0x10, b, 4, false);
	uint32_t v;
	memcpy(&v, b, 4);
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vm vm;
	static int quiet;
	if (!quiet) /* each input's failed route update logs an error: not a finding */
		quiet = log__set_path("/dev/null") == 0;
	memset(&vm, 0, sizeof(vm));
	vm.vm_fd = vm.kvm_fd = -1;
	vm.loop = event__create();
	struct ioapic *io = ioapic__new(&vm);
	assert(io && vm.loop);
	size_t i = 0;
	while (i + 6 <= size) {
		uint8_t op = data[i], a = data[i + 1];
		uint32_t v;
		memcpy(&v, data + i + 2, 4);
		i += 6;
		switch (op % 5) {
		case 0: { /* an access of 1-8 bytes anywhere in the window */
			uint8_t b[8];
			memset(b, 0, sizeof(b));
			memcpy(b, &v, 4);
			ioapic__mmio(io, (uint64_t)(v >> 20) % 0x1000, b, 1 + a % 8, op & 0x80);
			break;
		}
		case 1: /* a register write through the window, as a driver does */
			v = (v & 0xffffff00u) | a;
			ioapic__mmio(io, 0x00, (uint8_t *)&(uint32_t){a}, 4, true);
			ioapic__mmio(io, 0x10, (uint8_t *)&v, 4, true);
			break;
		case 2:
			ioapic__set_line(io, a % 32, op & 0x80);
			break;
		case 3:
			ioapic__eoi(io, a);
			break;
		case 4: { /* a snapshot's state, from the input */
			struct kvm_ioapic_state s;
			memset(&s, 0, sizeof(s));
			size_t n = size - i < sizeof(s) ? size - i : sizeof(s);
			memcpy(&s, data + i, n);
			i += n;
			struct error e = {0};
			(void)ioapic__set_state(io, &s, &e);
			break;
		}
		}
	}
	assert(reg(io, 0x01) == 0x170011u);
	struct kvm_ioapic_state s;
	ioapic__get_state(io, &s);
	assert(s.base_address == 0xfec00000ull && s.ioregsel <= 0xff);
	ioapic__destroy(io);
	event__destroy(vm.loop);
	return 0;
}

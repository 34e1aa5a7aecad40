/* The user-space IOAPIC of the split irqchip (--no-pit), without KVM: its registers as
 * the guest sees them through the MMIO window, and the remote IRR of level pins. The
 * VM has no KVM descriptor here, so each route update fails, which must stop the VM. */
#include "arch/x86_64/ioapic.h"
#include "check.h"
#include "event.h"
#include "vm.h"

static uint32_t rd(struct ioapic *io, uint32_t reg)
{
	uint8_t b[4];
	memcpy(b, &reg, 4);
	ioapic__mmio(io, 0x00, b, 4, true);
	memset(b, 0xff, 4);
	ioapic__mmio(io, 0x10, b, 4, false);
	uint32_t v;
	memcpy(&v, b, 4);
	return v;
}

static void wr(struct ioapic *io, uint32_t reg, uint32_t v)
{
	uint8_t b[4];
	memcpy(b, &reg, 4);
	ioapic__mmio(io, 0x00, b, 4, true);
	memcpy(b, &v, 4);
	ioapic__mmio(io, 0x10, b, 4, true);
}

static struct vm *vm_without_kvm(void)
{
	static struct vm vm;
	memset(&vm, 0, sizeof(vm));
	vm.vm_fd = -1;
	vm.kvm_fd = -1;
	vm.loop = event__create();
	return &vm;
}

static void registers(void)
{
	struct vm *vm = vm_without_kvm();
	struct ioapic *io = ioapic__new(vm);
	CHECK(io != NULL);
	CHECK_EQ(rd(io, 0x01), 0x170011u); /* version 0x11, 24 pins */
	wr(io, 0x00, 0x05000000u);
	CHECK_EQ(rd(io, 0x00), 0x05000000u);
	CHECK_EQ(rd(io, 0x02), 0x05000000u);
	wr(io, 0x01, 0); /* read-only */
	CHECK_EQ(rd(io, 0x01), 0x170011u);
	/* Every pin starts masked. */
	for (uint32_t pin = 0; pin < 24; pin++)
		CHECK_EQ(rd(io, 0x10 + 2 * pin) & (1u << 16), 1u << 16);
	/* A redirection entry reads back, its delivery status and remote IRR excepted;
	 * the still-masked write needs no route. */
	wr(io, 0x10 + 2 * 3, (1u << 16) | (1u << 14) | (1u << 12) | 0x833);
	CHECK_EQ(rd(io, 0x10 + 2 * 3), (1u << 16) | 0x833u);
	wr(io, 0x11 + 2 * 3, 0x02000000u);
	CHECK_EQ(rd(io, 0x11 + 2 * 3), 0x02000000u);
	/* Past the last pin: nothing there, nothing changes. */
	wr(io, 0x10 + 48, 0x1234);
	CHECK_EQ(rd(io, 0x10 + 48), 0u);
	CHECK(!event__stopping(vm->loop));
	/* Only aligned 32-bit accesses to IOREGSEL and IOWIN count. */
	uint8_t b[4] = {0x01, 0, 0, 0};
	ioapic__mmio(io, 0x00, b, 1, true);
	memset(b, 0xee, 4);
	ioapic__mmio(io, 0x10, b, 2, false);
	CHECK_EQ(b[0], 0xee);
	ioapic__mmio(io, 0x20, b, 4, false);
	CHECK_EQ(b[0], 0xee);
	CHECK_EQ(ioapic__set_line(io, 24, 1), -1);
	ioapic__destroy(io);
	event__destroy(vm->loop);
}

static bool remote_irr(struct ioapic *io, unsigned pin)
{
	struct kvm_ioapic_state s;
	ioapic__get_state(io, &s);
	return s.redirtbl[pin].fields.remote_irr;
}

static void level_pin(void)
{
	struct vm *vm = vm_without_kvm();
	struct ioapic *io = ioapic__new(vm);
	/* Pin 4, level-triggered, vector 0x34, unmasked: KVM refuses the route (no KVM
	 * here), which stops the VM rather than leave the guest's interrupts unrouted. */
	wr(io, 0x10 + 2 * 4, (1u << 15) | 0x34);
	CHECK(event__stopping(vm->loop));
	CHECK(!remote_irr(io, 4));
	ioapic__set_line(io, 4, 1);
	CHECK(remote_irr(io, 4)); /* sent; waits for the EOI */
	ioapic__eoi(io, 0x35);	  /* another vector */
	CHECK(remote_irr(io, 4));
	ioapic__eoi(io, 0x34); /* the line is still high: sent again */
	CHECK(remote_irr(io, 4));
	ioapic__set_line(io, 4, 0);
	ioapic__eoi(io, 0x34);
	CHECK(!remote_irr(io, 4));
	/* Linux's way out of a stuck remote IRR: edge, then level again. */
	ioapic__set_line(io, 4, 1);
	CHECK(remote_irr(io, 4));
	wr(io, 0x10 + 2 * 4, 0x34);
	CHECK(!remote_irr(io, 4));
	/* An edge pin has no remote IRR; a masked level pin sends nothing. */
	ioapic__set_line(io, 4, 0);
	ioapic__set_line(io, 4, 1);
	CHECK(!remote_irr(io, 4));
	wr(io, 0x10 + 2 * 4, (1u << 16) | (1u << 15) | 0x34);
	ioapic__set_line(io, 4, 1);
	CHECK(!remote_irr(io, 4));
	/* Unmasking it with its line high sends at once. */
	wr(io, 0x10 + 2 * 4, (1u << 15) | 0x34);
	CHECK(remote_irr(io, 4));
	ioapic__destroy(io);
	event__destroy(vm->loop);
}

static void state_round_trip(void)
{
	struct vm *vm = vm_without_kvm();
	struct ioapic *io = ioapic__new(vm);
	wr(io, 0x00, 0x03000000u);
	wr(io, 0x10 + 2 * 7, (1u << 16) | 0x47);
	struct kvm_ioapic_state s;
	ioapic__get_state(io, &s);
	CHECK_EQ(s.base_address, 0xfec00000ull);
	CHECK_EQ(s.id, 3u);
	CHECK_EQ(s.redirtbl[7].fields.vector, 0x47);
	/* A snapshot's IOAPIC elsewhere, with a wild register index: the window stays
	 * where this machine has it, the index within its 8 bits. */
	s.base_address = 0x1000;
	s.ioregsel = 0xffffff01u;
	struct ioapic *other = ioapic__new(vm);
	struct error e = {0};
	CHECK_EQ(ioapic__set_state(other, &s, &e), 0); /* all pins masked: no route */
	struct kvm_ioapic_state t;
	ioapic__get_state(other, &t);
	CHECK_EQ(t.base_address, 0xfec00000ull);
	CHECK_EQ(t.ioregsel, 0x01u);
	CHECK_EQ(t.redirtbl[7].bits, s.redirtbl[7].bits);
	/* One unmasked pin needs a route, which KVM (absent) refuses: an error. */
	s.redirtbl[7].fields.mask = 0;
	CHECK_EQ(ioapic__set_state(other, &s, &e), -1);
	CHECK(strstr(e.msg, "KVM_SET_GSI_ROUTING") != NULL);
	ioapic__destroy(other);
	ioapic__destroy(io);
	event__destroy(vm->loop);
}

CHECK_MAIN("ioapic", CHECK_CASE(registers), CHECK_CASE(level_pin), CHECK_CASE(state_round_trip))

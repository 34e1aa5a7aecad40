# The probe guest: a freestanding x86_64 ELF linked at 1 MiB that ember boots through
# the Linux 64-bit boot path (guest/probe/README.md).
#   make build/guest/probe.elf
PROBE_DIR   := guest/probe
PROBE_OBJS  := $(patsubst $(PROBE_DIR)/%,$(BUILD)/probe/%.o,$(wildcard $(PROBE_DIR)/*.c $(PROBE_DIR)/*.S))
PROBE_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-ffreestanding -fno-builtin -nostdlib -fno-pic -fno-pie -mcmodel=small -mno-red-zone \
	-mgeneral-regs-only -fno-stack-protector -fno-asynchronous-unwind-tables \
	-fcf-protection=none -fno-tree-loop-distribute-patterns -MMD -MP
PROBE_LDFLAGS := -nostdlib -static -no-pie -Wl,-T,$(PROBE_DIR)/probe.ld -Wl,--build-id=none \
	-Wl,-z,max-page-size=4096 -Wl,-z,noexecstack

$(BUILD)/probe/%.c.o: $(PROBE_DIR)/%.c
	@mkdir -p $(dir $@)
	$(HOST_CC) $(PROBE_CFLAGS) -c $< -o $@

$(BUILD)/probe/%.S.o: $(PROBE_DIR)/%.S
	@mkdir -p $(dir $@)
	$(HOST_CC) $(PROBE_CFLAGS) -c $< -o $@

$(BUILD)/guest/probe.elf: $(PROBE_OBJS) $(PROBE_DIR)/probe.ld
	@mkdir -p $(dir $@)
	$(HOST_CC) $(PROBE_LDFLAGS) -o $@ $(PROBE_OBJS)

.PHONY: probe
probe: $(BUILD)/guest/probe.elf

-include $(wildcard $(BUILD)/probe/*.d)

# Host side of the probe's vsock check (static: it runs inside the nested test host).
$(BUILD)/guest/probe-vsock-peer: $(PROBE_DIR)/host/vsockpeer.c
	@mkdir -p $(dir $@)
	$(MUSL_CC) -static -Os -std=gnu11 -Wall -Wextra -Werror -o $@ $<

ALL_TARGETS += $(BUILD)/guest/probe-vsock-peer
probe: $(BUILD)/guest/probe-vsock-peer

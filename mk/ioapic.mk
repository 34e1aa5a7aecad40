# The split irqchip's IOAPIC fuzz target (the guest-facing MMIO window, lines, EOIs and
# snapshot states), x86_64 only:
#   make fuzz-ioapic        libFuzzer, FUZZ_SECONDS (default 600)
#   make fuzz-smoke-ioapic  a bounded run (FUZZ_SMOKE_SECONDS) -> one PASS/FAIL line
ifneq ($(VMM_ARCH),aarch64)
IOAPIC_FUZZ      := $(BUILD)/fuzz/fuzz_ioapic
IOAPIC_FUZZ_SRCS = tests/fuzz/fuzz_ioapic.c $(EMBER_ALL_SRCS)

$(IOAPIC_FUZZ): $$(IOAPIC_FUZZ_SRCS) $(wildcard vmm/*.h vmm/arch/x86_64/*.h)
	@mkdir -p $(dir $@)
	$(CLANG) $(CSTD) $(INCLUDES) -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all -o $@ $(IOAPIC_FUZZ_SRCS) \
		$(EMBER_LIBS) -lpthread

$(eval $(call fuzz_runs,ioapic,ioapic,$(IOAPIC_FUZZ),4096))
endif

# MMDS's fuzz target (whole guest frames into the network stack):
#   make fuzz-mmds        libFuzzer, FUZZ_SECONDS (default 600)
#   make fuzz-smoke-mmds  a bounded run (FUZZ_SMOKE_SECONDS) -> one PASS/FAIL line
MMDS_FUZZ      := $(BUILD)/fuzz/fuzz_mmds
MMDS_FUZZ_SRCS := tests/fuzz/fuzz_mmds.c $(wildcard virtio/mmds_*.c) vmm/api/json.c

$(MMDS_FUZZ): $(MMDS_FUZZ_SRCS) $(wildcard virtio/mmds*.h) vmm/api/json.h
	@mkdir -p $(dir $@)
	$(CLANG) $(CSTD) $(INCLUDES) -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all -o $@ $(MMDS_FUZZ_SRCS) -lpthread

$(eval $(call fuzz_runs,mmds,mmds,$(MMDS_FUZZ),8192,tests/fuzz/mmds_seeds))

# The stack on a real tap, for tests/api/t_api_mmds_tap.sh (host tier).
MMDS_TAP := $(BUILD)/tests/bin/mmds_tap
ALL_TARGETS += $(MMDS_TAP)
$(MMDS_TAP): tests/api/mmds_tap.c $(wildcard virtio/mmds_*.c) vmm/api/json.c \
		$(wildcard virtio/mmds*.h) vmm/api/json.h
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(HOST_CC) $(CSTD) $(WARN) $(INCLUDES) -O2 -o $@ tests/api/mmds_tap.c \
		$(wildcard virtio/mmds_*.c) vmm/api/json.c -lpthread

# MMDS's fuzz target (whole guest frames into the network stack):
#   make fuzz-mmds        libFuzzer, FUZZ_SECONDS (default 600)
#   make fuzz-smoke-mmds  a bounded run (FUZZ_SMOKE_SECONDS) -> one PASS/FAIL line
MMDS_FUZZ      := $(BUILD)/fuzz/fuzz_mmds
MMDS_FUZZ_SRCS := tests/fuzz/fuzz_mmds.c $(wildcard virtio/mmds_*.c) vmm/api/json.c
MMDS_FUZZ_DIR  := $(BUILD)/fuzz/mmds
FUZZ_SECONDS       ?= 600
FUZZ_SMOKE_SECONDS ?= 20

.PHONY: fuzz-mmds fuzz-smoke-mmds
fuzz: fuzz-mmds
fuzz-smoke: fuzz-smoke-mmds

$(MMDS_FUZZ): $(MMDS_FUZZ_SRCS) $(wildcard virtio/mmds*.h) vmm/api/json.h
	@mkdir -p $(dir $@)
	$(CLANG) $(CSTD) $(INCLUDES) -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all -o $@ $(MMDS_FUZZ_SRCS) -lpthread

fuzz-mmds: $(MMDS_FUZZ)
	@mkdir -p $(MMDS_FUZZ_DIR)/corpus $(MMDS_FUZZ_DIR)/crashes
	cp -n tests/fuzz/mmds_seeds/* $(MMDS_FUZZ_DIR)/corpus/
	nice $(MMDS_FUZZ) -max_total_time=$(FUZZ_SECONDS) -max_len=8192 -timeout=10 \
		-artifact_prefix=$(MMDS_FUZZ_DIR)/crashes/ $(MMDS_FUZZ_DIR)/corpus

fuzz-smoke-mmds: $(MMDS_FUZZ)
	@mkdir -p $(MMDS_FUZZ_DIR)/corpus $(MMDS_FUZZ_DIR)/crashes
	@cp -n tests/fuzz/mmds_seeds/* $(MMDS_FUZZ_DIR)/corpus/
	@if nice $(MMDS_FUZZ) -max_total_time=$(FUZZ_SMOKE_SECONDS) -max_len=8192 -timeout=10 \
		-artifact_prefix=$(MMDS_FUZZ_DIR)/crashes/ $(MMDS_FUZZ_DIR)/corpus \
		> $(MMDS_FUZZ_DIR)/smoke.log 2>&1; then \
		echo "PASS fuzz/mmds"; \
	else \
		echo "FAIL fuzz/mmds: see $(MMDS_FUZZ_DIR)/smoke.log"; \
	fi

# The stack on a real tap, for tests/api/t_api_mmds_tap.sh (host tier).
MMDS_TAP := $(BUILD)/tests/bin/mmds_tap
ALL_TARGETS += $(MMDS_TAP)
$(MMDS_TAP): tests/api/mmds_tap.c $(wildcard virtio/mmds_*.c) vmm/api/json.c \
		$(wildcard virtio/mmds*.h) vmm/api/json.h
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(HOST_CC) $(CSTD) $(WARN) $(INCLUDES) -O2 -o $@ tests/api/mmds_tap.c \
		$(wildcard virtio/mmds_*.c) vmm/api/json.c -lpthread

# The virtio balloon's fuzz target (the guest-facing queues and configuration):
#   make fuzz-balloon        libFuzzer, FUZZ_SECONDS (default 600)
#   make fuzz-smoke-balloon  a bounded run (FUZZ_SMOKE_SECONDS) -> one PASS/FAIL line
BALLOON_FUZZ      := $(BUILD)/fuzz/fuzz_balloon
# All of ember but main, like the unit tests: the device reaches the VM, and the VM its
# arch code, so a hand-picked list breaks whenever a dependency moves.
BALLOON_FUZZ_SRCS = tests/fuzz/fuzz_balloon.c $(EMBER_ALL_SRCS)
BALLOON_FUZZ_DIR  := $(BUILD)/fuzz/balloon
FUZZ_SECONDS       ?= 600
FUZZ_SMOKE_SECONDS ?= 20

.PHONY: fuzz-balloon fuzz-smoke-balloon
fuzz: fuzz-balloon
fuzz-smoke: fuzz-smoke-balloon

$(BALLOON_FUZZ): $$(BALLOON_FUZZ_SRCS) $(wildcard virtio/*.h vmm/*.h vmm/api/*.h) \
		tests/unit/test_virtio_harness.h
	@mkdir -p $(dir $@)
	$(CLANG) $(CSTD) $(INCLUDES) -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all -o $@ $(BALLOON_FUZZ_SRCS) \
		$(EMBER_LIBS) -lpthread

fuzz-balloon: $(BALLOON_FUZZ)
	@mkdir -p $(BALLOON_FUZZ_DIR)/corpus $(BALLOON_FUZZ_DIR)/crashes
	nice $(BALLOON_FUZZ) -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -timeout=10 \
		-artifact_prefix=$(BALLOON_FUZZ_DIR)/crashes/ $(BALLOON_FUZZ_DIR)/corpus

fuzz-smoke-balloon: $(BALLOON_FUZZ)
	@mkdir -p $(BALLOON_FUZZ_DIR)/corpus $(BALLOON_FUZZ_DIR)/crashes
	@if nice $(BALLOON_FUZZ) -max_total_time=$(FUZZ_SMOKE_SECONDS) -max_len=4096 -timeout=10 \
		-artifact_prefix=$(BALLOON_FUZZ_DIR)/crashes/ $(BALLOON_FUZZ_DIR)/corpus \
		> $(BALLOON_FUZZ_DIR)/smoke.log 2>&1; then \
		echo "PASS fuzz/balloon"; \
	else \
		echo "FAIL fuzz/balloon: see $(BALLOON_FUZZ_DIR)/smoke.log"; \
	fi

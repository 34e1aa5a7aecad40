# The virtio balloon's fuzz target (the guest-facing queues and configuration):
#   make fuzz-balloon        libFuzzer, FUZZ_SECONDS (default 600)
#   make fuzz-smoke-balloon  a bounded run (FUZZ_SMOKE_SECONDS) -> one PASS/FAIL line
BALLOON_FUZZ      := $(BUILD)/fuzz/fuzz_balloon
# All of ember but main, like the unit tests: the device reaches the VM, and the VM its
# arch code, so a hand-picked list breaks whenever a dependency moves.
BALLOON_FUZZ_SRCS = tests/fuzz/fuzz_balloon.c $(EMBER_ALL_SRCS)

$(BALLOON_FUZZ): $$(BALLOON_FUZZ_SRCS) $(wildcard virtio/*.h vmm/*.h vmm/api/*.h) \
		tests/unit/test_virtio_harness.h
	@mkdir -p $(dir $@)
	$(CLANG) $(CSTD) $(INCLUDES) -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all -o $@ $(BALLOON_FUZZ_SRCS) \
		$(EMBER_LIBS) -lpthread

$(eval $(call fuzz_runs,balloon,balloon,$(BALLOON_FUZZ),4096))

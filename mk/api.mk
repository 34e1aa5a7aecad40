# REST API extras.
#   make fuzz          libFuzzer (clang) over HTTP + JSON + router, FUZZ_SECONDS (default 600)
#   make fuzz-smoke    a bounded run (FUZZ_SMOKE_SECONDS, default 20) -> one PASS/FAIL line
#   build/tests/bin/fcclient   static API client for the nested host (busybox has no curl)
API_FUZZ      := $(BUILD)/fuzz/fuzz_api
API_FUZZ_SRCS := tests/fuzz/fuzz_api.c $(filter-out vmm/api/server.c,$(wildcard vmm/api/*.c)) \
                 vmm/vmm.c vmm/vmm_metrics.c vmm/error.c vmm/config.c vmm/cpu_template.c vmm/log.c vmm/event.c vmm/file.c \
                 vmm/pagealloc.c \
                 vmm/snapshot_open.c vmm/snapshot/vmstate.c vmm/snapshot/vmstate_read.c \
                 virtio/mmds_store.c virtio/mmds_tree.c virtio/mmds_token.c
# built by mk/tests.mk's rule for tests/kvm/*.c, next to the other kvm-tier tools
FCCLIENT      := $(BUILD)/tests/bin/fcclient
ALL_TARGETS += $(FCCLIENT)


$(API_FUZZ): $(API_FUZZ_SRCS) $(wildcard vmm/api/*.h) vmm/config.h vmm/log.h vmm/file.h
	@mkdir -p $(dir $@)
	$(CLANG) $(CSTD) $(INCLUDES) -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all -o $@ $(API_FUZZ_SRCS) $(LIBFDT_A)

# The corpus lives under build/ and grows across runs; seeds come from the tree.
$(eval $(call fuzz_runs,api,api,$(API_FUZZ),65536,tests/fuzz/api_seeds))

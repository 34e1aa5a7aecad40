# REST API extras.
#   make fuzz          libFuzzer (clang) over HTTP + JSON + router, FUZZ_SECONDS (default 600)
#   make fuzz-smoke    a bounded run (FUZZ_SMOKE_SECONDS, default 20) -> one PASS/FAIL line
#   build/tests/bin/fcclient   static API client for the nested host (busybox has no curl)
API_FUZZ      := $(BUILD)/fuzz/fuzz_api
API_FUZZ_SRCS := tests/fuzz/fuzz_api.c $(filter-out vmm/api/server.c,$(wildcard vmm/api/*.c)) \
                 vmm/vmm.c vmm/error.c vmm/config.c vmm/log.c vmm/event.c vmm/file.c \
                 vmm/snapshot_open.c vmm/snapshot/vmstate.c vmm/snapshot/vmstate_read.c \
                 virtio/mmds_store.c virtio/mmds_tree.c virtio/mmds_token.c
API_FUZZ_DIR  := $(BUILD)/fuzz/api
# built by mk/tests.mk's rule for tests/kvm/*.c, next to the other kvm-tier tools
FCCLIENT      := $(BUILD)/tests/bin/fcclient
FUZZ_SECONDS       ?= 600
FUZZ_SMOKE_SECONDS ?= 20
ALL_TARGETS += $(FCCLIENT)

.PHONY: fuzz-api fuzz-smoke fuzz-smoke-api
fuzz: fuzz-api
fuzz-smoke: fuzz-smoke-api

$(API_FUZZ): $(API_FUZZ_SRCS) $(wildcard vmm/api/*.h) vmm/config.h vmm/log.h vmm/file.h
	@mkdir -p $(dir $@)
	$(CLANG) $(CSTD) $(INCLUDES) -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all -o $@ $(API_FUZZ_SRCS) $(LIBFDT_A)

# The corpus lives under build/ and grows across runs; seeds come from the tree.
fuzz-api: $(API_FUZZ)
	@mkdir -p $(API_FUZZ_DIR)/corpus $(API_FUZZ_DIR)/crashes
	cp -n tests/fuzz/api_seeds/* $(API_FUZZ_DIR)/corpus/
	nice $(API_FUZZ) -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -timeout=10 \
		-artifact_prefix=$(API_FUZZ_DIR)/crashes/ $(API_FUZZ_DIR)/corpus

fuzz-smoke-api: $(API_FUZZ)
	@mkdir -p $(API_FUZZ_DIR)/corpus $(API_FUZZ_DIR)/crashes
	@cp -n tests/fuzz/api_seeds/* $(API_FUZZ_DIR)/corpus/
	@if nice $(API_FUZZ) -max_total_time=$(FUZZ_SMOKE_SECONDS) -max_len=65536 -timeout=10 \
		-artifact_prefix=$(API_FUZZ_DIR)/crashes/ $(API_FUZZ_DIR)/corpus \
		> $(API_FUZZ_DIR)/smoke.log 2>&1; then \
		echo "PASS fuzz/api"; \
	else \
		echo "FAIL fuzz/api: see $(API_FUZZ_DIR)/smoke.log"; \
	fi

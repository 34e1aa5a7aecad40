# The custom CPU template parser's fuzz target (client input: PUT /cpu-config):
#   make fuzz-cpu-config        libFuzzer, FUZZ_SECONDS (default 600)
#   make fuzz-smoke-cpu-config  a bounded run (FUZZ_SMOKE_SECONDS) -> one PASS/FAIL line
CPUCFG_FUZZ      := $(BUILD)/fuzz/fuzz_cpu_config
CPUCFG_FUZZ_SRCS := tests/fuzz/fuzz_cpu_config.c vmm/api/cpu_config.c vmm/api/json.c \
	            vmm/cpu_template.c vmm/error.c vmm/file.c vmm/log.c
CPUCFG_FUZZ_DIR  := $(BUILD)/fuzz/cpu_config
FUZZ_SECONDS       ?= 600
FUZZ_SMOKE_SECONDS ?= 20

.PHONY: fuzz-cpu-config fuzz-smoke-cpu-config
fuzz: fuzz-cpu-config
fuzz-smoke: fuzz-smoke-cpu-config

$(CPUCFG_FUZZ): $(CPUCFG_FUZZ_SRCS) vmm/cpu_template.h vmm/api/cpu_config.h vmm/api/json.h
	@mkdir -p $(dir $@)
	$(CLANG) $(CSTD) $(INCLUDES) -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all -o $@ $(CPUCFG_FUZZ_SRCS)

fuzz-cpu-config: $(CPUCFG_FUZZ)
	@mkdir -p $(CPUCFG_FUZZ_DIR)/corpus $(CPUCFG_FUZZ_DIR)/crashes
	cp -n tests/fuzz/cpu_config_seeds/* $(CPUCFG_FUZZ_DIR)/corpus/
	nice $(CPUCFG_FUZZ) -max_total_time=$(FUZZ_SECONDS) -max_len=16384 -timeout=10 \
		-artifact_prefix=$(CPUCFG_FUZZ_DIR)/crashes/ $(CPUCFG_FUZZ_DIR)/corpus

fuzz-smoke-cpu-config: $(CPUCFG_FUZZ)
	@mkdir -p $(CPUCFG_FUZZ_DIR)/corpus $(CPUCFG_FUZZ_DIR)/crashes
	@cp -n tests/fuzz/cpu_config_seeds/* $(CPUCFG_FUZZ_DIR)/corpus/
	@if nice $(CPUCFG_FUZZ) -max_total_time=$(FUZZ_SMOKE_SECONDS) -max_len=16384 -timeout=10 \
		-artifact_prefix=$(CPUCFG_FUZZ_DIR)/crashes/ $(CPUCFG_FUZZ_DIR)/corpus \
		> $(CPUCFG_FUZZ_DIR)/smoke.log 2>&1; then \
		echo "PASS fuzz/cpu_config"; \
	else \
		echo "FAIL fuzz/cpu_config: see $(CPUCFG_FUZZ_DIR)/smoke.log"; \
	fi

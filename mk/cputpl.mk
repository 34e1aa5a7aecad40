# The custom CPU template parser's fuzz target (client input: PUT /cpu-config):
#   make fuzz-cpu-config        libFuzzer, FUZZ_SECONDS (default 600)
#   make fuzz-smoke-cpu-config  a bounded run (FUZZ_SMOKE_SECONDS) -> one PASS/FAIL line
CPUCFG_FUZZ      := $(BUILD)/fuzz/fuzz_cpu_config
CPUCFG_FUZZ_SRCS := tests/fuzz/fuzz_cpu_config.c vmm/api/cpu_config.c vmm/api/json.c \
	            vmm/cpu_template.c vmm/error.c vmm/file.c vmm/log.c


$(CPUCFG_FUZZ): $(CPUCFG_FUZZ_SRCS) vmm/cpu_template.h vmm/api/cpu_config.h vmm/api/json.h
	@mkdir -p $(dir $@)
	$(CLANG) $(CSTD) $(INCLUDES) -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all -o $@ $(CPUCFG_FUZZ_SRCS)

$(eval $(call fuzz_runs,cpu-config,cpu_config,$(CPUCFG_FUZZ),16384,tests/fuzz/cpu_config_seeds))

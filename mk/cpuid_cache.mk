# The --cpuid-cache reader's fuzz target (vmm/arch/x86_64/cpuid_cache.c), x86_64 only:
#   make fuzz-cpuid-cache        libFuzzer, FUZZ_SECONDS (default 600)
#   make fuzz-smoke-cpuid-cache  a bounded run (FUZZ_SMOKE_SECONDS) -> one PASS/FAIL line
ifneq ($(VMM_ARCH),aarch64)
CPUID_CACHE_FUZZ      := $(BUILD)/fuzz/fuzz_cpuid_cache
CPUID_CACHE_FUZZ_SRCS := tests/fuzz/fuzz_cpuid_cache.c vmm/arch/x86_64/cpuid_cache.c \
	vmm/file.c vmm/log.c vmm/error.c

$(CPUID_CACHE_FUZZ): $(CPUID_CACHE_FUZZ_SRCS) vmm/arch/x86_64/cpuid_cache.h
	@mkdir -p $(dir $@)
	$(CLANG) $(CSTD) $(INCLUDES) -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all -o $@ $(CPUID_CACHE_FUZZ_SRCS) -lpthread

$(eval $(call fuzz_runs,cpuid-cache,cpuid_cache,$(CPUID_CACHE_FUZZ),16384,tests/fuzz/cpuid_cache_seeds))
endif

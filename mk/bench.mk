# Benchmarks (issue 7): boot latency, memory overhead, creation rate, against QEMU microvm.
#   make bench          full run (bench/run; options through BENCH_ARGS, e.g. BENCH_ARGS="--iters 20")
#   make bench-smoke    one iteration of everything; prints PASS bench/smoke or FAIL bench/smoke: why
# benchtool times things inside the nested host, where only busybox exists.
BENCHTOOL := $(BUILD)/bench/benchtool
ALL_TARGETS += $(BENCHTOOL)

.PHONY: bench bench-smoke

$(BENCHTOOL): bench/benchtool.c
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(MUSL_CC) $(CSTD) $(WARN) -O2 -static -s -o $@ $<

# The full run wants both guests; the smoke run uses what is there (the probe at least).
bench: build-all guest
	@bash bench/run $(BENCH_ARGS)

bench-smoke: $(BUILD)/ember $(BENCHTOOL) $(BUILD)/guest/probe.elf
	@bash bench/run --smoke $(BENCH_ARGS)

# Benchmarks (issues 7 and 16).
#   make bench          host-side start-up figures measured directly on this host's /dev/kvm
#                       (ember, the floor, QEMU microvm, kvmtool with KVMTOOL=/path/to/lkvm),
#                       then the guest-side figures (hardware KVM, else the nested host);
#                       options through BENCH_ARGS (bench/run --help)
#   make bench-smoke    one iteration of each; PASS/FAIL/SKIP bench/host-smoke and bench/smoke
# benchtool times things inside the nested host, where only busybox exists; launch and
# floor time and are the host-side runs. All three are static (musl), like ember. launch
# and benchtool share bench/common.c (clock, spawn, the rate loop) so both time alike.
BENCHTOOL := $(BUILD)/bench/benchtool
BENCH_LAUNCH := $(BUILD)/bench/launch
BENCH_FLOOR := $(BUILD)/bench/floor
BENCH_TINY := $(BUILD)/bench/guest/tiny-reset.elf
BENCH_BINS := $(BENCHTOOL) $(BENCH_LAUNCH) $(BENCH_FLOOR)
ALL_TARGETS += $(BENCH_BINS) $(BENCH_TINY)

.PHONY: bench bench-smoke

BENCH_COMMON := bench/common.c bench/common.h
$(BENCHTOOL): bench/benchtool.c $(BENCH_COMMON) bench/smaps.c bench/smaps.h
$(BENCH_LAUNCH): bench/launch.c $(BENCH_COMMON) bench/trace.c bench/trace.h bench/smaps.c bench/smaps.h $(KHDR)/.stamp
$(BENCH_FLOOR): bench/floor.c $(KHDR)/.stamp
$(BENCH_BINS):
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(MUSL_CC) $(CSTD) $(WARN) -isystem $(KHDR) -O2 -static -s -o $@ $(filter %.c,$^)

$(BENCH_TINY): bench/tinyguest.py
	@echo "  GEN     $(dir $@)tiny-*"
	$(Q)python3 bench/tinyguest.py $(dir $@)

# The full run wants both guests; the smoke run uses what is there (the probe at least).
bench: build-all guest
	@bash bench/run $(BENCH_ARGS)

bench-smoke: $(BUILD)/ember $(BENCH_BINS) $(BENCH_TINY) $(BUILD)/guest/probe.elf
	@bash bench/run --smoke $(BENCH_ARGS)

# The trace reader's unit test links it beside ember's objects (bench/trace.c decides
# which thread made which ioctl).
BENCH_TRACE_TEST_SRCS := bench/trace.c bench/common.c
$(BUILD)/tests/unit/test_bench_trace: $(patsubst %.c,$(BUILD)/host/%.o,$(BENCH_TRACE_TEST_SRCS))
$(BUILD)/tests/asan/test_bench_trace: $(patsubst %.c,$(BUILD)/asan/%.o,$(BENCH_TRACE_TEST_SRCS))

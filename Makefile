# ember: `make` builds static musl binaries under build/.
# Subsystems add sources and targets through mk/*.mk fragments.

# `make ARCH=aarch64` cross-builds ember and ember-jailer under build/aarch64 (mk/arch/aarch64.mk).
ARCH     ?= x86_64
ifeq ($(ARCH),arm64)
override ARCH := aarch64
endif
ifneq ($(filter-out x86_64 x86 amd64 aarch64,$(ARCH)),)
$(error ARCH=$(ARCH): ember builds for x86_64 (the default) or aarch64)
endif
ifeq ($(ARCH),aarch64)
BUILD    ?= build/aarch64
VMM_ARCH := aarch64
else
BUILD    ?= build
VMM_ARCH := x86_64
endif
MUSL_CC  ?= musl-gcc
HOST_CC  ?= gcc
CLANG    ?= clang

WARN     := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wstrict-prototypes
CSTD     := -std=gnu11 -D_GNU_SOURCE
INCLUDES := -I. -Ivmm -I$(BUILD)/gen
CFLAGS   ?= -O2 -g
BASEFLAGS := $(CSTD) $(WARN) $(INCLUDES) -MMD -MP
# musl has no kernel UAPI headers; a directory of links to the host's gives it linux/kvm.h.
KHDR     := $(BUILD)/kheaders
MUSLFLAGS := -isystem $(KHDR) -ffunction-sections -fdata-sections -fno-asynchronous-unwind-tables
MUSL_LDFLAGS := -static -Wl,--gc-sections -s
SANFLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

# Sources of the ember binary. EMBER_MAIN holds main(); everything else is also
# linked into the unit tests.
EMBER_MAIN := vmm/main.c
EMBER_SRCS := $(filter-out $(EMBER_MAIN),$(wildcard vmm/*.c vmm/arch/$(VMM_ARCH)/*.c vmm/devices/*.c vmm/api/*.c virtio/*.c))
EMBER_GEN_SRCS :=
EMBER_LIBS :=
UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(wildcard tests/unit/test_*.c))
ALL_TARGETS := $(BUILD)/ember $(BUILD)/guest/probe.elf

.PHONY: all test unit asan demo clean format kvm-tier e2e bench fuzz
all: build-all

# fuzz_runs NAME,LABEL,BINARY,MAX_LEN[,SEEDS]: how every libFuzzer target runs, for the
# mk/ fragments to $(eval $(call ...)) (so it is defined before they are read):
#   make fuzz-NAME        FUZZ_SECONDS; corpus and crashes under build/fuzz/LABEL/
#   make fuzz-smoke-NAME  FUZZ_SMOKE_SECONDS -> one PASS/FAIL fuzz/LABEL line (make test)
# SEEDS: a directory of seed inputs copied into the corpus first. Both are also
# prerequisites of `make fuzz` and `make fuzz-smoke`.
FUZZ_SECONDS       ?= 600
FUZZ_SMOKE_SECONDS ?= 20
define fuzz_runs
.PHONY: fuzz-$(1) fuzz-smoke-$(1)
fuzz: fuzz-$(1)
fuzz-smoke: fuzz-smoke-$(1)
fuzz-$(1): $(3)
	@mkdir -p $(BUILD)/fuzz/$(2)/corpus $(BUILD)/fuzz/$(2)/crashes
	$(if $(5),cp -n $(5)/* $(BUILD)/fuzz/$(2)/corpus/,@true)
	nice $(3) -max_total_time=$$(FUZZ_SECONDS) -max_len=$(4) -timeout=10 \
		-artifact_prefix=$(BUILD)/fuzz/$(2)/crashes/ $(BUILD)/fuzz/$(2)/corpus
fuzz-smoke-$(1): $(3)
	@mkdir -p $(BUILD)/fuzz/$(2)/corpus $(BUILD)/fuzz/$(2)/crashes
	@$(if $(5),cp -n $(5)/* $(BUILD)/fuzz/$(2)/corpus/,true)
	@if nice $(3) -max_total_time=$$(FUZZ_SMOKE_SECONDS) -max_len=$(4) -timeout=10 \
		-artifact_prefix=$(BUILD)/fuzz/$(2)/crashes/ $(BUILD)/fuzz/$(2)/corpus \
		> $(BUILD)/fuzz/$(2)/smoke.log 2>&1; then \
		echo "PASS fuzz/$(2)"; \
	else \
		echo "FAIL fuzz/$(2): see $(BUILD)/fuzz/$(2)/smoke.log"; \
	fi
endef

-include mk/*.mk
ifeq ($(ARCH),aarch64)
include mk/arch/aarch64.mk
endif

build-all: $(ALL_TARGETS)

# --- kernel UAPI headers for musl -------------------------------------------------
ifneq ($(ARCH),aarch64)
$(KHDR)/.stamp:
	@mkdir -p $(KHDR)
	ln -sfn /usr/include/linux $(KHDR)/linux
	ln -sfn /usr/include/x86_64-linux-gnu/asm $(KHDR)/asm
	ln -sfn /usr/include/asm-generic $(KHDR)/asm-generic
	@touch $@
endif

# --- object flavours: musl (release), host (unit tests), asan ----------------------
# `make V=1` shows whole command lines.
Q := $(if $(V),,@)
$(BUILD)/musl/%.o: %.c $(KHDR)/.stamp $(FDTINC)/.stamp
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(MUSL_CC) $(BASEFLAGS) $(CFLAGS) $(MUSLFLAGS) -c $< -o $@
$(BUILD)/host/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $< (host)")
	$(Q)$(HOST_CC) $(BASEFLAGS) -O1 -g -c $< -o $@
$(BUILD)/asan/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $< (asan)")
	$(Q)$(HOST_CC) $(BASEFLAGS) $(SANFLAGS) -c $< -o $@

EMBER_ALL_SRCS = $(EMBER_SRCS) $(EMBER_GEN_SRCS)
MUSL_OBJS = $(patsubst %.c,$(BUILD)/musl/%.o,$(EMBER_ALL_SRCS) $(EMBER_MAIN))
HOST_OBJS = $(patsubst %.c,$(BUILD)/host/%.o,$(EMBER_ALL_SRCS))
ASAN_OBJS = $(patsubst %.c,$(BUILD)/asan/%.o,$(EMBER_ALL_SRCS))

$(BUILD)/ember: $(MUSL_OBJS)
	@echo "  LD      $@"
	$(Q)$(MUSL_CC) $(MUSL_LDFLAGS) -o $@ $^ $(EMBER_LIBS) -lpthread

# --- unit tests: one binary per tests/unit/test_*.c, linked with all of ember but main
$(BUILD)/tests/unit/%: $(BUILD)/host/tests/unit/%.o $(HOST_OBJS)
	@mkdir -p $(dir $@)
	$(Q)$(HOST_CC) -o $@ $^ $(EMBER_LIBS) -lpthread
$(BUILD)/tests/asan/%: $(BUILD)/asan/tests/unit/%.o $(ASAN_OBJS)
	@mkdir -p $(dir $@)
	$(Q)$(HOST_CC) $(SANFLAGS) -o $@ $^ $(EMBER_LIBS) -lpthread

ASAN_TESTS := $(patsubst $(BUILD)/tests/unit/%,$(BUILD)/tests/asan/%,$(UNIT_TESTS))

unit: $(UNIT_TESTS)
	@tests/unit/run.sh $(UNIT_TESTS)

asan: $(ASAN_TESTS)
	@tests/unit/run.sh --label asan $(ASAN_TESTS)

# `make test`: every tier; the runner prints the closing `N passed, N failed` line.
# The e2e tier boots the guest images, so they are built (or taken from the cache) first.
test: build-all guest arm64-all $(UNIT_TESTS) $(ASAN_TESTS)
	@tests/run.sh

# Objects are kept between runs, not removed as intermediates of the test binaries.
.SECONDARY:

demo:
	@echo "demo: the first run builds the guest kernel (about 7 minutes on 2 cores); later runs reuse it and take seconds"
	@bash scripts/deps.sh
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory guest
	@bash scripts/demo.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD)/musl $(BUILD)/host $(BUILD)/asan $(BUILD)/tests $(BUILD)/ember $(BUILD)/gen

-include $(shell find $(BUILD)/musl $(BUILD)/host $(BUILD)/asan -name '*.d' 2>/dev/null)

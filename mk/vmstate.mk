# The snapshot vmstate container (issue 11), built on libfdt (Debian libfdt-dev).
#   make fuzz-vmstate        libFuzzer over the vmstate reader, FUZZ_SECONDS (default 600)
#   make fuzz-smoke-vmstate  a bounded run (FUZZ_SMOKE_SECONDS) -> one PASS/FAIL line
# musl-gcc searches neither /usr/include nor the multiarch library directory, so ember
# links Debian's libfdt.a by its path (it needs only string functions and
# __stack_chk_fail, which musl has) and sees the three libfdt headers through links.
LIBFDT_A ?= $(shell $(HOST_CC) -print-file-name=libfdt.a)
FDTINC   := $(BUILD)/fdtinc
EMBER_SRCS += vmm/snapshot/vmstate.c vmm/snapshot/vmstate_read.c
ifneq ($(ARCH),aarch64) # aarch64 links the sysroot's libfdt (mk/arch/aarch64.mk)
EMBER_LIBS += $(LIBFDT_A)
endif
MUSLFLAGS  += -isystem $(FDTINC)

$(FDTINC)/.stamp:
	@mkdir -p $(FDTINC)
	ln -sfn /usr/include/libfdt.h $(FDTINC)/libfdt.h
	ln -sfn /usr/include/libfdt_env.h $(FDTINC)/libfdt_env.h
	ln -sfn /usr/include/fdt.h $(FDTINC)/fdt.h
	@touch $@

VMSTATE_FUZZ      := $(BUILD)/fuzz/fuzz_vmstate
VMSTATE_FUZZ_SRCS := tests/fuzz/fuzz_vmstate.c vmm/snapshot/vmstate.c vmm/snapshot/vmstate_read.c \
	vmm/error.c

$(VMSTATE_FUZZ): $(VMSTATE_FUZZ_SRCS) $(wildcard vmm/snapshot/*.h) vmm/error.h vmm/log.h
	@mkdir -p $(dir $@)
	$(CLANG) $(CSTD) $(INCLUDES) -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all -o $@ $(VMSTATE_FUZZ_SRCS) $(LIBFDT_A)

$(eval $(call fuzz_runs,vmstate,vmstate,$(VMSTATE_FUZZ),65536,tests/fuzz/vmstate_seeds))

# CRC-64/XZ's tables, generated on the build host (the same for every target).
CRC64_TABLE := $(BUILD)/gen/crc64_table.h
CRC64_TOOL  := $(BUILD)/tools/crc64-table
$(CRC64_TOOL): tools/crc64_table.c
	@mkdir -p $(dir $@)
	$(Q)$(HOST_CC) $(CSTD) $(WARN) -O1 -o $@ $<
$(CRC64_TABLE): $(CRC64_TOOL)
	@mkdir -p $(dir $@)
	$(Q)$(CRC64_TOOL) > $@.tmp && mv $@.tmp $@
# Everything that compiles vmstate.c (the objects' .d files name it only after a build).
$(foreach f,musl host asan,$(BUILD)/$(f)/vmm/snapshot/vmstate.o) $(VMSTATE_FUZZ) $(API_FUZZ) \
	$(CPUID_CACHE_FUZZ): $(CRC64_TABLE)

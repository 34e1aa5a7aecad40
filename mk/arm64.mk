# aarch64 code that needs no arm64 host (the device tree builder and the Image
# parser), unit-tested in the x86 build against the host's libfdt:
#   build/tests/unit/test_arm64_*    (part of `make unit` and `make asan`)
A64_PURE_SRCS := vmm/arch/aarch64/fdt.c vmm/arch/aarch64/image.c
ifneq ($(ARCH),aarch64)
# HOST_OBJS and ASAN_OBJS are defined after the mk/ fragments are read.
.SECONDEXPANSION:
$(BUILD)/tests/unit/test_arm64_%: $(BUILD)/host/tests/unit/test_arm64_%.o \
		$(patsubst %.c,$(BUILD)/host/%.o,$(A64_PURE_SRCS)) $$(HOST_OBJS)
	@mkdir -p $(dir $@)
	$(Q)$(HOST_CC) -o $@ $^ -lfdt -lpthread
$(BUILD)/tests/asan/test_arm64_%: $(BUILD)/asan/tests/unit/test_arm64_%.o \
		$(patsubst %.c,$(BUILD)/asan/%.o,$(A64_PURE_SRCS)) $$(ASAN_OBJS)
	@mkdir -p $(dir $@)
	$(Q)$(HOST_CC) $(SANFLAGS) -o $@ $^ -lfdt -lpthread
endif

# The x86 kernel image parsers' fuzz target (vmm/arch/x86_64/loader.c: ELF vmlinux and
# bzImage), x86_64 only:
#   make fuzz-kernel-image        libFuzzer, FUZZ_SECONDS (default 600)
#   make fuzz-smoke-kernel-image  a bounded run (FUZZ_SMOKE_SECONDS) -> one PASS/FAIL line
ifneq ($(VMM_ARCH),aarch64)
KERNEL_IMAGE_FUZZ      := $(BUILD)/fuzz/fuzz_kernel_image
KERNEL_IMAGE_FUZZ_SRCS := tests/fuzz/fuzz_kernel_image.c vmm/arch/x86_64/loader.c vmm/bootfile.c \
	vmm/mem.c vmm/file.c vmm/log.c vmm/error.c

$(KERNEL_IMAGE_FUZZ): $(KERNEL_IMAGE_FUZZ_SRCS) vmm/arch/x86_64/boot.h vmm/bootfile.h
	@mkdir -p $(dir $@)
	$(CLANG) $(CSTD) $(INCLUDES) -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all -o $@ $(KERNEL_IMAGE_FUZZ_SRCS) -lpthread

$(eval $(call fuzz_runs,kernel-image,kernel_image,$(KERNEL_IMAGE_FUZZ),8192,tests/fuzz/kernel_image_seeds))
endif

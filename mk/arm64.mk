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

# The arm64 tier (tests/arm64/host.sh): cross-built ember, an arm64 guest kernel
# (guest/kernel/kbuild.sh, cached by its fragment's hash) and a busybox initramfs,
# run inside the nested arm64 KVM host.
#   make guest-arm64     build/guest-arm64/{Image,initramfs.cpio.gz}
#   make test-arm64      the tier
.PHONY: guest-arm64 guest-arm64-kernel guest-arm64-rootfs test-arm64
A64_GUEST := build/guest-arm64
A64_GUEST_CC = scripts/aarch64-musl-cc build/aarch64/sysroot -isystem build/aarch64/kheaders \
	$(GUEST_CFLAGS)
guest-arm64: guest-arm64-kernel guest-arm64-rootfs
guest-arm64-kernel:
	@bash guest/kernel/kbuild.sh arm64 $(A64_GUEST)
ifneq ($(ARCH),aarch64)
build/aarch64/kheaders/.stamp:
	@$(MAKE) --no-print-directory ARCH=aarch64 BUILD=build/aarch64 $@
endif
$(A64_GUEST)/init: guest/rootfs/init.c build/aarch64/kheaders/.stamp
	@mkdir -p $(dir $@)
	$(A64_GUEST_CC) -DBOOT_TIMER_ADDR=0x40000000UL -o $@ $<
$(A64_GUEST)/ember-vsock: guest/rootfs/vsock.c build/aarch64/kheaders/.stamp
	@mkdir -p $(dir $@)
	$(A64_GUEST_CC) -o $@ $<
$(A64_GUEST)/rootfs.ext4 $(A64_GUEST)/initramfs.cpio.gz &: $(A64_GUEST)/init \
		$(A64_GUEST)/ember-vsock guest/rootfs/scenario.sh guest/rootfs/build.sh scripts/newc.sh
	@bash scripts/arm64-debs.sh extract $(A64_GUEST)/busybox-deb busybox-static
	@BUSYBOX=$(A64_GUEST)/busybox-deb/bin/busybox bash guest/rootfs/build.sh \
		$(A64_GUEST)/init $(A64_GUEST)/ember-vsock $(A64_GUEST)
$(A64_GUEST)/initramfs-poweroff.cpio.gz: tests/arm64/init tests/arm64/initramfs.sh scripts/newc.sh
	@bash tests/arm64/initramfs.sh $@
guest-arm64-rootfs: $(A64_GUEST)/rootfs.ext4 $(A64_GUEST)/initramfs.cpio.gz \
	$(A64_GUEST)/initramfs-poweroff.cpio.gz

# Everything the arm64 tier runs: the cross-built ember and jailer, the guest.
.PHONY: arm64-all
arm64-all: guest-arm64
	@$(MAKE) --no-print-directory ARCH=aarch64 BUILD=build/aarch64
test-arm64: arm64-all
	@bash tests/arm64/host.sh build

# libFuzzer over the Image header parser (part of `make fuzz` and `make fuzz-smoke`).
A64_FUZZ := $(BUILD)/fuzz/fuzz_arm64_image
$(A64_FUZZ): tests/fuzz/fuzz_arm64_image.c vmm/arch/aarch64/image.c vmm/arch/aarch64/image.h vmm/log.c \
		vmm/file.c vmm/mem.c vmm/bootfile.c
	@mkdir -p $(dir $@)
	$(CLANG) $(CSTD) $(INCLUDES) -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all -o $@ $(filter %.c,$^)
$(eval $(call fuzz_runs,arm64-image,arm64_image,$(A64_FUZZ),4096))

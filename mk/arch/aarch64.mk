# aarch64 cross-build (make ARCH=aarch64): static musl binaries built with clang and
# lld against Debian's arm64 musl-dev, libfdt-dev and linux-libc-dev, unpacked under
# $(BUILD)/sysroot by scripts/arm64-debs.sh (no change to the host's dpkg).
# Only ember and ember-jailer are built: the probe guest, bench and test tools are x86.
A64_SYSROOT := $(BUILD)/sysroot
A64_DEBS    := musl-dev libfdt-dev linux-libc-dev
MUSL_CC     := scripts/aarch64-musl-cc $(A64_SYSROOT)
EMBER_LIBS  += -lfdt
ALL_TARGETS := $(BUILD)/ember $(JAILER)
# Snapshot capture and restore are x86_64's so far (vmm/arch/aarch64/snapshot.c refuses).
EMBER_SRCS  := $(filter-out vmm/snapshot.c vmm/snapshot_load.c,$(EMBER_SRCS))

$(A64_SYSROOT)/.stamp: scripts/arm64-debs.sh
	@echo "  DEBS    $(A64_DEBS) -> $(A64_SYSROOT)"
	$(Q)bash scripts/arm64-debs.sh extract $(A64_SYSROOT) $(A64_DEBS)
	@touch $@

# The kernel UAPI headers and libfdt's, from the sysroot.
$(KHDR)/.stamp: $(A64_SYSROOT)/.stamp
	@mkdir -p $(KHDR)
	ln -sfn $(abspath $(A64_SYSROOT))/usr/include/linux $(KHDR)/linux
	ln -sfn $(abspath $(A64_SYSROOT))/usr/include/aarch64-linux-gnu/asm $(KHDR)/asm
	ln -sfn $(abspath $(A64_SYSROOT))/usr/include/asm-generic $(KHDR)/asm-generic
	for h in libfdt.h libfdt_env.h fdt.h; do ln -sfn $(abspath $(A64_SYSROOT))/usr/include/$$h $(KHDR)/$$h; done
	@touch $@

$(JAILER_OBJS): $(KHDR)/.stamp

# The seccomp compiler runs on the build host but must see arm64's ioctl numbers
# (their sizes differ) and resolve names for arm64: only `asm` is swapped.
A64_SECCOMP_ASM := $(BUILD)/seccomp-asm
$(A64_SECCOMP_ASM)/.stamp: $(A64_SYSROOT)/.stamp
	@mkdir -p $(A64_SECCOMP_ASM)
	ln -sfn $(abspath $(A64_SYSROOT))/usr/include/aarch64-linux-gnu/asm $(A64_SECCOMP_ASM)/asm
	@touch $@
$(SECCOMP_TOOL): $(A64_SECCOMP_ASM)/.stamp
SECCOMP_TOOL_FLAGS := -DSECCOMP_TARGET_AARCH64 -isystem $(A64_SECCOMP_ASM)

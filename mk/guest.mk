# Guest images for the e2e tier: Linux 6.1 kernel (tinyconfig + guest/kernel/ember.config),
# busybox rootfs on ext4 and as an initramfs, with ember's own static init.
#   make guest           kernel + rootfs + initramfs
#   make guest-kernel    build/guest/{vmlinux,bzImage} (cached by config hash; first build ~7 min)
#   make guest-rootfs    build/guest/{rootfs.ext4,initramfs.cpio.gz}
GUEST_DIR := $(BUILD)/guest
GUEST_CFLAGS := -static -Os -Wall -Wextra -Werror

.PHONY: guest guest-kernel guest-rootfs

guest: guest-kernel guest-rootfs

guest-kernel:
	@bash guest/kernel/build.sh $(GUEST_DIR)

$(GUEST_DIR)/init: guest/rootfs/init.c
	@mkdir -p $(dir $@)
	$(MUSL_CC) $(GUEST_CFLAGS) -o $@ $<

$(GUEST_DIR)/ember-vsock: guest/rootfs/vsock.c
	@mkdir -p $(dir $@)
	$(MUSL_CC) $(GUEST_CFLAGS) -o $@ $<

$(GUEST_DIR)/rootfs.ext4 $(GUEST_DIR)/initramfs.cpio.gz &: $(GUEST_DIR)/init $(GUEST_DIR)/ember-vsock \
		guest/rootfs/scenario.sh guest/rootfs/build.sh scripts/newc.sh
	@bash guest/rootfs/build.sh $(GUEST_DIR)/init $(GUEST_DIR)/ember-vsock $(GUEST_DIR)

guest-rootfs: $(GUEST_DIR)/rootfs.ext4 $(GUEST_DIR)/initramfs.cpio.gz

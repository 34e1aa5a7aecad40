# Nested test host (QEMU-TCG L1 with nested SVM) and the e2e tier.
#   make nested-host     download + unpack Debian's cloud kernel, pack L1's base initramfs
#   make nested-smoke    kvmcheck inside L1 (proves nested KVM works here)
#   make e2e             tests/e2e/host.sh: real Linux guest under ember, on hardware
#                        KVM directly or inside the nested host, else SKIP
.PHONY: nested-host nested-smoke e2e

nested-host:
	@bash tests/nested/prepare.sh

nested-smoke:
	@bash tests/nested/smoke.sh

e2e: $(BUILD)/ember guest
	@bash tests/e2e/host.sh $(BUILD)

# Static helper programs that kvm-tier scripts run inside the nested host.
TEST_TOOLS := $(BUILD)/tests/bin/fnv1a $(BUILD)/tests/bin/runas
ALL_TARGETS += $(TEST_TOOLS)

$(BUILD)/tests/bin/%: tests/kvm/%.c $(KHDR)/.stamp
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(MUSL_CC) $(CSTD) $(WARN) -O2 -static -s -o $@ $<

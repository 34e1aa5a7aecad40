# Page-fault handlers for the Uffd snapshot memory backend (issue 12), static musl
# programs beside ember:
#   build/ember-uffd-ondemand   serves each missing page from the memory file
#   build/ember-uffd-prefetch   records a restore's working set, prefetches it later
# and their test peer build/tests/bin/uffdpeer (tests/kvm/uffdpeer.c).
#   make fuzz-uffd-msg / fuzz-smoke-uffd-msg   libFuzzer over the handlers' parser
UFFD_HANDLERS := $(BUILD)/ember-uffd-ondemand $(BUILD)/ember-uffd-prefetch
UFFD_COMMON   := tools/uffd/handler.c tools/uffd/msg.c tools/uffd/workset.c vmm/api/json.c
ALL_TARGETS   += $(UFFD_HANDLERS) $(BUILD)/tests/bin/uffdpeer

$(BUILD)/ember-uffd-%: tools/uffd/%.c $(UFFD_COMMON) $(wildcard tools/uffd/*.h) vmm/api/json.h $(KHDR)/.stamp
	@echo "  CC      $@"
	$(Q)$(MUSL_CC) $(CSTD) $(WARN) $(INCLUDES) -isystem $(KHDR) -Itools/uffd -O2 $(MUSL_LDFLAGS) \
		-o $@ $< $(UFFD_COMMON)

# The unit test of the parser, the working-set file and the handler's loop links them
# beside ember's objects.
UFFD_TEST_SRCS := tools/uffd/msg.c tools/uffd/workset.c tools/uffd/handler.c
$(BUILD)/tests/unit/test_uffd: $(patsubst %.c,$(BUILD)/host/%.o,$(UFFD_TEST_SRCS))
$(BUILD)/tests/asan/test_uffd: $(patsubst %.c,$(BUILD)/asan/%.o,$(UFFD_TEST_SRCS))

UFFD_FUZZ      := $(BUILD)/fuzz/fuzz_uffd_msg
UFFD_FUZZ_SRCS := tests/fuzz/fuzz_uffd_msg.c tools/uffd/msg.c vmm/api/json.c

$(UFFD_FUZZ): $(UFFD_FUZZ_SRCS) tools/uffd/msg.h vmm/api/json.h
	@mkdir -p $(dir $@)
	$(CLANG) $(CSTD) $(INCLUDES) -Itools/uffd -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all -o $@ $(UFFD_FUZZ_SRCS)

$(eval $(call fuzz_runs,uffd-msg,uffd_msg,$(UFFD_FUZZ),4200,tests/fuzz/uffd_seeds))
bench bench-smoke: $(UFFD_HANDLERS)

# Per-thread seccomp filters. seccomp/allowlist.c is compiled to BPF at build time by
# a host tool linked with libseccomp (glibc); ember links only the generated arrays
# and the tiny installer.
#   make EMBER_SECCOMP_DEBUG=1    forbidden calls are logged and fail with ENOSYS
#                                 instead of killing the process
SECCOMP_GEN  := $(BUILD)/gen/seccomp_filters.c
SECCOMP_TOOL := $(BUILD)/tools/seccomp-compile
EMBER_SRCS     += seccomp/install.c
EMBER_GEN_SRCS += $(SECCOMP_GEN)

$(SECCOMP_TOOL): seccomp/compile.c seccomp/allowlist.c seccomp/allowlist.h seccomp/seccomp.h seccomp/filters.h \
		seccomp/bpfopt.c seccomp/bpfopt.h
	@mkdir -p $(dir $@)
	$(HOST_CC) $(CSTD) $(WARN) $(INCLUDES) $(SECCOMP_TOOL_FLAGS) -O1 -o $@ seccomp/compile.c seccomp/allowlist.c seccomp/bpfopt.c -lseccomp

$(SECCOMP_GEN): $(SECCOMP_TOOL)
	@mkdir -p $(dir $@)
	$(SECCOMP_TOOL) $@.tmp && mv $@.tmp.pfc $@.pfc && mv $@.tmp $@

# The debug switch only changes install.c; a stamp that changes with the value
# rebuilds it when the switch flips.
EMBER_SECCOMP_DEBUG ?= 0
SECCOMP_MODE := $(BUILD)/gen/seccomp-debug
$(shell mkdir -p $(BUILD)/gen && { [ "$$(cat $(SECCOMP_MODE) 2>/dev/null)" = "$(EMBER_SECCOMP_DEBUG)" ] || echo "$(EMBER_SECCOMP_DEBUG)" > $(SECCOMP_MODE); })
SECCOMP_INSTALL_OBJS := $(foreach f,musl host asan,$(BUILD)/$(f)/seccomp/install.o)
$(SECCOMP_INSTALL_OBJS): $(SECCOMP_MODE)
$(SECCOMP_INSTALL_OBJS): BASEFLAGS += -DEMBER_SECCOMP_DEBUG=$(EMBER_SECCOMP_DEBUG)

# The peephole pass is the build tool's, not ember's: its unit test links it alone.
$(BUILD)/tests/unit/test_bpfopt: $(BUILD)/host/seccomp/bpfopt.o
$(BUILD)/tests/asan/test_bpfopt: $(BUILD)/asan/seccomp/bpfopt.o

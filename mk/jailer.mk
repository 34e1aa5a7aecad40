# ember-jailer: a static musl binary next to ember.
#   make jailer-test     tests/jailer/t_jailer.sh (needs root; cgroups v1 and v2)
JAILER := $(BUILD)/ember-jailer
JAILPROBE := $(BUILD)/tests/jailer/jailprobe
JAILRACE := $(BUILD)/tests/jailer/jailrace
JAILER_OBJS := $(patsubst %.c,$(BUILD)/musl/%.o,jailer/jailer.c jailer/args.c jailer/cgroup.c jailer/privileges.c)
ALL_TARGETS += $(JAILER) $(JAILPROBE) $(JAILRACE)

$(JAILER): $(JAILER_OBJS)
	$(MUSL_CC) $(MUSL_LDFLAGS) -o $@ $^

$(JAILER_OBJS): jailer/jailer.h

# The program the jailer tests run in the jail: reports what it sees from inside.
$(JAILPROBE): tests/jailer/jailprobe.c
	@mkdir -p $(dir $@)
	$(MUSL_CC) -static -O2 -Wall -Wextra -Werror -o $@ $<

# The race tests' attacker: swaps the jail root for a symlink to a decoy, in a loop.
$(JAILRACE): tests/jailer/jailrace.c
	@mkdir -p $(dir $@)
	$(MUSL_CC) -static -O2 -Wall -Wextra -Werror -o $@ $<

.PHONY: jailer-test
jailer-test: $(JAILER) $(JAILPROBE) $(JAILRACE)
	@bash tests/jailer/t_jailer.sh $(BUILD)

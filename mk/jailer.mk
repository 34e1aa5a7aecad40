# ember-jailer: a static musl binary next to ember.
#   make jailer-test     tests/jailer/t_jailer.sh (needs root; cgroups v1 and v2)
JAILER := $(BUILD)/ember-jailer
JAILPROBE := $(BUILD)/tests/jailer/jailprobe
ALL_TARGETS += $(JAILER) $(JAILPROBE)

$(JAILER): $(BUILD)/musl/jailer/jailer.o
	$(MUSL_CC) $(MUSL_LDFLAGS) -o $@ $^

# The program the jailer tests run in the jail: reports what it sees from inside.
$(JAILPROBE): tests/jailer/jailprobe.c
	@mkdir -p $(dir $@)
	$(MUSL_CC) -static -O2 -Wall -Wextra -Werror -o $@ $<

.PHONY: jailer-test
jailer-test: $(JAILER) $(JAILPROBE)
	@bash tests/jailer/t_jailer.sh $(BUILD)

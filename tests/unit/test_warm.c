/* The warm shell's shape checks (vmm/warm.h), without KVM: which configurations a
 * shell takes, what the log would say for the others, and a shape refused before
 * anything is built. The kvm tier (tests/kvm/t_warm.sh) builds real shells. */
#include <string.h>

#include "check.h"
#include "config.h"
#include "vm.h"
#include "warm.h"

static struct vm fake_vm; /* only its address: fits never touches it */
static struct vm_config shape;

static void shell(struct warm_shell *w, unsigned vcpus, uint64_t mem, bool no_pit)
{
	memset(w, 0, sizeof(*w));
	w->shape = &shape;
	config__init(w->shape);
	w->shape->vcpus = vcpus;
	w->shape->mem_mib = mem;
	w->shape->no_pit = no_pit;
	w->vm = &fake_vm;
}

static void fits(void)
{
	struct warm_shell w;
	struct vm_config c;
	char why[256];
	shell(&w, 2, 64, false);
	config__init(&c);
	c.vcpus = 2;
	c.mem_mib = 64;
	CHECK(warm__fits(&w, &c, why, sizeof(why)));
	/* What a snapshot may carry beyond the shape does not matter. */
	c.track_dirty_pages = true;
	c.smt = true;
	c.entropy = true;
	CHECK(warm__fits(&w, &c, why, sizeof(why)));
	c.vcpus = 1;
	CHECK(!warm__fits(&w, &c, why, sizeof(why)));
	CHECK_STR(why, "the VM has 1 vCPUs and 64 MiB, the warm shell 2 and 64");
	c.vcpus = 2;
	c.mem_mib = 128;
	CHECK(!warm__fits(&w, &c, why, sizeof(why)));
	CHECK_STR(why, "the VM has 2 vCPUs and 128 MiB, the warm shell 2 and 64");
	c.mem_mib = 64;
	c.no_pit = true;
	CHECK(!warm__fits(&w, &c, why, sizeof(why)));
	CHECK_STR(why, "the VM is made without a PIT, the warm shell with");
	w.vm = NULL;
	c.no_pit = false;
	CHECK(!warm__fits(&w, &c, why, sizeof(why)));
	CHECK_STR(why, "no warm shell");
}

/* A shape no VM could have is refused by name before /dev/kvm is opened. */
static void bad_shape(void)
{
	struct warm_shell w;
	struct error e = {0};
	CHECK_EQ(warm__prepare(&w, 0, 64, false, NULL, 0, &e), -1);
	CHECK_EQ(e.code, EXIT_USAGE);
	CHECK(strstr(e.msg, "--prepare") != NULL && strstr(e.msg, "vcpu_count") != NULL);
	CHECK(w.vm == NULL);
	CHECK_EQ(warm__prepare(&w, CONFIG_MAX_VCPUS + 1, 64, false, NULL, 0, &e), -1);
	CHECK(w.vm == NULL);
	CHECK_EQ(warm__prepare(&w, 1, 0, false, NULL, 0, &e), -1);
	CHECK(strstr(e.msg, "mem_size_mib") != NULL);
	CHECK(w.vm == NULL);
	/* Discarding no shell is a no-op. */
	warm__discard(&w, "test");
	warm__discard_later(&w, "test");
}

CHECK_MAIN("warm", CHECK_CASE(fits), CHECK_CASE(bad_shape))

/* Snapshot capture: the vmstate (config, memory regions, VM, vCPUs, devices) and the
 * memory file. Runs on the VMM thread with every vCPU parked. */
#include "snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/vcpu_state.h"
#include "vcpu.h"
#include "vm.h"

#define PAGE 4096u

/* --- capture ----------------------------------------------------------------------- */

static void save_vcpu(struct vmstate_writer *w, unsigned i, const struct vcpu_state *s)
{
	char node[64];
	snprintf(node, sizeof(node), "/vcpus/vcpu@%u", i);
	vmstate_writer__set_u32(w, node, "reg", i);
	vmstate_writer__set_blob(w, node, "cpuid", s->cpuid, s->nr_cpuid * sizeof(s->cpuid[0]));
	if (i == 0)
		vmstate_writer__set_blob(w, "/", VMSTATE_PROP_CPUID, s->cpuid,
					 s->nr_cpuid * sizeof(s->cpuid[0]));
	vmstate_writer__set_blob(w, node, "regs", &s->regs, sizeof(s->regs));
	vmstate_writer__set_blob(w, node, "sregs", &s->sregs, sizeof(s->sregs));
	if (s->has_xsave)
		vmstate_writer__set_blob(w, node, "xsave", &s->xsave, sizeof(s->xsave));
	else
		vmstate_writer__set_blob(w, node, "fpu", &s->fpu, sizeof(s->fpu));
	if (s->has_xcrs)
		vmstate_writer__set_blob(w, node, "xcrs", &s->xcrs, sizeof(s->xcrs));
	vmstate_writer__set_blob(w, node, "lapic", &s->lapic, sizeof(s->lapic));
	vmstate_writer__set_blob(w, node, "msrs", s->msrs, s->nr_msrs * sizeof(s->msrs[0]));
	vmstate_writer__set_blob(w, node, "events", &s->events, sizeof(s->events));
	vmstate_writer__set_blob(w, node, "debugregs", &s->debugregs, sizeof(s->debugregs));
	vmstate_writer__set_blob(w, node, "mp-state", &s->mp_state, sizeof(s->mp_state));
}

static int save_cpus_and_vm(struct vm *vm, struct vmstate_writer *w, struct error *e)
{
	uint32_t msrs[VCPU_STATE_MAX_MSRS];
	unsigned nr_msrs = 0;
	char why[256];
	if (vcpu_state__msr_list(vm->kvm_fd, msrs, &nr_msrs, why, sizeof(why)))
		return error__fail(e, EXIT_KVM, "%s", why);
	/* The template's MSRs hold what it set (ARCH_CAPABILITIES for T2S and T2CL):
	 * saved too, whether or not ember's own list has them. */
	struct cpu_template *t = malloc(sizeof(*t));
	if (!t)
		return error__fail(e, EXIT_ERROR, "out of memory");
	cpu_templates__resolve(&vm->cfg->cpu_template, t);
	for (uint32_t i = 0; i < t->nr_msrs; i++) {
		bool have = false;
		for (unsigned k = 0; k < nr_msrs; k++)
			have |= msrs[k] == t->msrs[i].addr;
		if (have)
			continue;
		if (nr_msrs == VCPU_STATE_MAX_MSRS) {
			free(t);
			return error__fail(e, EXIT_USAGE,
					   "cpu-config: too many MSRs to save (at most %d)",
					   VCPU_STATE_MAX_MSRS);
		}
		msrs[nr_msrs++] = t->msrs[i].addr;
	}
	free(t);
	struct vcpu_state *s = malloc(sizeof(*s));
	if (!s)
		return error__fail(e, EXIT_ERROR, "out of memory");
	/* A paused guest's TSC and kvmclock both run on, and the guest's clocksource
	 * watchdog compares them: they are saved as of one instant (snapshot-tsc-stable). */
	struct vm_state vs;
	if (vm__get_state(vm, &vs, e)) {
		free(s);
		return -1;
	}
	snapshot__indexed_parent(w, "/vcpus");
	/* Exact where KVM says which host TSC its clock was read at (Linux 5.16): each
	 * guest TSC then was that plus its vCPU's offset. */
	uint64_t offset;
	bool paired = (vs.clock.flags & KVM_CLOCK_HOST_TSC) &&
		      !vcpu_state__get_tsc_offset(vm->vcpus[0]->fd, &offset);
	uint64_t tsc_read_at_ns = 0;
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		int bad = vcpu_state__get(vm->vcpus[i]->fd, msrs, nr_msrs, s, why, sizeof(why));
		if (!bad && paired && i && vcpu_state__get_tsc_offset(vm->vcpus[i]->fd, &offset))
			bad =
			    snprintf(why, sizeof(why), "KVM_VCPU_TSC_OFFSET: %s", strerror(errno));
		if (bad) {
			free(s);
			return error__fail(e, EXIT_KVM, "vcpu %u: %s", i, why);
		}
		int tsc = vcpu_state__tsc_slot(s);
		if (paired && tsc >= 0)
			s->msrs[tsc].data = vs.clock.host_tsc + offset;
		if (i == 0)
			tsc_read_at_ns = s->msrs_at_ns;
		save_vcpu(w, i, s);
	}
	free(s);
	/* Else by the clock: kvmclock moved on to when vCPU 0's TSC was read. */
	if (!paired && tsc_read_at_ns > vs.clock_at_ns)
		vs.clock.clock += tsc_read_at_ns - vs.clock_at_ns;
	vmstate_writer__set_blob(w, "/vm", "irqchip-pic-master", &vs.irqchip[0],
				 sizeof(vs.irqchip[0]));
	vmstate_writer__set_blob(w, "/vm", "irqchip-pic-slave", &vs.irqchip[1],
				 sizeof(vs.irqchip[1]));
	vmstate_writer__set_blob(w, "/vm", "irqchip-ioapic", &vs.irqchip[2], sizeof(vs.irqchip[2]));
	if (vs.has_pit)
		vmstate_writer__set_blob(w, "/vm", "pit", &vs.pit, sizeof(vs.pit));
	vmstate_writer__set_blob(w, "/vm", "clock", &vs.clock, sizeof(vs.clock));
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	vmstate_writer__set_u64(w, "/vm", "clock-realtime-ns",
				(uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec);
	vmstate_writer__set_u32(w, "/vm", "vcpu-count", vm->nr_vcpus);
	return 0;
}

static int save_devices(struct vm *vm, struct vmstate_writer *w, struct error *e)
{
	snapshot__indexed_parent(w, "/devices");
	for (unsigned i = 0; i < vm->nr_devices; i++) {
		const struct device_ops *ops = vm->devices[i].ops;
		if (!ops->save)
			return error__fail(e, EXIT_USAGE,
					   "device '%s' cannot be saved in a snapshot yet",
					   ops->name);
		struct snapshot_out out = {.w = w};
		snprintf(out.node, sizeof(out.node), "/devices/dev@%u", i);
		snap_out__u32(&out, "reg", i);
		snap_out__string(&out, "kind", ops->name);
		if (ops->save(vm->devices[i].dev, &out, e))
			return error__wrap(e, "device '%s'", ops->name);
	}
	return 0;
}

static bool page_is_zero(const uint8_t *p)
{
	const uint64_t *q = (const uint64_t *)p;
	for (unsigned i = 0; i < PAGE / 8; i++)
		if (q[i])
			return false;
	return true;
}

static int write_all(int fd, const uint8_t *p, size_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* Writes the runs of pages [first, end) of region r for which want(page) holds. */
static int write_runs(int fd, const struct mem_region *r, uint64_t file_off,
		      bool (*want)(const uint8_t *page, uint64_t index, const void *ctx),
		      const void *ctx)
{
	uint64_t pages = r->size / PAGE;
	for (uint64_t i = 0; i < pages;) {
		if (!want(r->hva + i * PAGE, i, ctx)) {
			i++;
			continue;
		}
		uint64_t j = i + 1;
		while (j < pages && j - i < 256 && want(r->hva + j * PAGE, j, ctx))
			j++;
		if (write_all(fd, r->hva + i * PAGE, (j - i) * PAGE, file_off + i * PAGE))
			return -1;
		i = j;
	}
	return 0;
}

static bool want_nonzero(const uint8_t *page, uint64_t index, const void *ctx)
{
	return !page_is_zero(page);
}

static bool want_dirty(const uint8_t *page, uint64_t index, const void *ctx)
{
	const uint64_t *bitmap = ctx;
	return bitmap[index / 64] >> (index % 64) & 1;
}

static uint64_t region_file_offset(const struct vm *vm, unsigned i)
{
	return (uint64_t)(vm->mem.regions[i].hva - vm->mem.base);
}

/* Full: a new file beside the target, renamed over it at the end, so that a VM whose
 * memory is mapped from the target keeps its pages. */
static int write_full(struct vm *vm, const char *path, struct error *e)
{
	char tmp[CONFIG_PATH_MAX + 16];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	/* Non-blocking and checked: a FIFO put there must not stop the VMM thread. */
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, 0600);
	if (fd < 0)
		return error__fail(e, EXIT_USAGE, "mem_file_path: cannot create '%s': %s", tmp,
				   strerror(errno));
	int rc = -1;
	struct stat st;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		error__fail(e, EXIT_USAGE, "mem_file_path: '%s' is not a regular file", tmp);
		close(fd);
		return -1;
	}
	if (ftruncate(fd, (off_t)vm->mem.total)) {
		error__fail(e, EXIT_ERROR, "mem_file_path: cannot size '%s': %s", tmp,
			    strerror(errno));
		goto out;
	}
	for (unsigned i = 0; i < vm->mem.nr_regions; i++)
		if (write_runs(fd, &vm->mem.regions[i], region_file_offset(vm, i), want_nonzero,
			       NULL)) {
			error__fail(e, EXIT_ERROR, "mem_file_path: cannot write '%s': %s", tmp,
				    strerror(errno));
			goto out;
		}
	if (fsync(fd) || rename(tmp, path)) {
		error__fail(e, EXIT_ERROR, "mem_file_path: cannot write '%s': %s", path,
			    strerror(errno));
		goto out;
	}
	rc = 0;
out:
	close(fd);
	if (rc)
		unlink(tmp);
	return rc;
}

static int write_diff(struct vm *vm, const char *path, struct error *e)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return error__fail(e, EXIT_USAGE,
				   "mem_file_path: a Diff snapshot writes into an existing memory "
				   "file: cannot open '%s': %s",
				   path, strerror(errno));
	struct stat st;
	int rc = -1;
	uint64_t *bitmap = NULL;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		error__fail(e, EXIT_USAGE, "mem_file_path: '%s' is not a regular file", path);
		goto out;
	}
	if ((uint64_t)st.st_size < vm->mem.total) {
		error__fail(e, EXIT_USAGE,
			    "mem_file_path: '%s' is smaller than guest memory (%llu bytes)", path,
			    (unsigned long long)vm->mem.total);
		goto out;
	}
	for (unsigned i = 0; i < vm->mem.nr_regions; i++) {
		const struct mem_region *r = &vm->mem.regions[i];
		size_t words = (size_t)((r->size / PAGE + 63) / 64);
		free(bitmap);
		bitmap = calloc(words, sizeof(uint64_t));
		if (!bitmap) {
			error__fail(e, EXIT_ERROR, "out of memory");
			goto out;
		}
		if (vm__dirty_log(vm, i, bitmap, e))
			goto out;
		guest_mem__take_dirty(&vm->mem, region_file_offset(vm, i) / PAGE, r->size / PAGE,
				      bitmap);
		if (write_runs(fd, r, region_file_offset(vm, i), want_dirty, bitmap)) {
			error__fail(e, EXIT_ERROR, "mem_file_path: cannot write '%s': %s", path,
				    strerror(errno));
			goto out;
		}
	}
	if (fsync(fd)) {
		error__fail(e, EXIT_ERROR, "mem_file_path: '%s': %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	free(bitmap);
	close(fd);
	return rc;
}

/* A Full snapshot starts the next Diff's count: KVM clears the log as it is read. */
static int reset_dirty_log(struct vm *vm, struct error *e)
{
	for (unsigned i = 0; i < vm->mem.nr_regions; i++) {
		size_t words = (size_t)((vm->mem.regions[i].size / PAGE + 63) / 64);
		uint64_t *bitmap = calloc(words, sizeof(uint64_t));
		if (!bitmap)
			return error__fail(e, EXIT_ERROR, "out of memory");
		int rc = vm__dirty_log(vm, i, bitmap, e);
		guest_mem__take_dirty(&vm->mem, region_file_offset(vm, i) / PAGE,
				      vm->mem.regions[i].size / PAGE, bitmap);
		free(bitmap);
		if (rc)
			return -1;
	}
	return 0;
}

int snapshot__create(struct vm *vm, const struct snapshot_create_params *p, const char *config_json,
		     const char *ember_version, struct error *e)
{
	if (p->type == SNAPSHOT_DIFF && !vm->track_dirty)
		return error__fail(e, EXIT_USAGE,
				   "snapshot_type: a Diff snapshot needs track_dirty_pages");
	struct vmstate_writer w;
	if (vmstate_writer__init(&w, ember_version, e))
		return -1;
	int rc = -1;
	vmstate_writer__set_string(&w, "/config", "json", config_json);
	snapshot__save_cpu_template(&w, &vm->cfg->cpu_template);
	for (unsigned i = 0; i < vm->mem.nr_regions; i++) {
		struct vmstate_region r = {.guest_address = vm->mem.regions[i].gpa,
					   .size = vm->mem.regions[i].size,
					   .file_offset = region_file_offset(vm, i)};
		vmstate_writer__add_region(&w, i, &r);
	}
	if (save_cpus_and_vm(vm, &w, e) || save_devices(vm, &w, e))
		goto out;
	/* The state file last: a failure leaves no vmstate that names a half memory file. */
	if (p->type == SNAPSHOT_DIFF ? write_diff(vm, p->mem_file_path, e)
				     : write_full(vm, p->mem_file_path, e))
		goto out;
	if (p->type == SNAPSHOT_FULL && vm->track_dirty && reset_dirty_log(vm, e))
		goto out;
	if (vmstate_writer__write_file(&w, p->snapshot_path, e)) {
		error__wrap(e, "snapshot_path");
		goto out;
	}
	rc = 0;
out:
	vmstate_writer__free(&w);
	return rc;
}

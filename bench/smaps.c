/* /proc/PID/smaps reading for the bench tools: see smaps.h. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smaps.h"

struct vma {
	uint64_t start, end;
	long long rss_kb, pss_kb;
	bool anon_or_private_file; /* rw-p or r--p etc: could be guest memory */
};

/*
 * Guest memory is one mapping of exactly the guest's size, but pieces of it may be
 * remapped (an ember kernel image is mapped MAP_PRIVATE|MAP_FIXED from its file), so
 * it shows as several adjacent VMAs. Look for a run of adjacent private VMAs that
 * covers exactly guest_kb; failing that, the smallest single private VMA that is at
 * least that big (QEMU may round up).
 */
static void find_guest(const struct vma *v, size_t n, long long guest_kb, struct mem_usage *m)
{
	m->match = "none";
	if (guest_kb <= 0)
		return;
	uint64_t want = (uint64_t)guest_kb * 1024;
	for (size_t i = 0; i < n; i++) {
		if (!v[i].anon_or_private_file)
			continue;
		uint64_t span = 0;
		long long rss = 0, pss = 0;
		for (size_t j = i; j < n && v[j].anon_or_private_file; j++) {
			if (j > i && v[j].start != v[j - 1].end)
				break;
			span += v[j].end - v[j].start;
			rss += v[j].rss_kb;
			pss += v[j].pss_kb;
			if (span >= want)
				break;
		}
		if (span == want) {
			m->guest_rss_kb = rss;
			m->guest_pss_kb = pss;
			m->guest_span_kb = (long long)(span / 1024);
			m->match = "exact";
			return;
		}
	}
	size_t best = n;
	for (size_t i = 0; i < n; i++) {
		uint64_t size = v[i].end - v[i].start;
		if (v[i].anon_or_private_file && size >= want &&
		    (best == n || size < v[best].end - v[best].start))
			best = i;
	}
	if (best < n) {
		m->guest_rss_kb = v[best].rss_kb;
		m->guest_pss_kb = v[best].pss_kb;
		m->guest_span_kb = (long long)((v[best].end - v[best].start) / 1024);
		m->match = "approx";
	}
}

int smaps__read(pid_t pid, long long guest_mib, struct mem_usage *m)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	memset(m, 0, sizeof(*m));
	size_t n = 0, cap = 0;
	struct vma *v = NULL;
	char line[4096];
	while (fgets(line, sizeof(line), f)) {
		unsigned long long a, b;
		char perms[8];
		long long kb;
		if (sscanf(line, "%llx-%llx %7s", &a, &b, perms) == 3 && strchr(line, '-') &&
		    strlen(perms) == 4) {
			if (n == cap) {
				cap = cap ? cap * 2 : 256;
				struct vma *nv = realloc(v, cap * sizeof(*v));
				if (!nv) {
					free(v);
					fclose(f);
					return -1;
				}
				v = nv;
			}
			v[n] = (struct vma){.start = a, .end = b};
			/* Private and readable; device and shared mappings (kvm_run) never hold
			 * RAM. */
			v[n].anon_or_private_file = perms[0] == 'r' && perms[3] == 'p';
			n++;
		} else if (n && sscanf(line, "Rss: %lld kB", &kb) == 1) {
			v[n - 1].rss_kb = kb;
			m->rss_kb += kb;
		} else if (n && sscanf(line, "Pss: %lld kB", &kb) == 1) {
			v[n - 1].pss_kb = kb;
			m->pss_kb += kb;
		}
	}
	fclose(f);
	find_guest(v, n, guest_mib * 1024, m);
	free(v);
	return 0;
}

void smaps__print_json(const struct mem_usage *m)
{
	printf("\"rss_kb\":%lld,\"pss_kb\":%lld,\"guest_rss_kb\":%lld,\"guest_pss_kb\":%lld,"
	       "\"guest_span_kb\":%lld,\"guest_match\":\"%s\",\"overhead_rss_kb\":%lld,"
	       "\"overhead_pss_kb\":%lld",
	       m->rss_kb, m->pss_kb, m->guest_rss_kb, m->guest_pss_kb, m->guest_span_kb, m->match,
	       m->rss_kb - m->guest_rss_kb, m->pss_kb - m->guest_pss_kb);
}

/* Checks of what ember's boot path handed over: boot_params (e820, initrd) and the
 * MP table. */
#include "probe.h"

#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE  0x0c4
#define BP_E820_ENTRIES	     0x1e8
#define BP_RAMDISK_IMAGE     0x218
#define BP_RAMDISK_SIZE	     0x21c
#define BP_E820_TABLE	     0x2d0
#define E820_MAX	     128 /* what fits in boot_params */
#define E820_RAM	     1

#define GAP_START 0xc0000000ull /* start of ember's 32-bit MMIO gap */
#define MEM_4G	  0x100000000ull
#define EBDA	  0x9fc00ull
#define HIMEM	  0x100000ull

void probe__check(struct probe *p, const char *name, bool ok, const char *why_fmt, ...)
{
	p->checks++;
	if (!ok)
		p->failed++;
	uart__lock();
	uart__write_locked("PROBE check ", 12);
	uart__write_locked(name, strlen(name));
	uart__write_locked(ok ? " ok" : " fail", ok ? 3 : 5);
	if (!ok && why_fmt) {
		va_list ap;
		va_start(ap, why_fmt);
		uart__write_locked(" ", 1);
		uart__vprintf_locked(why_fmt, ap);
		va_end(ap);
	}
	uart__write_locked("\n", 1);
	uart__unlock();
}

struct e820 {
	uint64_t addr, size;
	uint32_t type;
};

static struct e820 e820_at(const struct probe *p, unsigned i)
{
	const volatile uint8_t *e = p->bp + BP_E820_TABLE + 20 * i;
	return (struct e820){rd64(e), rd64(e + 8), rd32(e + 16)};
}

static unsigned e820_count(const struct probe *p)
{
	unsigned n = p->bp[BP_E820_ENTRIES];
	return n <= E820_MAX ? n : E820_MAX;
}

void boot__e820(struct probe *p)
{
	unsigned n = e820_count(p);
	uint64_t ram = 0, top = 0;
	for (unsigned i = 0; i < n; i++) {
		struct e820 e = e820_at(p, i);
		uart__printf("PROBE e820 entry %u addr=0x%lx size=0x%lx type=%u\n", i, e.addr,
			     e.size, e.type);
		if (e.type != E820_RAM)
			continue;
		ram += e.size;
		if (e.addr + e.size > top)
			top = e.addr + e.size;
	}
	uart__printf("PROBE e820 entries=%u ram=%lu top=0x%lx\n", p->bp[BP_E820_ENTRIES], ram, top);

	uint64_t mib;
	int r = cmdline__get_u64("probe.mem_mib", 10, &mib);
	if (r < 0)
		return;
	if (r > 0 || mib == 0 || mib > (1ull << 30)) {
		probe__check(p, "e820", false, "bad probe.mem_mib");
		return;
	}
	/* ember's map for M bytes: low RAM, EBDA..1 MiB reserved, RAM up to the gap,
	 * and what does not fit below the gap above 4 GiB. */
	uint64_t m = mib << 20;
	struct e820 want[4] = {
	    {0, EBDA, E820_RAM},
	    {EBDA, HIMEM - EBDA, 2},
	    {HIMEM, (m < GAP_START ? m : GAP_START) - HIMEM, E820_RAM},
	    {MEM_4G, m > GAP_START ? m - GAP_START : 0, E820_RAM},
	};
	unsigned nwant = m > GAP_START ? 4 : m > HIMEM ? 3 : 2;
	if (p->bp[BP_E820_ENTRIES] != nwant) {
		probe__check(p, "e820", false, "expected %u entries for %lu MiB, got %u", nwant,
			     mib, p->bp[BP_E820_ENTRIES]);
		return;
	}
	for (unsigned i = 0; i < nwant; i++) {
		struct e820 e = e820_at(p, i);
		if (e.addr != want[i].addr || e.size != want[i].size || e.type != want[i].type) {
			probe__check(p, "e820", false,
				     "entry %u is [0x%lx,+0x%lx) type %u, expected [0x%lx,+0x%lx) "
				     "type %u",
				     i, e.addr, e.size, e.type, want[i].addr, want[i].size,
				     want[i].type);
			return;
		}
	}
	probe__check(p, "e820", true, NULL);
}

struct span {
	const uint8_t *p;
	uint64_t len;
};

/* Runs at CPL3: a byte loop over megabytes would crawl where CPL0 is emulated. */
static uint64_t fnv1a_user(void *arg)
{
	const struct span *s = arg;
	uint32_t h = 2166136261u;
	for (uint64_t i = 0; i < s->len; i++)
		h = (h ^ s->p[i]) * 16777619u;
	return h;
}

static bool in_ram(const struct probe *p, uint64_t addr, uint64_t len)
{
	for (unsigned i = 0; i < e820_count(p); i++) {
		struct e820 e = e820_at(p, i);
		if (e.type == E820_RAM && addr >= e.addr && addr - e.addr <= e.size &&
		    len <= e.size - (addr - e.addr))
			return true;
	}
	return false;
}

void boot__initrd(struct probe *p)
{
	uint64_t addr =
	    rd32(p->bp + BP_RAMDISK_IMAGE) | (uint64_t)rd32(p->bp + BP_EXT_RAMDISK_IMAGE) << 32;
	uint64_t size = rd32(p->bp + BP_RAMDISK_SIZE) | (uint64_t)rd32(p->bp + BP_EXT_RAMDISK_SIZE)
							    << 32;
	uint64_t want;
	int r = cmdline__get_u64("probe.initrd_sum", 16, &want);
	if (size == 0 && r < 0)
		return;
	bool inside = size && in_ram(p, addr, size) && addr + size <= MEM_4G;
	uint32_t sum = 0;
	if (inside) {
		struct span s = {(const uint8_t *)addr, size};
		sum = (uint32_t)user__call(fnv1a_user, &s, false);
		uart__printf("PROBE initrd addr=0x%lx size=%lu fnv1a=%08x\n", addr, size, sum);
	} else {
		uart__printf("PROBE initrd addr=0x%lx size=%lu\n", addr, size);
	}
	if (r < 0)
		return;
	if (r > 0)
		probe__check(p, "initrd", false, "bad probe.initrd_sum (want 8 hex digits)");
	else if (size == 0)
		probe__check(p, "initrd", false, "ramdisk_size is 0");
	else if (!inside)
		probe__check(p, "initrd", false, "[0x%lx,+0x%lx) is not inside RAM below 4 GiB",
			     addr, size);
	else
		probe__check(p, "initrd", sum == (uint32_t)want, "fnv1a %08x, expected %08x", sum,
			     (uint32_t)want);
}

/* --- MP table (Intel MP spec 1.4) ---------------------------------------------------- */

static uint8_t sum8(const volatile uint8_t *b, size_t n)
{
	uint8_t s = 0;
	for (size_t i = 0; i < n; i++)
		s += b[i];
	return s;
}

static const volatile uint8_t *find_mpf(uint64_t start, uint64_t len)
{
	for (uint64_t a = start; a + 16 <= start + len; a += 16) {
		const volatile uint8_t *f = (const volatile uint8_t *)a;
		if (f[0] == '_' && f[1] == 'M' && f[2] == 'P' && f[3] == '_' && f[8] == 1 &&
		    sum8(f, 16) == 0)
			return f;
	}
	return NULL;
}

unsigned boot__mptable(struct probe *p)
{
	uint64_t cpus_want;
	int r = cmdline__get_u64("probe.cpus", 10, &cpus_want);
	const volatile uint8_t *f = find_mpf(EBDA, 1024);
	if (!f)
		f = find_mpf(0xf0000, 0x10000);
	const char *why = NULL;
	unsigned cpus = 0, ioapics = 0, bsp = 0;
	uint32_t ioapic_addr = 0, lapic_addr = 0;
	if (!f) {
		why = "no MP floating pointer in the EBDA or 0xf0000-0xfffff";
	} else {
		uint32_t t = rd32(f + 4);
		const volatile uint8_t *h = (const volatile uint8_t *)(uint64_t)t;
		uint16_t len = t && t < HIMEM - 44 ? rd16(h + 4) : 0;
		if (!t || t >= HIMEM - 44 || h[0] != 'P' || h[1] != 'C' || h[2] != 'M' ||
		    h[3] != 'P')
			why = "no PCMP configuration table";
		else if (len < 44 || t + len > HIMEM || sum8(h, len) != 0)
			why = "configuration table has a bad length or checksum";
		else {
			lapic_addr = rd32(h + 36);
			unsigned count = rd16(h + 34);
			uint32_t off = 44;
			for (unsigned i = 0; i < count && !why; i++) {
				if (off >= len) {
					why = "entry count runs past the table";
					break;
				}
				uint8_t type = h[off];
				uint32_t elen = type == 0 ? 20 : 8;
				if (type > 4 || off + elen > len) {
					why = "malformed entry";
					break;
				}
				if (type == 0 && (h[off + 3] & 1)) {
					cpus++;
					if (h[off + 3] & 2)
						bsp++;
				} else if (type == 2 && (h[off + 3] & 1)) {
					ioapics++;
					ioapic_addr = rd32(h + off + 4);
				}
				off += elen;
			}
		}
	}
	if (why) {
		uart__printf("PROBE mptable none: %s\n", why);
		cpus = 0;
	} else {
		uart__printf("PROBE mptable cpus=%u bsp=%u ioapics=%u ioapic=0x%x lapic=0x%x\n",
			     cpus, bsp, ioapics, ioapic_addr, lapic_addr);
	}
	if (r < 0)
		return cpus;
	if (why)
		probe__check(p, "mptable", false, "%s", why);
	else if (r > 0 || cpus != cpus_want)
		probe__check(p, "mptable", false, "expected %lu CPUs, table lists %u", cpus_want,
			     cpus);
	else if (bsp != 1 || ioapics != 1 || ioapic_addr != 0xfec00000u ||
		 lapic_addr != 0xfee00000u)
		probe__check(p, "mptable", false, "bsp=%u ioapics=%u ioapic=0x%x lapic=0x%x", bsp,
			     ioapics, ioapic_addr, lapic_addr);
	else
		probe__check(p, "mptable", true, NULL);
	return cpus;
}

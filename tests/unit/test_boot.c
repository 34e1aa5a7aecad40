/* Kernel image parsers, boot_params/e820 and MP table builders. */
#include <elf.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/x86_64/boot.h"
#include "arch/x86_64/layout.h"
#include "arch/x86_64/mptable.h"
#include "bootfile.h"
#include "check.h"

#define MiB (1ull << 20)

/* An ELF vmlinux-like image: one PT_LOAD at paddr 16 MiB, page-aligned in the file. */
static size_t make_elf(uint8_t *buf, size_t cap, uint64_t paddr, uint64_t filesz, uint64_t memsz)
{
	memset(buf, 0, cap);
	Elf64_Ehdr eh = {0};
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_EXEC;
	eh.e_machine = EM_X86_64;
	eh.e_version = EV_CURRENT;
	eh.e_entry = paddr;
	eh.e_phoff = sizeof(eh);
	eh.e_phentsize = sizeof(Elf64_Phdr);
	eh.e_phnum = 1;
	memcpy(buf, &eh, sizeof(eh));
	Elf64_Phdr ph = {0};
	ph.p_type = PT_LOAD;
	ph.p_offset = 4096;
	ph.p_paddr = paddr;
	ph.p_vaddr = 0xffffffff80000000ull + paddr;
	ph.p_filesz = filesz;
	ph.p_memsz = memsz;
	ph.p_align = 4096;
	memcpy(buf + sizeof(eh), &ph, sizeof(ph));
	for (uint64_t i = 0; i < filesz && 4096 + i < cap; i++)
		buf[4096 + i] = (uint8_t)(i * 7 + 1);
	return 4096 + filesz;
}

static uint8_t image[64 * 1024];

static void elf_valid(void)
{
	struct kernel_info ki;
	char err[256] = "";
	size_t n = make_elf(image, sizeof(image), 16 * MiB, 8192, 12288);
	CHECK_EQ(loader__parse_elf(image, n, n, 64 * MiB, &ki, err, sizeof(err)), 0);
	CHECK_EQ(ki.entry, 16 * MiB);
	CHECK_EQ(ki.nr_segs, 1);
	CHECK_EQ(ki.load_end, 16 * MiB + 12288);
}

static void elf_virtual_entry(void)
{
	struct kernel_info ki;
	char err[256];
	size_t n = make_elf(image, sizeof(image), 16 * MiB, 8192, 8192);
	Elf64_Ehdr *eh = (Elf64_Ehdr *)image;
	eh->e_entry = 0xffffffff80000000ull + 16 * MiB + 0x40;
	CHECK_EQ(loader__parse_elf(image, n, n, 64 * MiB, &ki, err, sizeof(err)), 0);
	CHECK_EQ(ki.entry, 16 * MiB + 0x40);
}

static int elf_rejects(size_t n, uint64_t mem_end, const char *needle)
{
	struct kernel_info ki;
	char err[256] = "";
	int rc = loader__parse_elf(image, n, n, mem_end, &ki, err, sizeof(err));
	return rc == -1 && strstr(err, needle) != NULL;
}

static void elf_hostile(void)
{
	size_t n = make_elf(image, sizeof(image), 16 * MiB, 8192, 8192);
	/* Every truncation of a valid image is rejected, never read past. */
	for (size_t cut = 0; cut < n; cut += 97) {
		struct kernel_info ki;
		char err[256];
		CHECK(loader__parse_elf(image, cut, cut, 64 * MiB, &ki, err, sizeof(err)) == -1);
	}
	CHECK(elf_rejects(n, 16 * MiB + 4096, "does not fit"));

	Elf64_Phdr *ph = (Elf64_Phdr *)(image + sizeof(Elf64_Ehdr));
	ph->p_offset = UINT64_MAX - 10; /* offset + size overflows */
	CHECK(elf_rejects(n, 64 * MiB, "truncated"));
	make_elf(image, sizeof(image), 16 * MiB, 8192, 8192);
	ph->p_paddr = 0x7000; /* would overwrite boot_params */
	ph->p_vaddr = 0x7000;
	((Elf64_Ehdr *)image)->e_entry = 0x7000;
	CHECK(elf_rejects(n, 64 * MiB, "below 1 MiB"));
	make_elf(image, sizeof(image), 16 * MiB, 8192, 8192);
	ph->p_memsz = UINT64_MAX; /* paddr + memsz overflows */
	CHECK(elf_rejects(n, 64 * MiB, "does not fit"));
	make_elf(image, sizeof(image), 16 * MiB, 8192, 4096);
	CHECK(elf_rejects(n, 64 * MiB, "file size exceeds"));
	make_elf(image, sizeof(image), 16 * MiB, 8192, 8192);
	((Elf64_Ehdr *)image)->e_phnum = 60000; /* headers past the end */
	CHECK(elf_rejects(n, 64 * MiB, "program headers"));
	make_elf(image, sizeof(image), 16 * MiB, 8192, 8192);
	((Elf64_Ehdr *)image)->e_machine = EM_AARCH64;
	CHECK(elf_rejects(n, 64 * MiB, "not x86_64"));
	make_elf(image, sizeof(image), 16 * MiB, 8192, 8192);
	((Elf64_Ehdr *)image)->e_entry = 5 * MiB;
	CHECK(elf_rejects(n, 64 * MiB, "entry point"));
	make_elf(image, sizeof(image), 16 * MiB, 8192, 8192);
	image[EI_CLASS] = ELFCLASS32;
	CHECK(elf_rejects(n, 64 * MiB, "64-bit"));
}

/* The loader parses the first BOOTFILE_HEAD_MAX bytes of a file that may be longer:
 * program headers within them are enough, past them the image is refused by name. */
static void elf_head_only(void)
{
	size_t n = make_elf(image, sizeof(image), 16 * MiB, 8192, 8192);
	struct kernel_info ki;
	char err[256] = "";
	CHECK_EQ(loader__parse_elf(image, BOOTFILE_HEAD_MAX, n, 64 * MiB, &ki, err, sizeof(err)),
		 0);
	CHECK_EQ(ki.segs[0].filesz, 8192);
	Elf64_Ehdr *eh = (Elf64_Ehdr *)image;
	memcpy(image + 5000, image + sizeof(*eh), sizeof(Elf64_Phdr));
	eh->e_phoff = 5000;
	CHECK_EQ(loader__parse_elf(image, n, n, 64 * MiB, &ki, err, sizeof(err)), 0);
	CHECK_EQ(loader__parse_elf(image, BOOTFILE_HEAD_MAX, n, 64 * MiB, &ki, err, sizeof(err)),
		 -1);
	CHECK(strstr(err, "past the file's first 4096 bytes") != NULL);
	/* A head longer than the file is the file. */
	n = make_elf(image, sizeof(image), 16 * MiB, 8192, 8192);
	CHECK_EQ(loader__parse_elf(image, n, n - 1, 64 * MiB, &ki, err, sizeof(err)), -1);
	CHECK(strstr(err, "truncated") != NULL);
}

static void elf_overlapping_segments(void)
{
	size_t n = make_elf(image, sizeof(image), 16 * MiB, 8192, 8192);
	Elf64_Ehdr *eh = (Elf64_Ehdr *)image;
	Elf64_Phdr ph[2];
	memcpy(&ph[0], image + sizeof(*eh), sizeof(ph[0]));
	ph[1] = ph[0];
	ph[1].p_paddr += 4096;
	eh->e_phnum = 2;
	memcpy(image + sizeof(*eh), ph, sizeof(ph));
	CHECK(elf_rejects(n, 64 * MiB, "overlap"));
}

static size_t make_bzimage(uint8_t *buf, size_t cap)
{
	memset(buf, 0, cap);
	buf[BP_SETUP_SECTS] = 3;
	buf[BP_BOOT_FLAG] = 0x55;
	buf[BP_BOOT_FLAG + 1] = 0xaa;
	buf[0x201] = 0x66; /* setup header ends at 0x202 + 0x66 = 0x268 */
	memcpy(buf + BP_HEADER, "HdrS", 4);
	buf[BP_VERSION] = 0x0f;
	buf[BP_VERSION + 1] = 0x02;
	buf[BP_LOADFLAGS] = 1;
	buf[BP_RELOCATABLE] = 1;
	buf[BP_XLOADFLAGS] = 1 | 2;
	uint32_t initrd_max = 0x7fffffff, init_size = 4 * MiB, cmdline_size = 2047;
	uint64_t pref = 16 * MiB;
	memcpy(buf + BP_INITRD_MAX, &initrd_max, 4);
	memcpy(buf + BP_CMDLINE_SIZE, &cmdline_size, 4);
	memcpy(buf + BP_PREF_ADDRESS, &pref, 8);
	memcpy(buf + BP_INIT_SIZE, &init_size, 4);
	return 16384;
}

static void bzimage_valid(void)
{
	struct kernel_info ki;
	char err[256] = "";
	size_t n = make_bzimage(image, sizeof(image));
	CHECK_EQ(loader__parse_bzimage(image, n, n, 64 * MiB, &ki, err, sizeof(err)), 0);
	CHECK_EQ(ki.entry, X86_HIMEM_START + 0x200);
	CHECK_EQ(ki.segs[0].file_offset, 4 * 512);
	CHECK_EQ(ki.segs[0].filesz, n - 4 * 512);
	CHECK_EQ(ki.load_end, 20 * MiB);
	CHECK_EQ(ki.setup_header_len, 0x268 - 0x1f1);
	CHECK_EQ(ki.initrd_addr_max, 0x7fffffff);
	CHECK_EQ(ki.cmdline_max, 2047);
}

static int bz_rejects(size_t n, uint64_t mem_end, const char *needle)
{
	struct kernel_info ki;
	char err[256] = "";
	return loader__parse_bzimage(image, n, n, mem_end, &ki, err, sizeof(err)) == -1 &&
	       strstr(err, needle) != NULL;
}

static void bzimage_hostile(void)
{
	size_t n = make_bzimage(image, sizeof(image));
	CHECK(bz_rejects(0x300, 64 * MiB, "not a bzImage"));
	CHECK(bz_rejects(n, 18 * MiB, "does not fit"));
	image[BP_XLOADFLAGS] = 0;
	CHECK(bz_rejects(n, 64 * MiB, "64-bit"));
	make_bzimage(image, sizeof(image));
	image[BP_RELOCATABLE] = 0;
	CHECK(bz_rejects(n, 64 * MiB, "relocatable"));
	make_bzimage(image, sizeof(image));
	image[BP_VERSION] = 0x0b;
	CHECK(bz_rejects(n, 64 * MiB, "too old"));
	make_bzimage(image, sizeof(image));
	image[BP_SETUP_SECTS] = 200; /* protected-mode code would start past the end */
	CHECK(bz_rejects(n, 64 * MiB, "truncated"));
	/* Protected-mode code that ends before the 64-bit entry at 0x200 into it (found by
	 * fuzz/kernel_image: the entry was then outside what is loaded). */
	make_bzimage(image, sizeof(image));
	image[BP_SETUP_SECTS] = 7; /* protected-mode code from 4 KiB on */
	CHECK(bz_rejects(8 * 512 + 0x200, 64 * MiB, "ends before its 64-bit entry"));
	CHECK(!bz_rejects(8 * 512 + 0x201, 64 * MiB, "ends before"));
	struct kernel_info k1;
	char e1[256];
	CHECK_EQ(loader__parse_bzimage(image, BOOTFILE_HEAD_MAX, 8 * 512 + 0x201, 64 * MiB, &k1, e1,
				       sizeof(e1)),
		 0);
	make_bzimage(image, sizeof(image));
	uint32_t huge = 0xffffffffu;
	memcpy(image + BP_INIT_SIZE, &huge, 4);
	CHECK(bz_rejects(n, 64 * MiB, "does not fit"));
	make_bzimage(image, sizeof(image));
	image[0x201] = 0xff; /* setup header claims more than we keep: clamped, not overrun */
	struct kernel_info ki;
	char err[256];
	CHECK_EQ(loader__parse_bzimage(image, n, n, 64 * MiB, &ki, err, sizeof(err)), 0);
	CHECK(ki.setup_header_len <= sizeof(ki.setup_header));
}

/* Appends one ELF note (4-byte padding) at buf+off; returns the offset after it. */
static size_t put_note(uint8_t *buf, size_t off, const char *name, uint32_t type, const void *desc,
		       uint32_t descsz)
{
	uint32_t namesz = (uint32_t)strlen(name) + 1;
	uint32_t hdr[3] = {namesz, descsz, type};
	memcpy(buf + off, hdr, sizeof(hdr));
	off += sizeof(hdr);
	memset(buf + off, 0, (namesz + 3) & ~3u);
	memcpy(buf + off, name, namesz);
	off += (namesz + 3) & ~3u;
	memset(buf + off, 0, (descsz + 3) & ~3u);
	memcpy(buf + off, desc, descsz);
	return off + ((descsz + 3) & ~3u);
}

/* make_elf's image with a second program header: a PT_NOTE segment of `len` bytes at
 * file offset `off` (the notes themselves are the caller's). */
static void add_note_phdr(uint64_t off, uint64_t len)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)image;
	Elf64_Phdr ph = {.p_type = PT_NOTE, .p_offset = off, .p_filesz = len, .p_align = 4};
	memcpy(image + sizeof(*eh) + eh->e_phnum * sizeof(ph), &ph, sizeof(ph));
	eh->e_phnum++;
}

/* Notes as vmlinux has them: a build id, then Xen's PHYS32_ENTRY; the PVH entry is
 * taken, as a pointer (Linux) or a .long (others); without the note, e_entry. */
static void pvh_note(void)
{
	struct kernel_info ki;
	char err[256] = "";
	uint8_t notes[256];
	const uint8_t build_id[20] = {1, 2, 3};
	uint64_t entry64 = 16 * MiB + 0x4a0;
	size_t n = put_note(notes, 0, "GNU", 3, build_id, sizeof(build_id));
	n = put_note(notes, n, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &entry64, 8);
	make_elf(image, sizeof(image), 16 * MiB, 8192, 8192);
	add_note_phdr(4096 + 100, n);
	CHECK_EQ(loader__parse_elf(image, 4096, 4096 + 8192, 64 * MiB, &ki, err, sizeof(err)), 0);
	CHECK_EQ(ki.nr_notes, 1);
	CHECK_EQ(ki.notes[0].file_offset, 4096 + 100);
	CHECK_EQ(ki.notes[0].filesz, n);
	CHECK(!ki.pvh);
	CHECK_EQ(loader__parse_notes(&ki, notes, n, 4, err, sizeof(err)), 0);
	CHECK(ki.pvh);
	CHECK_EQ(ki.entry, entry64);

	uint32_t entry32 = 16 * MiB + 0x10;
	n = put_note(notes, 0, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &entry32, 4);
	CHECK_EQ(loader__parse_elf(image, 4096, 4096 + 8192, 64 * MiB, &ki, err, sizeof(err)), 0);
	CHECK_EQ(loader__parse_notes(&ki, notes, n, 4, err, sizeof(err)), 0);
	CHECK(ki.pvh);
	CHECK_EQ(ki.entry, entry32);

	/* Other owners' notes of the same type, and no note at all, change nothing. */
	n = put_note(notes, 0, "Linux", XEN_ELFNOTE_PHYS32_ENTRY, &entry32, 4);
	n = put_note(notes, n, "Xen", 17, &entry32, 4);
	CHECK_EQ(loader__parse_elf(image, 4096, 4096 + 8192, 64 * MiB, &ki, err, sizeof(err)), 0);
	CHECK_EQ(loader__parse_notes(&ki, notes, n, 4, err, sizeof(err)), 0);
	CHECK(!ki.pvh);
	CHECK_EQ(ki.entry, 16 * MiB);
	CHECK_EQ(loader__parse_notes(&ki, notes, 0, 4, err, sizeof(err)), 0);
	CHECK(!ki.pvh);
}

static int notes_reject(const uint8_t *notes, size_t n, const char *needle)
{
	struct kernel_info ki;
	char err[256] = "";
	make_elf(image, sizeof(image), 16 * MiB, 8192, 12288);
	if (loader__parse_elf(image, 4096, 4096 + 8192, 64 * MiB, &ki, err, sizeof(err)))
		return 0;
	int rc = loader__parse_notes(&ki, notes, n, 4, err, sizeof(err));
	return rc == -1 && strstr(err, needle) != NULL && !ki.pvh && ki.entry == 16 * MiB;
}

static void pvh_note_hostile(void)
{
	uint8_t notes[256];
	uint32_t entry32 = 16 * MiB + 0x10;
	size_t n = put_note(notes, 0, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &entry32, 4);
	/* Every truncation inside the note is refused; none reads past the bytes given. */
	for (size_t cut = 12; cut < n; cut++)
		CHECK(notes_reject(notes, cut, "overruns"));
	uint32_t *hdr = (uint32_t *)notes;
	hdr[0] = UINT32_MAX; /* name size */
	CHECK(notes_reject(notes, n, "overruns"));
	hdr[0] = 4;
	hdr[1] = UINT32_MAX; /* value size */
	CHECK(notes_reject(notes, n, "overruns"));
	n = put_note(notes, 0, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &entry32, 2);
	CHECK(notes_reject(notes, n, "not 4 or 8"));
	uint64_t high = (1ull << 32) + 16 * MiB;
	n = put_note(notes, 0, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &high, 8);
	CHECK(notes_reject(notes, n, "above 4 GiB"));
	/* Inside the segment's memory but past what the file gives it (its bss). */
	entry32 = 16 * MiB + 8192 + 16;
	n = put_note(notes, 0, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &entry32, 4);
	CHECK(notes_reject(notes, n, "outside what the ELF loads"));
	entry32 = 0x7000; /* the zero page */
	n = put_note(notes, 0, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &entry32, 4);
	CHECK(notes_reject(notes, n, "outside what the ELF loads"));

	/* Note segments themselves: past the file, too large, too many. */
	struct kernel_info ki;
	char err[256] = "";
	make_elf(image, sizeof(image), 16 * MiB, 8192, 8192);
	add_note_phdr(4096 + 8000, 1000);
	CHECK_EQ(loader__parse_elf(image, 4096, 4096 + 8192, 64 * MiB, &ki, err, sizeof(err)), -1);
	CHECK(strstr(err, "note segment 1 is truncated") != NULL);
	make_elf(image, sizeof(image), 16 * MiB, 8192, 8192);
	add_note_phdr(4096, LOADER_NOTES_MAX + 1);
	CHECK_EQ(loader__parse_elf(image, 4096, 4096 + 8192, 64 * MiB, &ki, err, sizeof(err)), -1);
	CHECK(strstr(err, "at most") != NULL);
	make_elf(image, sizeof(image), 16 * MiB, 8192, 8192);
	for (int i = 0; i <= LOADER_MAX_NOTES; i++)
		add_note_phdr(4096, 16);
	CHECK_EQ(loader__parse_elf(image, 4096, 4096 + 8192, 64 * MiB, &ki, err, sizeof(err)), -1);
	CHECK(strstr(err, "note segments") != NULL);
}

/* The start_info the PVH entry gets: magic, version 1, the command line, the e820 map
 * as its memory map, and the initrd as its one module only when there is one. */
static void pvh_start_info(void)
{
	struct guest_mem mem;
	CHECK_EQ(guest_mem__init(&mem, 64 * MiB), 0);
	const char *cmdline = "console=ttyS0 pvh=1";
	CHECK_EQ(bootparams__write_pvh(&mem, cmdline, 0x3000000, 0x1234), 0);
	struct pvh_start_info *si = guest_mem__ptr(&mem, X86_PVH_INFO_ADDR, sizeof(*si));
	CHECK(si != NULL);
	if (!si)
		return;
	CHECK_EQ(si->magic, PVH_START_MAGIC);
	CHECK_EQ(si->version, 1);
	CHECK_EQ(si->cmdline_paddr, X86_CMDLINE_ADDR);
	CHECK_STR((const char *)guest_mem__ptr(&mem, X86_CMDLINE_ADDR, 1), cmdline);
	CHECK_EQ(si->nr_modules, 1);
	CHECK_EQ(si->modlist_paddr, X86_PVH_MODS_ADDR);
	struct pvh_modlist_entry *mod = guest_mem__ptr(&mem, si->modlist_paddr, sizeof(*mod));
	CHECK(mod && mod->paddr == 0x3000000 && mod->size == 0x1234 && mod->cmdline_paddr == 0);
	struct e820_entry map[E820_MAX];
	unsigned n = bootparams__e820(&mem, map, E820_MAX);
	CHECK_EQ(si->memmap_entries, n);
	CHECK_EQ(si->memmap_paddr, X86_PVH_MEMMAP_ADDR);
	struct pvh_memmap_entry *mm = guest_mem__ptr(&mem, si->memmap_paddr, n * sizeof(*mm));
	for (unsigned i = 0; mm && i < n; i++) {
		CHECK_EQ(mm[i].addr, map[i].addr);
		CHECK_EQ(mm[i].size, map[i].size);
		CHECK_EQ(mm[i].type, map[i].type);
	}
	CHECK_EQ(si->rsdp_paddr, 0);

	CHECK_EQ(bootparams__write_pvh(&mem, cmdline, 0, 0), 0);
	CHECK_EQ(si->nr_modules, 0);
	CHECK_EQ(si->modlist_paddr, 0);
	guest_mem__destroy(&mem);
}

static void write_file(const char *path, const void *data, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, data, n), (long long)n);
	close(fd);
}

static void load_kernel_and_initrd(void)
{
	struct guest_mem mem;
	CHECK_EQ(guest_mem__init(&mem, 64 * MiB), 0);
	char kpath[] = "/tmp/ember-test-kernel-XXXXXX";
	int fd = mkstemp(kpath);
	close(fd);
	/* File tail past filesz must not leak into guest memory (it would be bss). */
	size_t n = make_elf(image, sizeof(image), 16 * MiB, 6000, 9000);
	memset(image + 4096 + 6000, 0xee, sizeof(image) - 4096 - 6000);
	write_file(kpath, image, sizeof(image));
	(void)n;
	struct kernel_info ki;
	char err[256] = "";
	CHECK_EQ(loader__load_kernel(&mem, kpath, &ki, err, sizeof(err)), 0);
	uint8_t *k = guest_mem__ptr(&mem, 16 * MiB, 9000);
	CHECK(k != NULL);
	CHECK(k && memcmp(k, image + 4096, 6000) == 0);
	int tail_zero = 1;
	for (size_t i = 6000; k && i < 9000; i++)
		tail_zero &= k[i] == 0;
	CHECK(tail_zero);

	/* A segment whose address is not page-aligned is read, not mapped. */
	make_elf(image, sizeof(image), 16 * MiB + 0x123, 6000, 9000);
	write_file(kpath, image, sizeof(image));
	CHECK_EQ(loader__load_kernel(&mem, kpath, &ki, err, sizeof(err)), 0);
	k = guest_mem__ptr(&mem, 16 * MiB + 0x123, 6000);
	CHECK(k && memcmp(k, image + 4096, 6000) == 0);
	/* A file that ends before a segment it names is refused, never read past. */
	write_file(kpath, image, 4096 + 100);
	CHECK_EQ(loader__load_kernel(&mem, kpath, &ki, err, sizeof(err)), -1);
	CHECK(strstr(err, "truncated") != NULL);
	make_elf(image, sizeof(image), 16 * MiB, 6000, 9000);
	write_file(kpath, image, sizeof(image));
	CHECK_EQ(loader__load_kernel(&mem, kpath, &ki, err, sizeof(err)), 0);

	/* Notes within the head, parsed where they lie, then past it, as in vmlinux: read
	 * from the file. The image is left with the latter. */
	uint32_t pvh_entry = 16 * MiB + 0x20;
	const size_t notes_where[] = {sizeof(Elf64_Ehdr) + 4 * sizeof(Elf64_Phdr),
				      4096 + 6000 + 1000};
	size_t notes_at = 0, notes_len = 0;
	for (unsigned w = 0; w < 2; w++) {
		notes_at = notes_where[w];
		make_elf(image, sizeof(image), 16 * MiB, 6000, 9000);
		notes_len =
		    put_note(image, notes_at, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &pvh_entry, 4) -
		    notes_at;
		add_note_phdr(notes_at, notes_len);
		write_file(kpath, image, sizeof(image));
		CHECK_EQ(loader__load_kernel(&mem, kpath, &ki, err, sizeof(err)), 0);
		CHECK(ki.pvh);
		CHECK_EQ(ki.entry, pvh_entry);
	}
	/* A file cut inside its notes is refused. */
	write_file(kpath, image, notes_at + notes_len - 1);
	CHECK_EQ(loader__load_kernel(&mem, kpath, &ki, err, sizeof(err)), -1);
	CHECK(strstr(err, "note segment 1 is truncated") != NULL);
	make_elf(image, sizeof(image), 16 * MiB, 6000, 9000);
	write_file(kpath, image, sizeof(image));
	CHECK_EQ(loader__load_kernel(&mem, kpath, &ki, err, sizeof(err)), 0);
	CHECK(!ki.pvh);

	char ipath[] = "/tmp/ember-test-initrd-XXXXXX";
	fd = mkstemp(ipath);
	close(fd);
	uint8_t rd[5000];
	for (size_t i = 0; i < sizeof(rd); i++)
		rd[i] = (uint8_t)(i ^ 0x5a);
	write_file(ipath, rd, sizeof(rd));
	uint64_t addr = 0, size = 0;
	CHECK_EQ(loader__load_initrd(&mem, ipath, &ki, &addr, &size, err, sizeof(err)), 0);
	CHECK_EQ(size, sizeof(rd));
	CHECK_EQ(addr & 4095, 0);
	CHECK(addr + size <= 64 * MiB && addr >= ki.load_end);
	uint8_t *g = guest_mem__ptr(&mem, addr, size);
	CHECK(g && memcmp(g, rd, sizeof(rd)) == 0);

	/* An initrd too big to sit above the kernel is refused with a reason. */
	struct kernel_info big = ki;
	big.load_end = 64 * MiB - 4096;
	CHECK_EQ(loader__load_initrd(&mem, ipath, &big, &addr, &size, err, sizeof(err)), -1);
	CHECK(strstr(err, "does not fit") != NULL);
	CHECK_EQ(loader__load_kernel(&mem, "/nonexistent/vmlinux", &ki, err, sizeof(err)), -1);
	CHECK(strstr(err, "No such file") != NULL);
	CHECK_EQ(loader__load_kernel(&mem, "/tmp", &ki, err, sizeof(err)), -1);
	CHECK(strstr(err, "not a regular file") != NULL);
	unlink(kpath);
	unlink(ipath);
	guest_mem__destroy(&mem);
}

static void e820_small_and_large(void)
{
	struct guest_mem mem;
	struct e820_entry map[E820_MAX];
	CHECK_EQ(guest_mem__init(&mem, 128 * MiB), 0);
	unsigned n = bootparams__e820(&mem, map, E820_MAX);
	CHECK_EQ(n, 3);
	CHECK_EQ(map[0].addr, 0);
	CHECK_EQ(map[0].size, X86_EBDA_START);
	CHECK_EQ(map[0].type, E820_RAM);
	CHECK_EQ(map[1].type, E820_RESERVED);
	CHECK_EQ(map[1].addr + map[1].size, X86_HIMEM_START);
	CHECK_EQ(map[2].addr, X86_HIMEM_START);
	CHECK_EQ(map[2].addr + map[2].size, 128 * MiB);
	guest_mem__destroy(&mem);

	CHECK_EQ(guest_mem__init(&mem, 5000 * MiB), 0);
	n = bootparams__e820(&mem, map, E820_MAX);
	CHECK_EQ(n, 4);
	CHECK_EQ(map[2].addr + map[2].size, MEM_32BIT_GAP_START);
	CHECK_EQ(map[3].addr, MEM_4G);
	CHECK_EQ(map[3].size, 5000 * MiB - MEM_32BIT_GAP_START);
	guest_mem__destroy(&mem);
}

static void boot_params_fields(void)
{
	struct guest_mem mem;
	CHECK_EQ(guest_mem__init(&mem, 64 * MiB), 0);
	struct kernel_info ki = {.kind = KERNEL_ELF, .entry = 16 * MiB};
	const char *cmdline = "console=ttyS0 probe.x=1";
	CHECK_EQ(bootparams__write(&mem, &ki, cmdline, 0x3000000, 0x1234), 0);
	uint8_t *zp = guest_mem__ptr(&mem, X86_ZERO_PAGE_ADDR, 4096);
	uint32_t v32;
	uint16_t v16;
	memcpy(&v16, zp + BP_BOOT_FLAG, 2);
	CHECK_EQ(v16, 0xaa55);
	CHECK(memcmp(zp + BP_HEADER, "HdrS", 4) == 0);
	CHECK_EQ(zp[BP_TYPE_OF_LOADER], 0xff);
	memcpy(&v32, zp + BP_CMD_LINE_PTR, 4);
	CHECK_EQ(v32, X86_CMDLINE_ADDR);
	CHECK_STR((char *)guest_mem__ptr(&mem, v32, 1), cmdline);
	memcpy(&v32, zp + BP_RAMDISK_IMAGE, 4);
	CHECK_EQ(v32, 0x3000000);
	memcpy(&v32, zp + BP_RAMDISK_SIZE, 4);
	CHECK_EQ(v32, 0x1234);
	CHECK_EQ(zp[BP_E820_ENTRIES], 3);

	/* bzImage: the image's own setup header is kept, loader fields are ours. */
	struct kernel_info bz = {.kind = KERNEL_BZIMAGE};
	make_bzimage(image, sizeof(image));
	memcpy(bz.setup_header, image + BP_SETUP_SECTS, 0x268 - 0x1f1);
	bz.setup_header_len = 0x268 - 0x1f1;
	CHECK_EQ(bootparams__write(&mem, &bz, cmdline, 0, 0), 0);
	CHECK_EQ(zp[BP_RELOCATABLE], 1);
	CHECK_EQ(zp[BP_TYPE_OF_LOADER], 0xff);
	CHECK_EQ(zp[BP_XLOADFLAGS], 3);
	/* cmdline_size is the kernel's limit, not ours to write. */
	uint32_t hdr_cmdline_size;
	memcpy(&hdr_cmdline_size, image + BP_CMDLINE_SIZE, 4);
	memcpy(&v32, zp + BP_CMDLINE_SIZE, 4);
	CHECK_EQ(v32, hdr_cmdline_size);

	bootparams__write_tables(&mem);
	uint64_t *pml4 = guest_mem__ptr(&mem, X86_PML4_ADDR, 8);
	uint64_t *pd = guest_mem__ptr(&mem, X86_PD_ADDR, 4 * 4096);
	CHECK_EQ(pml4[0] & ~0xfffull, X86_PDPT_ADDR);
	CHECK_EQ(pd[3 * 512 + 511] & ~0xfffull, 4 * 1024 * MiB - 2 * MiB); /* last 2 MiB of 4 GiB */
	guest_mem__destroy(&mem);
}

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	while (n--)
		s += *p++;
	return s;
}

static void mptable_contents(void)
{
	for (unsigned cpus = 1; cpus <= 32; cpus += 31) {
		uint8_t buf[MPTABLE_MAX_SIZE];
		size_t n = mptable__build(buf, sizeof(buf), X86_EBDA_START, cpus);
		CHECK(n > 0 && n <= sizeof(buf));
		CHECK(memcmp(buf, "_MP_", 4) == 0);
		CHECK_EQ(sum(buf, 16), 0);
		uint32_t phys;
		memcpy(&phys, buf + 4, 4);
		CHECK_EQ(phys, X86_EBDA_START + 16);
		uint8_t *hdr = buf + 16;
		CHECK(memcmp(hdr, "PCMP", 4) == 0);
		uint16_t len, count;
		memcpy(&len, hdr + 4, 2);
		memcpy(&count, hdr + 34, 2);
		CHECK_EQ(len, n - 16);
		CHECK_EQ(sum(hdr, len), 0);
		/* Walk the entries: N processors with ids 0..N-1, BSP first, one IOAPIC. */
		uint8_t *e = hdr + 44;
		unsigned procs = 0, ioapics = 0, ints = 0, bsp = 0;
		for (unsigned i = 0; i < count; i++) {
			if (e[0] == 0) {
				CHECK_EQ(e[1], procs);
				bsp += (e[3] & 2) != 0;
				procs++;
				e += 20;
			} else {
				if (e[0] == 2) {
					ioapics++;
					CHECK_EQ(e[1], cpus);
				}
				if (e[0] == 3) /* IRQ n on pin n: KVM's default routing */
					CHECK_EQ(e[7], e[5]);
				ints += e[0] == 3;
				e += 8;
			}
		}
		CHECK_EQ(e - buf, n);
		CHECK_EQ(procs, cpus);
		CHECK_EQ(bsp, 1);
		CHECK_EQ(ioapics, 1);
		CHECK_EQ(ints, MPTABLE_IRQS);
	}
	uint8_t small[100];
	CHECK_EQ(mptable__build(small, sizeof(small), 0, 4), 0);
}

static void guest_mem_bounds(void)
{
	struct guest_mem mem;
	CHECK_EQ(guest_mem__init(&mem, 3 * 1024 * MiB + 64 * MiB), 0);
	CHECK(guest_mem__ptr(&mem, 0, 16) != NULL);
	CHECK(guest_mem__ptr(&mem, MEM_32BIT_GAP_START - 16, 16) != NULL);
	CHECK(guest_mem__ptr(&mem, MEM_32BIT_GAP_START - 16, 17) == NULL); /* into the gap */
	CHECK(guest_mem__ptr(&mem, MEM_32BIT_GAP_START, 1) == NULL);
	CHECK(guest_mem__ptr(&mem, MEM_4G, 64 * MiB) != NULL);
	CHECK(guest_mem__ptr(&mem, MEM_4G + 64 * MiB - 1, 2) == NULL);
	CHECK(guest_mem__ptr(&mem, UINT64_MAX, 2) == NULL);
	CHECK(guest_mem__ptr(&mem, 4096, UINT64_MAX) == NULL);
	guest_mem__destroy(&mem);
	CHECK_EQ(guest_mem__init(&mem, 0), -1);
}

CHECK_MAIN("boot", CHECK_CASE(elf_valid), CHECK_CASE(elf_virtual_entry), CHECK_CASE(elf_hostile),
	   CHECK_CASE(elf_head_only), CHECK_CASE(elf_overlapping_segments),
	   CHECK_CASE(bzimage_valid), CHECK_CASE(bzimage_hostile),
	   CHECK_CASE(load_kernel_and_initrd), CHECK_CASE(e820_small_and_large),
	   CHECK_CASE(boot_params_fields), CHECK_CASE(mptable_contents),
	   CHECK_CASE(guest_mem_bounds), CHECK_CASE(pvh_note), CHECK_CASE(pvh_note_hostile),
	   CHECK_CASE(pvh_start_info))

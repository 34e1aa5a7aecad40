/* Kernel and initrd loaders. The image is untrusted input: every offset, size and
 * address it contains is checked against the file and against guest memory. */
#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "boot.h"
#include "layout.h"
#include "bootfile.h"
#include "mem.h"
#include "log.h"

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}
static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const uint8_t *p)
{
	return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

/* [off, off+len) inside [0, size) without overflow. */
static int in_file(uint64_t off, uint64_t len, uint64_t size)
{
	return off <= size && len <= size - off;
}

int loader__parse_elf(const uint8_t *file, size_t len, uint64_t size, uint64_t mem_end,
		      struct kernel_info *ki, char *err, size_t errlen)
{
	memset(ki, 0, sizeof(*ki));
	ki->kind = KERNEL_ELF;
	if (len > size)
		len = (size_t)size;
	if (len < sizeof(Elf64_Ehdr) || memcmp(file, ELFMAG, SELFMAG) != 0)
		return error__set(err, errlen, "not an ELF file");
	Elf64_Ehdr eh;
	memcpy(&eh, file, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB)
		return error__set(err, errlen, "not a 64-bit little-endian ELF");
	if (eh.e_machine != EM_X86_64)
		return error__set(err, errlen, "ELF machine %u is not x86_64", eh.e_machine);
	if (eh.e_type != ET_EXEC)
		return error__set(err, errlen, "ELF is not an executable (type %u)", eh.e_type);
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 ||
	    !in_file(eh.e_phoff, (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr), size))
		return error__set(err, errlen, "ELF program headers are missing or truncated");
	if (!in_file(eh.e_phoff, (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr), len))
		return error__set(err, errlen,
				  "ELF program headers end past the file's first %zu bytes: not "
				  "supported",
				  len);

	uint64_t entry = eh.e_entry;
	int entry_found = 0;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, file + eh.e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_NOTE && ph.p_filesz > 0) {
			if (ki->nr_notes == LOADER_MAX_NOTES)
				return error__set(err, errlen, "ELF has more than %d note segments",
						  LOADER_MAX_NOTES);
			if (!in_file(ph.p_offset, ph.p_filesz, size))
				return error__set(err, errlen,
						  "ELF note segment %u is truncated (file is %llu "
						  "bytes)",
						  i, (unsigned long long)size);
			if (ph.p_filesz > LOADER_NOTES_MAX)
				return error__set(
				    err, errlen,
				    "ELF note segment %u is %llu bytes; at most %u are "
				    "supported",
				    i, (unsigned long long)ph.p_filesz, LOADER_NOTES_MAX);
			ki->notes[ki->nr_notes++] = (struct note_segment){ph.p_offset, ph.p_filesz,
									  ph.p_align == 8 ? 8 : 4};
			continue;
		}
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		if (ki->nr_segs == LOADER_MAX_SEGMENTS)
			return error__set(err, errlen, "ELF has more than %d loadable segments",
					  LOADER_MAX_SEGMENTS);
		if (!in_file(ph.p_offset, ph.p_filesz, size))
			return error__set(err, errlen,
					  "ELF segment %u is truncated (file is %llu bytes)", i,
					  (unsigned long long)size);
		if (ph.p_filesz > ph.p_memsz)
			return error__set(err, errlen,
					  "ELF segment %u: file size exceeds memory size", i);
		if (ph.p_paddr < X86_HIMEM_START)
			return error__set(
			    err, errlen,
			    "ELF segment %u at 0x%llx overlaps the boot area below 1 MiB", i,
			    (unsigned long long)ph.p_paddr);
		if (ph.p_paddr >= mem_end || ph.p_memsz > mem_end - ph.p_paddr)
			return error__set(
			    err, errlen,
			    "kernel does not fit in guest memory: segment %u needs up to 0x%llx, "
			    "low memory ends at 0x%llx",
			    i, (unsigned long long)(ph.p_paddr + ph.p_memsz),
			    (unsigned long long)mem_end);
		for (unsigned j = 0; j < ki->nr_segs; j++) {
			const struct load_segment *o = &ki->segs[j];
			if (ph.p_paddr < o->paddr + o->memsz && o->paddr < ph.p_paddr + ph.p_memsz)
				return error__set(err, errlen, "ELF segments %u and %u overlap", j,
						  i);
		}
		ki->segs[ki->nr_segs++] =
		    (struct load_segment){ph.p_offset, ph.p_filesz, ph.p_paddr, ph.p_memsz};
		if (ph.p_paddr + ph.p_memsz > ki->load_end)
			ki->load_end = ph.p_paddr + ph.p_memsz;
		/* vmlinux's e_entry is physical; other linkers give a virtual one. */
		if (!entry_found && eh.e_entry >= ph.p_paddr &&
		    eh.e_entry - ph.p_paddr < ph.p_filesz) {
			entry = eh.e_entry;
			entry_found = 1;
		} else if (!entry_found && eh.e_entry >= ph.p_vaddr &&
			   eh.e_entry - ph.p_vaddr < ph.p_filesz) {
			entry = ph.p_paddr + (eh.e_entry - ph.p_vaddr);
			entry_found = 1;
		}
	}
	if (ki->nr_segs == 0)
		return error__set(err, errlen, "ELF has no loadable segment");
	if (!entry_found)
		return error__set(err, errlen,
				  "ELF entry point 0x%llx is outside every loaded segment",
				  (unsigned long long)eh.e_entry);
	ki->entry = entry;
	ki->cmdline_max = UINT32_MAX; /* no header to say otherwise; ember's own limit applies */
	ki->initrd_addr_max = MEM_32BIT_GAP_START - 1;
	return 0;
}

/* A note segment is read whole into the loader's head buffer. */
_Static_assert(LOADER_NOTES_MAX <= BOOTFILE_HEAD_MAX, "a note segment fits the head buffer");

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

int loader__parse_notes(struct kernel_info *ki, const uint8_t *notes, size_t len, uint64_t align,
			char *err, size_t errlen)
{
	if (align != 4 && align != 8)
		align = 4;
	size_t off = 0;
	/* Fewer bytes than a note header left: the segment's padding. */
	while (len - off >= 12) {
		const size_t at = off;
		uint64_t namesz = rd32(notes + off), descsz = rd32(notes + off + 4);
		uint32_t type = rd32(notes + off + 8);
		off += 12;
		const uint64_t name_padded = align_up(namesz, align);
		if (name_padded > len - off)
			return error__set(err, errlen,
					  "ELF note at offset %zu overruns its segment", at);
		const uint8_t *name = notes + off;
		off += name_padded;
		if (descsz > len - off)
			return error__set(err, errlen,
					  "ELF note at offset %zu overruns its segment", at);
		const uint8_t *desc = notes + off;
		uint64_t padded = align_up(descsz, align);
		off += padded < len - off ? padded : len - off;
		if (namesz != 4 || memcmp(name, "Xen", 4) != 0 || type != XEN_ELFNOTE_PHYS32_ENTRY)
			continue;
		/* Linux writes the entry as a pointer (8 bytes on x86_64), others as .long. */
		if (descsz != 4 && descsz != 8)
			return error__set(err, errlen,
					  "PVH entry note has a %llu-byte value, not 4 or 8",
					  (unsigned long long)descsz);
		uint64_t entry = descsz == 4 ? rd32(desc) : rd64(desc);
		if (entry >> 32)
			return error__set(err, errlen,
					  "PVH entry 0x%llx is above 4 GiB: the entry is 32-bit",
					  (unsigned long long)entry);
		for (unsigned i = 0; i < ki->nr_segs; i++) {
			const struct load_segment *s = &ki->segs[i];
			if (entry >= s->paddr && entry - s->paddr < s->filesz) {
				ki->entry = entry;
				ki->pvh = true;
				return 0;
			}
		}
		return error__set(err, errlen,
				  "PVH entry 0x%llx is outside what the ELF loads from its file",
				  (unsigned long long)entry);
	}
	return 0;
}

#define XLF_KERNEL_64	 (1u << 0)
#define BZIMAGE_ENTRY_64 0x200u
#define LOADED_HIGH	 (1u << 0)

int loader__parse_bzimage(const uint8_t *file, size_t len, uint64_t size, uint64_t mem_end,
			  struct kernel_info *ki, char *err, size_t errlen)
{
	memset(ki, 0, sizeof(*ki));
	ki->kind = KERNEL_BZIMAGE;
	/* Every header field read below lies in the first 4 KiB, which a bzImage has. */
	if (len > size)
		len = (size_t)size;
	if (size < 0x1000 || len < 0x1000 || rd16(file + BP_BOOT_FLAG) != 0xaa55 ||
	    memcmp(file + BP_HEADER, "HdrS", 4) != 0)
		return error__set(err, errlen, "not a bzImage (no boot flag / HdrS setup header)");
	uint16_t version = rd16(file + BP_VERSION);
	if (version < 0x020c)
		return error__set(
		    err, errlen,
		    "bzImage boot protocol %u.%02u is too old; 2.12+ is needed for the 64-bit "
		    "entry",
		    version >> 8, version & 0xff);
	if (!(rd16(file + BP_XLOADFLAGS) & XLF_KERNEL_64))
		return error__set(err, errlen,
				  "bzImage has no 64-bit entry point (XLF_KERNEL_64 unset)");
	if (!file[BP_RELOCATABLE])
		return error__set(err, errlen, "bzImage is not relocatable");
	if (!(file[BP_LOADFLAGS] & LOADED_HIGH))
		return error__set(err, errlen,
				  "bzImage does not load high (zImage is not supported)");

	unsigned setup_sects = file[BP_SETUP_SECTS] ? file[BP_SETUP_SECTS] : 4;
	uint64_t pm_offset = (uint64_t)(setup_sects + 1) * 512;
	if (pm_offset >= size)
		return error__set(err, errlen,
				  "bzImage is truncated: no protected-mode code after %u setup "
				  "sectors",
				  setup_sects);
	uint64_t pm_size = size - pm_offset;
	/* The 64-bit entry (startup_64) is 0x200 bytes into the protected-mode code. */
	if (pm_size <= BZIMAGE_ENTRY_64)
		return error__set(
		    err, errlen,
		    "bzImage's protected-mode code (%llu bytes) ends before its 64-bit "
		    "entry at offset 0x%x",
		    (unsigned long long)pm_size, BZIMAGE_ENTRY_64);

	size_t hdr_end = 0x202 + file[0x201];
	size_t hdr_len = hdr_end - BP_SETUP_SECTS;
	if (hdr_len > sizeof(ki->setup_header))
		hdr_len = sizeof(ki->setup_header);
	memcpy(ki->setup_header, file + BP_SETUP_SECTS, hdr_len);
	ki->setup_header_len = hdr_len;
	ki->cmdline_max = rd32(file + BP_CMDLINE_SIZE);

	uint64_t init_size = rd32(file + BP_INIT_SIZE);
	uint64_t pref = rd64(file + BP_PREF_ADDRESS);
	uint64_t end = X86_HIMEM_START + pm_size;
	/* The decompressor runs at pref_address when loaded below it and needs init_size there. */
	if (pref > mem_end || init_size > mem_end - pref)
		return error__set(
		    err, errlen,
		    "kernel does not fit in guest memory: it needs 0x%llx bytes at 0x%llx, low "
		    "memory ends at 0x%llx",
		    (unsigned long long)init_size, (unsigned long long)pref,
		    (unsigned long long)mem_end);
	if (pref + init_size > end)
		end = pref + init_size;
	if (end > mem_end)
		return error__set(err, errlen,
				  "kernel does not fit in guest memory (needs 0x%llx bytes)",
				  (unsigned long long)end);
	ki->segs[0] = (struct load_segment){pm_offset, pm_size, X86_HIMEM_START, pm_size};
	ki->nr_segs = 1;
	ki->entry = X86_HIMEM_START + BZIMAGE_ENTRY_64;
	ki->load_end = end;
	ki->initrd_addr_max = rd32(file + BP_INITRD_MAX);
	return 0;
}

int loader__load_kernel(struct guest_mem *mem, const char *path, struct kernel_info *ki, char *err,
			size_t errlen)
{
	struct file_image img;
	uint8_t head[BOOTFILE_HEAD_MAX];
	size_t len;
	if (bootfile__open(path, "kernel image", &img, head, &len, err, errlen))
		return -1;
	uint64_t mem_end = guest_mem__low_end(mem);
	char why[200];
	int rc;
	if (len >= SELFMAG && memcmp(head, ELFMAG, SELFMAG) == 0)
		rc = loader__parse_elf(head, len, img.size, mem_end, ki, why, sizeof(why));
	else if (len > BP_HEADER + 4 && memcmp(head + BP_HEADER, "HdrS", 4) == 0)
		rc = loader__parse_bzimage(head, len, img.size, mem_end, ki, why, sizeof(why));
	else
		rc = error__set(why, sizeof(why),
				"not a kernel image (neither ELF vmlinux nor bzImage)");
	/* A kernel whose notes name a PVH entry is entered there, as Firecracker does; the
	 * first such note counts. Notes within the head are parsed where they lie; one past
	 * it (vmlinux's) is read into the head, which is parsed already. */
	bool head_intact = true;
	for (unsigned i = 0; rc == 0 && !ki->pvh && i < ki->nr_notes; i++) {
		const struct note_segment *n = &ki->notes[i];
		const uint8_t *notes = head;
		if (head_intact && n->file_offset + n->filesz <= len) {
			notes += n->file_offset;
		} else {
			head_intact = false;
			if (file__read_at(img.fd, head, (size_t)n->filesz, n->file_offset)) {
				rc = error__set(why, sizeof(why), "cannot read its notes: %s",
						file__error());
				break;
			}
		}
		rc = loader__parse_notes(ki, notes, (size_t)n->filesz, n->align, why, sizeof(why));
	}
	if (rc) {
		close(img.fd);
		return error__set(err, errlen, "kernel image '%s': %s", path, why);
	}
	/* Mapped segments first: their zeroed page tails must not clobber read ones. */
	for (int pass = 1; pass >= 0 && rc == 0; pass--)
		for (unsigned i = 0; i < ki->nr_segs && rc == 0; i++) {
			const struct load_segment *s = &ki->segs[i];
			if (s->filesz && bootfile__maps(s->file_offset, s->paddr) == pass)
				rc =
				    bootfile__place(mem, &img, s->file_offset, s->filesz, s->paddr);
		}
	if (rc)
		rc = error__set(err, errlen, "kernel image '%s': loading failed: %s", path,
				strerror(errno));
	close(img.fd);
	return rc;
}

int loader__load_initrd(struct guest_mem *mem, const char *path, const struct kernel_info *ki,
			uint64_t *addr, uint64_t *size, char *err, size_t errlen)
{
	uint64_t top = guest_mem__low_end(mem);
	if (ki->initrd_addr_max && ki->initrd_addr_max < top - 1)
		top = ki->initrd_addr_max + 1;
	return bootfile__load_initrd(mem, path, ki->load_end, top, "", addr, size, err, errlen);
}

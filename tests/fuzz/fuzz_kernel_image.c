/* libFuzzer over the x86 kernel image parsers (vmm/arch/x86_64/loader.c), given what
 * the loader gives them: the file's first BOOTFILE_HEAD_MAX bytes and its size. The
 * first input byte picks the parser (even: ELF, odd: bzImage); the rest is the file.
 * Whatever the bytes, a parser either refuses them or describes segments that lie
 * inside the file and inside guest memory above 1 MiB, apart from each other, with the
 * entry point inside what is loaded. An ELF's note segments, which the loader reads
 * whole from the file, then go through loader__parse_notes: a PVH entry it takes lies
 * below 4 GiB inside what the file gives a segment. Anything else, or a sanitizer
 * report, is a finding. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86_64/boot.h"
#include "arch/x86_64/layout.h"
#include "bootfile.h"

#define MEM_END (64ull << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const int bzimage = data[0] & 1;
	const uint8_t *file = data + 1;
	size_t fsize = size - 1;
	size_t len = fsize < BOOTFILE_HEAD_MAX ? fsize : BOOTFILE_HEAD_MAX;
	struct kernel_info ki;
	char err[200];
	int rc = bzimage ? loader__parse_bzimage(file, len, fsize, MEM_END, &ki, err, sizeof(err))
			 : loader__parse_elf(file, len, fsize, MEM_END, &ki, err, sizeof(err));
	if (rc)
		return 0;
	if (ki.nr_segs == 0 || ki.nr_segs > LOADER_MAX_SEGMENTS || ki.load_end > MEM_END ||
	    ki.setup_header_len > sizeof(ki.setup_header) || ki.nr_notes > LOADER_MAX_NOTES ||
	    (bzimage && ki.nr_notes))
		abort();
	for (unsigned i = 0; i < ki.nr_notes && !ki.pvh; i++) {
		const struct note_segment *n = &ki.notes[i];
		if (n->file_offset > fsize || n->filesz > fsize - n->file_offset ||
		    n->filesz > LOADER_NOTES_MAX || (n->align != 4 && n->align != 8))
			abort();
		/* A copy of exactly the segment's bytes, so reads past it are reported. */
		uint8_t *copy = malloc(n->filesz ? n->filesz : 1);
		if (!copy)
			return 0;
		memcpy(copy, file + n->file_offset, n->filesz);
		int nrc = loader__parse_notes(&ki, copy, n->filesz, n->align, err, sizeof(err));
		free(copy);
		if (nrc)
			return 0;
	}
	if (ki.pvh) {
		int from_file = 0;
		for (unsigned i = 0; i < ki.nr_segs; i++)
			from_file |= ki.entry >= ki.segs[i].paddr &&
				     ki.entry - ki.segs[i].paddr < ki.segs[i].filesz;
		if (ki.entry >> 32 || !from_file)
			abort();
	}
	int entry_in = 0;
	for (unsigned i = 0; i < ki.nr_segs; i++) {
		const struct load_segment *s = &ki.segs[i];
		if (s->file_offset > fsize || s->filesz > fsize - s->file_offset ||
		    s->filesz > s->memsz || s->paddr < X86_HIMEM_START || s->paddr > MEM_END ||
		    s->memsz > MEM_END - s->paddr || s->paddr + s->memsz > ki.load_end)
			abort();
		for (unsigned j = 0; j < i; j++)
			if (s->paddr < ki.segs[j].paddr + ki.segs[j].memsz &&
			    ki.segs[j].paddr < s->paddr + s->memsz)
				abort();
		entry_in |= ki.entry >= s->paddr && ki.entry - s->paddr < s->memsz;
	}
	if (!entry_in)
		abort();
	return 0;
}

/* Prints the FNV-1a 32-bit hash of a file: the checksum the probe guest verifies. */
#include <stdint.h>
#include <stdio.h>

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: fnv1a FILE\n");
		return 2;
	}
	FILE *f = fopen(argv[1], "rb");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	uint32_t h = 2166136261u;
	int c;
	while ((c = getc(f)) != EOF)
		h = (h ^ (uint32_t)c) * 16777619u;
	fclose(f);
	printf("%08x\n", h);
	return 0;
}

/* The MMDS stack on a real tap, with no VM: frames the host kernel sends into the
 * tap are the "guest's", the stack's replies are written back. Lets the host's own
 * Linux TCP/IP and ARP (and wget, curl, nc) talk to ember's stack in a network
 * namespace (tests/api/t_api_mmds_tap.sh).
 *   mmds_tap TAP V1|V2 METADATA-JSON SECONDS */
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "virtio/mmds_int.h"

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: mmds_tap TAP V1|V2 JSON SECONDS\n");
		return 2;
	}
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", argv[1]);
	if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) < 0) {
		perror("mmds_tap: tap");
		return 1;
	}
	struct mmds_store *s = mmds_store__create(MMDS_DEFAULT_SIZE_LIMIT);
	char err[200];
	if (!s || mmds_store__put(s, argv[3], strlen(argv[3]), err, sizeof(err))) {
		fprintf(stderr, "mmds_tap: bad metadata: %s\n", err);
		return 1;
	}
	mmds_store__set_options(s, strcmp(argv[2], "V2") ? MMDS_V1 : MMDS_V2, false);
	struct mmds_stack *st = mmds_stack__create(s, MMDS_DEFAULT_IPV4);
	static uint8_t buf[65536 + 64];
	time_t end = time(NULL) + atoi(argv[4]);
	unsigned long in = 0, taken = 0, out = 0;
	while (time(NULL) < end) {
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, 200) <= 0)
			continue;
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		in++;
		taken += mmds_stack__input(st, buf, (size_t)n, false);
		size_t m;
		while ((m = mmds_stack__output(st, buf, sizeof(buf))) > 0) {
			if (write(fd, buf, m) != (ssize_t)m)
				perror("mmds_tap: write");
			out++;
		}
	}
	fprintf(stderr, "mmds_tap: %lu frames in, %lu for MMDS, %lu out\n", in, taken, out);
	mmds_stack__destroy(st);
	mmds_store__destroy(s);
	return 0;
}

/* ember-uffd-ondemand SOCKET MEMFILE: serves each missing page of one restored VM
 * from the snapshot's memory file when the guest (or the VMM) first touches it.
 * Firecracker's on-demand example handler, for ember and Firecracker alike; exits
 * when the VMM is gone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handler.h"

int main(int argc, char **argv)
{
	if (argc != 3 || argv[1][0] == '-') {
		fprintf(stderr, "usage: %s SOCKET MEMFILE\n", argv[0]);
		return 2;
	}
	struct pf h;
	pf__listen(&h, "ember-uffd-ondemand", argv[1], argv[2]);
	if (pf__accept(&h, 5000) || pf__serve(&h, NULL, NULL))
		return 1;
	printf("ember-uffd-ondemand: the VM is gone; %llu faults served, %llu removed ranges\n",
	       (unsigned long long)h.faults, (unsigned long long)h.removed);
	return 0;
}

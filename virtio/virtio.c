#include "virtio.h"

#include <stdio.h>

#include "config.h"

int virtio__setup_all(struct vm *vm, const struct vm_config *cfg, char *err, size_t errlen)
{
	(void)vm;
	if (cfg->nr_drives || cfg->nr_nets || cfg->vsock.present || cfg->entropy) {
		snprintf(err, errlen, "virtio devices are not available in this build yet");
		return -1;
	}
	return 0;
}

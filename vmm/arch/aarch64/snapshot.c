/* Snapshots on aarch64: not built yet. The vCPU state would be the KVM_GET_REG_LIST
 * walk and the vGIC's; until then create and load are refused by name, before anything
 * is written or changed. */
#include "snapshot.h"

int snapshot__create(struct vm *vm, const struct snapshot_create_params *p, const char *config_json,
		     const char *ember_version, struct error *e)
{
	return error__fail(e, EXIT_USAGE, "snapshot create: not supported on aarch64 yet");
}

int snapshot__restore(struct vm *vm, const struct vm_config *cfg, struct snapshot_load *l,
		      struct event_loop *loop, uint64_t start_us, bool warm, struct error *e)
{
	return error__fail(e, EXIT_USAGE, "snapshot load: not supported on aarch64 yet");
}

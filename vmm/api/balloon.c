/* GET and PATCH of /balloon and /balloon/statistics. Before start a PATCH changes
 * the configuration (through the same checks as a PUT); after start it goes to the
 * controller, which asks the running device. */
#include "balloon.h"

#include "bodies.h"
#include "vmm.h"

int api__balloon_get(struct api *a, bool stats, struct json_out *out, struct error *e)
{
	const struct vmm_config *c = vmm__config(a->vmm);
	if (stats)
		return vmm__balloon_stats(a->vmm, out, e) ? 400 : 200;
	if (!c->vm.balloon.present) {
		error__fail(e, EXIT_USAGE, "No balloon device found.");
		return 400;
	}
	body__encode(&bodies[BODY_BALLOON], c, out);
	return 200;
}

int api__balloon_patch(struct api *a, bool stats, const struct json_doc *d, struct error *e)
{
	const struct field *t = stats ? balloon_stats_patch_fields : balloon_patch_fields;
	const char *what = stats ? "balloon statistics" : "balloon";
	struct vmm_config *next = &a->scratch;
	config__assign(next, vmm__config(a->vmm), sizeof(*next));
	if (fields__decode(t, 1, FIELDS_PATCH, what, d, 0, next, e))
		return 400;
	if (!next->vm.balloon.present) {
		error__fail(e, EXIT_USAGE, "No balloon device found.");
		return 400;
	}
	const struct balloon_config *bc = &next->vm.balloon;
	int rc;
	if (vmm__state(a->vmm) == VMM_NOT_STARTED)
		rc = vmm__configure(a->vmm, next, e);
	else if (stats)
		rc = vmm__balloon_interval(a->vmm, bc->stats_polling_interval_s, e);
	else
		rc = vmm__balloon_target(a->vmm, bc->amount_mib, e);
	return rc ? 400 : 204;
}

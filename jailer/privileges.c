/* Step 12: the process that execs ember (and the waiting parent of a pid namespace)
 * gives up its ids, groups and every capability, for good. */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "jailer/jailer.h"

/* Empties the capability bounding set: no later exec can gain a capability, not even
 * as uid 0. Needs CAP_SETPCAP, so it runs before setuid(). */
static void drop_bounding_set(void)
{
	for (unsigned long cap = 0; cap < 64; cap++) {
		/* EINVAL past the kernel's last capability. */
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) < 0)
			break;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			jail__step_fail(STEP_PRIVILEGES, NULL, errno, "PR_CAPBSET_DROP %lu", cap);
	}
}

static bool capabilities_gone(void)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];
	if (syscall(SYS_capget, &h, d) < 0)
		return false;
	for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
		if (d[i].effective || d[i].permitted || d[i].inheritable)
			return false;
	for (unsigned long cap = 0; cap < 64; cap++) {
		int r = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
		if (r < 0)
			break;
		if (r || prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0) != 0)
			return false;
	}
	return prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1;
}

void jail__drop_privileges(const struct jail *j)
{
	if (setgroups(0, NULL) < 0)
		jail__step_fail(STEP_PRIVILEGES, NULL, errno, "setgroups");
	if (setgid(j->gid) < 0)
		jail__step_fail(STEP_PRIVILEGES, NULL, errno, "setgid(%u)", (unsigned)j->gid);
	drop_bounding_set();
	/* uid 0 (--allow-root) keeps no capability across exec either: root's special
	 * case is switched off for good. */
	if (j->uid == 0 &&
	    prctl(PR_SET_SECUREBITS,
		  SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE |
		      SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED,
		  0, 0, 0) < 0)
		jail__step_fail(STEP_PRIVILEGES, NULL, errno, "PR_SET_SECUREBITS");
	if (setuid(j->uid) < 0)
		jail__step_fail(STEP_PRIVILEGES, NULL, errno, "setuid(%u)", (unsigned)j->uid);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		jail__step_fail(STEP_PRIVILEGES, NULL, errno, "clearing ambient capabilities");
	/* For uid 0 setuid() kept them: drop every capability outright. */
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct none[_LINUX_CAPABILITY_U32S_3] = {{0}};
	if (syscall(SYS_capset, &h, none) < 0)
		jail__step_fail(STEP_PRIVILEGES, NULL, errno, "capset");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		jail__step_fail(STEP_PRIVILEGES, NULL, errno, "PR_SET_NO_NEW_PRIVS");
	/* Check that it took, all of it: real, effective and saved ids, no groups, no
	 * capability in any set, no_new_privs. */
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0 || ru != j->uid ||
	    eu != j->uid || su != j->uid || rg != j->gid || eg != j->gid || sg != j->gid ||
	    getgroups(0, NULL) != 0)
		jail__step_fail(STEP_PRIVILEGES, NULL, 0, "the ids did not change to %u:%u",
				(unsigned)j->uid, (unsigned)j->gid);
	if (!capabilities_gone())
		jail__step_fail(STEP_PRIVILEGES, NULL, 0, "capabilities are left");
	if (j->uid != 0 && (setuid(0) == 0 || seteuid(0) == 0))
		jail__step_fail(STEP_PRIVILEGES, NULL, 0, "root could be regained");
}

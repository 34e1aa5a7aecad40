# Where KVM work runs: the one place that decides it, for every test tier, `make demo`
# and bench. Sourced by bash and by busybox sh (inside the nested test host), so POSIX sh.
#
#   kvmhost_kind            prints hardware | software | none
#                           hardware: a usable /dev/kvm on a CPU with vmx/svm
#                           software: a usable /dev/kvm without them (kvm_pvm: guest
#                                     ring 0 emulated; the probe runs, Linux does not)
#                           none:     no usable /dev/kvm
#   kvmhost_where NEED      NEED = probe (any usable KVM) | linux (hardware KVM);
#                           prints direct | nested, or prints the reason and returns 1.
#                           EMBER_KVM_WHERE=direct|nested forces the answer.
#   kvmhost_run WHERE TIMEOUT PAYLOAD SCRIPT [ARGS...]
#                           runs PAYLOAD/SCRIPT with cwd PAYLOAD, here or inside the
#                           nested host; the only line that differs is the launcher.
#                           Returns the script's status; nested adds 97 (the host did
#                           not come up) and 98 (timed out inside it).
#   kvmhost_status RC LABEL prints the FAIL line a launcher status means (124: the
#                           direct bound ran out; 97, 98: as above), if any.
#
# KVMHOST_DEV, KVMHOST_CPUINFO and KVMHOST_NESTED_CHECK replace /dev/kvm, /proc/cpuinfo
# and tests/nested/available.sh, so tests/lib/t_kvmhost.sh can prove every branch on any
# machine.

kvmhost_root=${kvmhost_root:-$(cd "$(dirname "${BASH_SOURCE:-$0}")/../.." 2>/dev/null && pwd)}

kvmhost_kind() {
	_dev=${KVMHOST_DEV:-/dev/kvm}
	if [ ! -c "$_dev" ] || [ ! -r "$_dev" ] || [ ! -w "$_dev" ]; then
		echo none
	elif grep -qwE 'vmx|svm' "${KVMHOST_CPUINFO:-/proc/cpuinfo}" 2>/dev/null; then
		echo hardware
	else
		echo software
	fi
}

kvmhost_nested_available() {
	if [ -n "${KVMHOST_NESTED_CHECK:-}" ]; then
		eval "$KVMHOST_NESTED_CHECK"
	else
		bash "$kvmhost_root/tests/nested/available.sh"
	fi
}

kvmhost_where() {
	case ${EMBER_KVM_WHERE:-} in
	direct | nested)
		echo "$EMBER_KVM_WHERE"
		return 0
		;;
	"") ;;
	*)
		echo "EMBER_KVM_WHERE must be direct or nested, not '$EMBER_KVM_WHERE'"
		return 1
		;;
	esac
	_kind=$(kvmhost_kind)
	case $1:$_kind in
	probe:hardware | probe:software | linux:hardware)
		echo direct
		return 0
		;;
	probe:none | linux:none | linux:software) ;;
	*)
		echo "kvmhost_where: NEED is probe or linux, not '$1'"
		return 1
		;;
	esac
	if _why=$(kvmhost_nested_available 2>&1); then
		echo nested
		return 0
	fi
	case $_kind in
	none) echo "no usable /dev/kvm here, and the nested test host cannot run: $_why" ;;
	*) echo "this /dev/kvm is not hardware virtualization (a Linux guest cannot boot on it), and the nested test host cannot run: $_why" ;;
	esac
	return 1
}

kvmhost_run() {
	_where=$1 _timeout=$2 _payload=$3 _script=$4
	shift 4
	if [ "$_where" = direct ]; then
		(cd "$_payload" && timeout "$_timeout" sh "./$_script" "$@")
	else
		bash "$kvmhost_root/tests/nested/run.sh" --timeout "$_timeout" "$_payload" "$_script" "$@"
	fi
}

kvmhost_status() {
	case $1 in
	124) echo "FAIL $2: timed out (the launcher's bound)" ;;
	97) echo "FAIL $2: nested host did not come up (not an ember failure; see build/nested/logs/)" ;;
	98) echo "FAIL $2: timed out inside the nested host (see build/nested/logs/)" ;;
	esac
}

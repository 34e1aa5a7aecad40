# What bench/host.sh and bench/inner.sh both print about the machine they measure on
# (sourced; POSIX sh, busybox): the BENCH-NOTE / BENCH-FACT line makers and the facts
# about the CPU and its KVM that bench/report.py and bench/hostreport.py read.
note() { echo "BENCH-NOTE $*"; }
fact() { echo "BENCH-FACT $*"; }
# machine_facts: cpu_model, kernel, kvm_virt (vmx, svm or none), kvm_modules (the KVM
# modules loaded). Leaves the CPU's flags line in cpu_flags.
machine_facts() {
	fact cpu_model "$(sed -n 's/^model name[^:]*: *//p' /proc/cpuinfo | head -1)"
	fact kernel "$(uname -r)"
	cpu_flags=$(grep -m1 '^flags' /proc/cpuinfo)
	_virt=none
	case " $cpu_flags " in *" vmx "*) _virt=vmx ;; *" svm "*) _virt=svm ;; esac
	_mods=""
	for _m in kvm_intel kvm_amd kvm_pvm; do [ ! -d /sys/module/$_m ] || _mods="$_mods $_m"; done
	fact kvm_virt "$_virt"
	fact kvm_modules "${_mods# }"
}

#!/usr/bin/env python3
"""Turns the BENCH-* lines of bench/inner.sh into results.json, latency.png and a table.

Runs on the build host (python3 and gnuplot are Debian packages from scripts/deps.sh).
With --smoke it also checks that every part of the harness produced a usable result
and exits 1 with a one-line reason otherwise.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree for reportlib
import reportlib  # noqa: E402
from reportlib import fmt_ms, fmt_stat, stats

# Firecracker's published figures: cited, never measured here.
FIRECRACKER = {
    "init_ms": "<= 125 ms from InstanceStart to the guest's /sbin/init (spec)",
    "overhead_mib": "<= 5 MiB per microVM (spec); 2.5 MiB measured (NSDI'20)",
    "rate": "5 microVMs per core per second (spec)",
    "source": "Firecracker SPECIFICATION.md and Agache et al., NSDI'20",
}

# (key in results, test, vmm, guest, field, label)
LATENCY = [
    ("api_sock_ready", "api", "ember", None, "sock_ready_us", "exec -> API socket ready"),
    ("api_put", "api", "ember", None, "put_us",
     "pre-boot PUT answered (slower of machine-config, boot-source)"),
    ("api_start_to_entry", "api", "ember", None, "start_to_entry_us",
     "InstanceStart -> first guest instruction"),
    ("api_boot_time", "api", "ember", None, "boot_since_start_self_us",
     "InstanceStart -> guest boot timer (ember's clock)"),
    ("probe_exec_to_main", "boot", "ember", "probe", "exec_to_main_us", "exec -> main() (probe runs)"),
    ("probe_first_kvm_run", "boot", "ember", "probe", "first_kvm_run_us", "exec -> first KVM_RUN (probe)"),
    ("probe_kernel_entry", "boot", "ember", "probe", "kernel_entry_us", "exec -> first guest instruction (probe)"),
    ("probe_boot_time", "boot", "ember", "probe", "boot_time_us", "exec -> guest boot timer (probe)"),
    ("probe_exit", "boot", "ember", "probe", "exit_us", "exec -> guest reboot -> exit (probe)"),
    ("linux_first_kvm_run", "boot", "ember", "linux", "first_kvm_run_us", "exec -> first KVM_RUN (Linux)"),
    ("linux_first_kvm_run_self", "boot", "ember", "linux", "first_kvm_run_self_us",
     "first KVM_RUN, ember's own clock (Linux)"),
    ("linux_kernel_entry", "boot", "ember", "linux", "kernel_entry_us", "exec -> first guest instruction (Linux)"),
    ("linux_boot_time", "boot", "ember", "linux", "boot_time_us", "exec -> guest boot timer (Linux /init)"),
    ("linux_first_output", "boot", "*", "linux", "first_output_us", "exec -> first console byte (Linux)"),
    ("linux_exit", "boot", "*", "linux", "exit_us", "exec -> guest reboot -> exit (Linux)"),
]


def ok(rec):
    if rec["test"] == "mem":  # benchtool stops these VMs itself after reading smaps
        return rec["r"].get("overhead_rss_kb") is not None
    return rec["r"].get("rc") == 0 and not rec["r"].get("timed_out")


def seccomp_counts(lines):
    out = {}
    for l in lines:
        m = re.match(r"^(\w+)\s+(\d+) system calls \(Firecracker: (\d+)\)", l)
        if m:
            out[m.group(1)] = {"ember": int(m.group(2)), "firecracker": int(m.group(3))}
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--where", required=True)
    ap.add_argument("--started", default="")
    ap.add_argument("--host-cpu", default="")
    ap.add_argument("--host-kernel", default="")
    ap.add_argument("--host-cpus", default="")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--readme")
    a = ap.parse_args()

    facts, recs, notes, lists = reportlib.parse(a.raw, (), fact_lists=("seccomp",))
    seccomp_lines = lists["seccomp"]
    nested = a.where == "nested"
    if nested:
        flavour = ("nested-TCG: QEMU TCG on the build host (no hardware virtualization) emulates "
                   "AMD SVM for an L1 Linux (%s, kvm-amd nested=%s); ember and QEMU run in L1"
                   % (facts.get("kernel", "?"), facts.get("kvm_amd_nested", "?")))
        label = "nested-TCG"
    else:
        hv = facts.get("kvm_under_hypervisor") == "yes"
        flavour = "hardware %s%s" % (facts.get("kvm_virt", "?"),
                                     " (this host is itself a VM: nested hardware virtualization)" if hv else "")
        label = "nested-hardware" if hv else "hardware"
    machine = {
        "label": label,
        "kvm_flavour": flavour,
        "where": a.where,
        "host_cpu": a.host_cpu, "host_kernel": a.host_kernel, "host_cpus": a.host_cpus,
        "kvm_host_cpu": facts.get("cpu_model"), "kvm_host_kernel": facts.get("kernel"),
        "kvm_host_cpus": facts.get("cpus"), "kvm_host_mem_kb": facts.get("mem_kb"),
        "kvm_modules": facts.get("kvm_modules"),
        "clocksource": facts.get("clocksource"), "clock": facts.get("clock"),
    }
    if facts.get("clocksource", "").endswith("jiffies"):
        notes.append("the KVM host's clocksource is %s: ember's own log times (first KVM_RUN, "
                     "kernel entry, boot time) step in jiffies; benchtool's times use %s"
                     % (facts["clocksource"], facts.get("clock")))

    # --- latency ---------------------------------------------------------------------
    latency = {}
    dists = []  # (label, values in us) for the plot
    for key, test, vmm, guest, field, text in LATENCY:
        vmms = ["ember", "qemu"] if vmm == "*" else [vmm]
        for v in vmms:
            sel = [r for r in recs if r["test"] == test and r["vmm"] == v
                   and (guest is None or r["guest"] == guest) and ok(r)]
            vals = [r["r"].get(field) for r in sel]
            s = stats(vals)
            if s:
                latency["%s/%s" % (key, v)] = dict(s, metric=text, vmm=v, unit="us")
                dists.append(("%s: %s" % (v, text), [x for x in vals if x is not None]))
    failed_runs = [r for r in recs if r["test"] in ("boot", "api", "mem") and not ok(r)]

    # --- memory ----------------------------------------------------------------------
    memory = []
    for r in recs:
        if r["test"] != "mem":
            continue
        d = r["r"]
        memory.append({
            "vmm": r["vmm"], "guest": r["guest"], "mem_mib": r.get("mem_mib"),
            "overhead_rss_kb": d.get("overhead_rss_kb"), "overhead_pss_kb": d.get("overhead_pss_kb"),
            "rss_kb": d.get("rss_kb"), "pss_kb": d.get("pss_kb"),
            "guest_rss_kb": d.get("guest_rss_kb"), "guest_match": d.get("guest_match"),
            "idle_after_ms": 2000, "measured": d.get("overhead_rss_kb") is not None,
        })

    # --- creation rate ------------------------------------------------------------------
    rate = []
    for r in recs:
        if r["test"] == "rate":
            d = dict(r["r"])
            d.update(vmm=r["vmm"], guest=r["guest"], jailer=r.get("jailer", False))
            rate.append(d)

    # --- sizes and system calls ----------------------------------------------------------
    def num(k):
        return int(facts[k]) if facts.get(k, "").isdigit() else None
    binary = {"ember_bytes": num("ember_bytes"), "ember_jailer_bytes": num("jailer_bytes"),
              "qemu_bytes": num("qemu_bytes"), "qemu_libs_bytes": num("qemu_libs_bytes"),
              "qemu_libs_count": num("qemu_libs_count"), "qemu_version": facts.get("qemu_version")}
    sc = seccomp_counts(seccomp_lines)

    date = reportlib.utc_now()
    results = {
        "date": date, "started": a.started, "smoke": a.smoke, "machine": machine,
        "latency": latency, "memory": memory, "rate": rate, "binary": binary,
        "seccomp": {"counts": sc, "summary": seccomp_lines,
                    "qemu": "not comparable: QEMU's -sandbox is a deny-list, not an allow-list"},
        "firecracker_reference": dict(FIRECRACKER, note="cited, not measured here"),
        "notes": notes, "runs": recs,
    }

    # --- table ---------------------------------------------------------------------------
    def lat(key, v):
        return latency.get("%s/%s" % (key, v))

    def ratio(x, y):
        if x and y and y.get("median"):
            return "%.2f" % (x["median"] / y["median"])
        return "-"

    rows = []
    for key, test, vmm, guest, field, text in LATENCY:
        e, q = lat(key, "ember"), lat(key, "qemu")
        if not e and not q:
            continue
        ref = ""
        if key in ("linux_boot_time", "api_boot_time"):
            ref = FIRECRACKER["init_ms"]
        rows.append((text + " [ms, min / median / p99]", fmt_stat(e),
                     fmt_stat(q) if vmm == "*" else "n/a", ratio(e, q), ref))
    for size in sorted({m["mem_mib"] for m in memory if m["mem_mib"]}):
        e = next((m for m in memory if m["vmm"] == "ember" and m["mem_mib"] == size and m["measured"]), None)
        q = next((m for m in memory if m["vmm"] == "qemu" and m["mem_mib"] == size and m["measured"]), None)

        def mib(m, k):
            return "%.2f" % (m[k] / 1024.0) if m and m.get(k) is not None else "-"

        def mr(k):
            return "%.2f" % (e[k] / q[k]) if e and q and q.get(k) else "-"
        rows.append(("VMM overhead RSS, %d MiB guest [MiB]" % size, mib(e, "overhead_rss_kb"),
                     mib(q, "overhead_rss_kb"), mr("overhead_rss_kb"), FIRECRACKER["overhead_mib"]))
        rows.append(("VMM overhead PSS, %d MiB guest [MiB]" % size, mib(e, "overhead_pss_kb"),
                     mib(q, "overhead_pss_kb"), mr("overhead_pss_kb"), ""))
    for g, p in sorted({(d["guest"], d["parallel"]) for d in rate}, key=lambda x: (x[0] != "probe", x[1])):
        def find(vmm, jail):
            return next((d for d in rate if d["parallel"] == p and d["guest"] == g and d["vmm"] == vmm
                         and d["jailer"] == jail), None)
        e, ej, q = find("ember", False), find("ember", True), find("qemu", False)

        def rs(d):
            if not d:
                return "-"
            return "%.2f (%d/%d ok)" % (d["per_sec"], d["ok"], d["count"])
        rows.append(("creation rate, %d in parallel, %s guest [VMs/s]" % (p, g), rs(e),
                     rs(q) if q else ("n/a" if g == "probe" else "-"),
                     "%.2f" % (e["per_sec"] / q["per_sec"]) if e and q and q["per_sec"] else "-",
                     FIRECRACKER["rate"] if p == 1 and g == "probe" else ""))
        if ej:
            rows.append(("creation rate, %d in parallel, %s guest, with ember-jailer [VMs/s]" % (p, g), rs(ej),
                         "n/a", "-", ""))
    if binary["ember_bytes"]:
        qb = "-"
        if binary["qemu_bytes"]:
            qb = "%.2f" % (binary["qemu_bytes"] / 1048576.0)
            if binary["qemu_libs_bytes"]:
                qb += " + %.2f in %d shared libs" % (binary["qemu_libs_bytes"] / 1048576.0, binary["qemu_libs_count"])
        rows.append(("binary size [MiB] (ember: static)", "%.2f" % (binary["ember_bytes"] / 1048576.0), qb,
                     "%.3f" % (binary["ember_bytes"] / binary["qemu_bytes"]) if binary["qemu_bytes"] else "-", ""))
    if binary["ember_jailer_bytes"]:
        rows.append(("ember-jailer size [MiB]", "%.2f" % (binary["ember_jailer_bytes"] / 1048576.0), "n/a", "-", ""))
    for t, c in sc.items():
        rows.append(("allowed system calls, %s thread" % t, str(c["ember"]), "deny-list (n/a)", "-",
                     "%d (Firecracker's allow-list)" % c["firecracker"]))

    head = ("metric", "ember", "QEMU microvm", "ember/QEMU", "Firecracker (cited, not measured here)")
    table = reportlib.md_table(head, rows)
    cpu = facts.get("cpu_model") or a.host_cpu
    caption = ("%s; %s; CPU %s (%s CPUs in the KVM host), KVM host kernel %s; %s"
               % (date, label, cpu, facts.get("cpus", "?"), facts.get("kernel", "?"),
                  "1-iteration smoke run" if a.smoke else "%s runs per latency row" %
                  max([s["n"] for s in latency.values()] or [0])))
    text = "\n".join(["Benchmarks: " + caption, "KVM: " + flavour, ""] + table)
    if nested:
        text += ("\n\nAll numbers above are nested-TCG (guest and L1 run under QEMU's TCG "
                 "emulation), not hardware; only the ember/QEMU ratios carry over.")
    results["table"] = table
    results["caption"] = caption

    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    with open(os.path.join(a.out, "table.txt"), "w") as f:
        f.write(text + "\n")

    # --- plot ------------------------------------------------------------------------------
    png = os.path.join(a.out, "latency.png")
    if dists and shutil.which("gnuplot"):
        dat = os.path.join(a.out, "latency.dat")
        with open(dat, "w") as f:
            for i, (name, vals) in enumerate(dists):
                for j, v in enumerate(sorted(vals)):
                    x = i + (j - (len(vals) - 1) / 2.0) * min(0.3 / max(len(vals), 1), 0.05)
                    f.write("%f %f\n" % (x, v / 1000.0))
        med = os.path.join(a.out, "latency-median.dat")
        with open(med, "w") as f:
            for i, (name, vals) in enumerate(dists):
                f.write("%d %f\n" % (i, stats(vals)["median"] / 1000.0))
        xt = ", ".join('"%s" %d' % (n.replace('"', "'"), i) for i, (n, _) in enumerate(dists))
        gp = """set terminal pngcairo size 1400,%d noenhanced font ",10"
set output '%s'
set title "ember vs QEMU microvm: latency distributions (%s, %s)"
set logscale x
set xlabel "milliseconds (log scale)"
set ytics (%s)
set yrange [-1:%d]
set grid x
set key bottom right
plot '%s' using 2:1 with points pt 7 ps 0.7 title "runs", '%s' using 2:1 with points pt 3 ps 3 lc rgb "black" title "median"
""" % (200 + 34 * len(dists), png, label, date, xt, len(dists), dat, med)
        try:
            p = subprocess.run(["gnuplot"], input=gp.encode(), capture_output=True, timeout=60)
            if p.returncode != 0:
                notes.append("gnuplot failed: " + p.stderr.decode(errors="replace")[-300:])
        except (OSError, subprocess.SubprocessError) as e:
            notes.append("gnuplot failed: %s" % e)
    elif not shutil.which("gnuplot"):
        notes.append("gnuplot missing (package gnuplot-nox): no latency.png")

    print(text)
    for n in notes:
        print("note: " + n)
    print("results: %s, %s" % (os.path.join(a.out, "results.json"),
                               png if os.path.exists(png) else "(no plot)"))

    if a.readme:
        reportlib.update_readme(a.readme, "bench", text)

    if a.smoke:
        why = smoke_check(recs, facts, notes, png)
        if why:
            print(why, file=sys.stderr)
            return 1
    return 0


def smoke_check(recs, facts, notes, png):
    fatal = [n for n in notes if n.startswith("FATAL")]
    if fatal:
        return fatal[0]
    if not recs:
        return "no results at all"
    bad = [r for r in recs if r["test"] in ("boot", "api") and not ok(r)]
    if bad:
        r = bad[0]
        return "%s run of %s/%s ended with rc %s%s" % (r["test"], r["vmm"], r["guest"], r["r"].get("rc"),
                                                       " (timed out)" if r["r"].get("timed_out") else "")
    if not any(r["test"] == "boot" and r["vmm"] == "ember" for r in recs):
        return "no ember boot was measured (no probe.elf and no Linux guest?)"
    for r in recs:
        if r["test"] == "boot" and r["vmm"] == "ember" and r["r"].get("boot_time_self_us") is None:
            return "ember booted %s but logged no 'guest boot time'" % r["guest"]
        if r["test"] == "mem" and r["r"].get("overhead_rss_kb") is None:
            return "%s memory overhead not measured (guest never reached idle)" % r["vmm"]
        if r["test"] == "mem" and r["r"].get("guest_match") == "none":
            return "%s: guest memory mapping not found in smaps" % r["vmm"]
        if r["test"] == "rate" and r["r"].get("ok", 0) < 1:
            return "creation-rate run of %s had no successful VM" % r["vmm"]
    if shutil.which("gnuplot") and not os.path.exists(png):
        return "latency.png was not written"
    return None


if __name__ == "__main__":
    sys.exit(main())

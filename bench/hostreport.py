#!/usr/bin/env python3
"""Turns bench/host.sh's BENCH-* lines into host.json, host-table.txt and the goal lines.

  hostreport.py --raw FILE --out DIR [--smoke] [--readme README.md]

Every VMM ran the same tiny guest under one launcher, interleaved, so the ratios between
columns are the point. Goals (issue 16) print as `goal PASS: ...` / `goal MISS: ...`:
they are findings, not test results. With --smoke, exits 1 with a one-line reason when a
part of the harness produced no usable result.
"""
import argparse
import json
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree for reportlib
import reportlib  # noqa: E402
from reportlib import fmt_ms as ms, fmt_stat as fstat, stats

VMMS = ["floor", "ember", "ember-b", "kvmtool", "qemu", "floor-irqchip"]
TITLE = {"floor": "floor", "ember": "ember", "ember-b": "ember B (--compare)", "kvmtool": "kvmtool",
         "qemu": "QEMU microvm", "floor-irqchip": "floor + irqchip/PIT"}


def parse(path):
    facts, recs, notes, lists = reportlib.parse(path, ("UNUSABLE", "DONE"), fact_lists=("vmm",))
    vmm_cmds = dict(v.partition(" ")[::2] for v in lists["vmm"])
    unusable = lists["UNUSABLE"][-1] if lists["UNUSABLE"] else None
    return facts, recs, notes, vmm_cmds, unusable


def derived(r):
    """Phases of one traced start-up run, in us."""
    d = dict(r)
    def sub(a, b):
        return r[a] - r[b] if r.get(a) is not None and r.get(b) is not None else None
    d["reset_to_exit_group_us"] = sub("exit_group_us", "last_run_return_us")
    d["exit_group_to_reaped_us"] = sub("exit_us", "exit_group_us")
    if r.get("first_kvm_run_us") is not None and r.get("first_kvm_ioctl_us") is not None:
        d["user_between_kvm_us"] = (r["first_kvm_run_us"] - r["first_kvm_ioctl_us"]
                                    - (r.get("kvm_ioctls_before_run_us") or 0))
    else:
        d["user_between_kvm_us"] = None
    d["exec_to_first_kvm_us"] = sub("first_kvm_ioctl_us", "exec_us")
    return d


ROWS = [  # (field, label)
    ("exec_us", "fork+exec -> exec done (sched_process_exec)"),
    ("first_kvm_ioctl_us", "exec -> first KVM ioctl"),
    ("first_kvm_run_us", "exec -> first KVM_RUN"),
    ("kvm_ioctls_before_run_us", "  of which inside KVM ioctls"),
    ("user_between_kvm_us", "  of which outside KVM ioctls (user space, other system calls)"),
    ("exit_us", "process life: exec -> guest reset -> reaped"),
    ("reset_to_exit_group_us", "  guest reset (last KVM_RUN return) -> exit_group"),
    ("exit_group_to_reaped_us", "  exit_group -> reaped (kernel teardown)"),
    ("cpu_us", "CPU per VM, on-CPU time from sched_switch"),
]


def trace_problems(recs):
    """What is wrong with the traced runs, if anything: a check on the launcher's parser and
    clock (every kernel time inside the run, in the order things happen, and the floor's
    ioctls exactly those bench/floor.c makes)."""
    order = ["exec_us", "first_kvm_ioctl_us", "first_kvm_run_us", "last_run_return_us", "exit_group_us", "exit_us"]
    for rec in recs:
        r = rec["r"]
        if rec["test"] != "start" or not r.get("ok") or not r.get("traced"):
            continue
        who = "%s run %s" % (rec["vmm"], rec["iter"])
        seq = [(k, r.get(k)) for k in order if r.get(k) is not None]
        if len(seq) != len(order):
            return "%s: traced, but %s not seen" % (who, ", ".join(k for k in order if r.get(k) is None))
        for (ka, a), (kb, b) in zip(seq, seq[1:]):
            if not 0 <= a <= b:
                return "%s: %s (%d us) and %s (%d us) out of order" % (who, ka, a, kb, b)
        if not 0 < (r.get("cpu_us") or 0) <= 2 * r["exit_us"]:
            return "%s: on-CPU time %s us for a %d us life" % (who, r.get("cpu_us"), r["exit_us"])
        if rec["vmm"] == "floor":
            names = set(r.get("kvm_ioctl_us") or {})
            want = {"CREATE_VM", "SET_USER_MEMORY_REGION", "CREATE_VCPU", "GET_SREGS", "SET_SREGS", "SET_REGS"}
            if not want <= names or r.get("nr_kvm_runs") != 1:
                return "%s: expected the ioctls %s and one KVM_RUN, saw %s and %s" % (
                    who, sorted(want), sorted(names), r.get("nr_kvm_runs"))
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--readme")
    a = ap.parse_args()
    facts, recs, notes, cmds, unusable = parse(a.raw)
    os.makedirs(a.out, exist_ok=True)
    if unusable:
        print("host-side bench: no usable /dev/kvm here: %s" % unusable)
        with open(os.path.join(a.out, "host.json"), "w") as f:
            json.dump({"unusable": unusable, "facts": facts}, f, indent=1)
        return 0

    vmms = [v for v in VMMS if v in cmds]
    start = {v: [derived(r["r"]) for r in recs if r["test"] == "start" and r["vmm"] == v and r["r"].get("ok")]
             for v in vmms}
    api = [r["r"] for r in recs if r["test"] == "api" and r["r"].get("ok")]
    mem = {v: [r["r"] for r in recs if r["test"] == "mem" and r["vmm"] == v and r["r"].get("ok")] for v in vmms}
    rate = {}
    for r in recs:
        if r["test"] == "rate":
            rate.setdefault(r["vmm"], {})[r["r"].get("parallel")] = r["r"]
    failed = [r for r in recs if r["test"] in ("start", "api", "mem") and not r["r"].get("ok")]

    st = {v: {f: stats([x.get(f) for x in start[v]]) for f, _ in ROWS} for v in vmms}
    st_api = stats([x.get("sock_ready_us") for x in api])

    def med(v, f):
        s = st.get(v, {}).get(f)
        return s["median"] if s else None

    def ratio(x, y):
        return x / y if x is not None and y else None

    # --- table ----------------------------------------------------------------------------
    cols = [v for v in VMMS if v in vmms]
    head = ["metric [ms: min / median / p99]"] + [TITLE[v] for v in cols] + \
        ["ember/floor", "kvmtool/ember", "QEMU/ember"] + (["B/ember"] if "ember-b" in cols else [])
    extra = "ember-b" in cols
    rows = []

    def rtxt(x):
        return "%.2f" % x if x is not None else "-"
    for f, label in ROWS:
        if not any(st[v][f] for v in cols):
            continue
        e = med("ember", f)
        rows.append([label] + [fstat(st[v][f]) for v in cols] +
                    [rtxt(ratio(e, med("floor", f))), rtxt(ratio(med("kvmtool", f), e)),
                     rtxt(ratio(med("qemu", f), e))] + ([rtxt(ratio(med("ember-b", f), e))] if extra else []))
    if st_api:
        rows.append(["exec -> API socket accepts (ember --api-sock)"] +
                     [fstat(st_api) if v == "ember" else "n/a" for v in cols] + ["-"] * (4 if extra else 3))

    def memrow(key, label):
        vals = {v: stats([m.get(key) for m in mem.get(v, [])]) for v in cols}
        if not any(vals.values()):
            return
        def mib(s):
            return "%.2f" % (s["median"] / 1024.0) if s else "n/a"
        e = vals.get("ember")
        rows.append([label] + [mib(vals[v]) for v in cols] +
                    ["-", rtxt(ratio(vals["kvmtool"]["median"], e["median"]) if e and vals.get("kvmtool") else None),
                     rtxt(ratio(vals["qemu"]["median"], e["median"]) if e and vals.get("qemu") else None)] +
                    ([rtxt(ratio(vals["ember-b"]["median"], e["median"]) if e and vals.get("ember-b") else None)]
                     if extra else []))
    memrow("overhead_rss_kb", "VMM RSS without guest memory, halted guest [MiB, median]")
    memrow("overhead_pss_kb", "VMM PSS without guest memory, halted guest [MiB, median]")
    ps = sorted({p for v in rate for p in rate[v]})
    for p in ps:
        def rt(v):
            d = rate.get(v, {}).get(p)
            if not d:
                return "n/a"
            return "%.1f (%d/%d ok)" % (d["per_sec"], d["ok"], d["count"])
        e = rate.get("ember", {}).get(p)
        def rr(v):
            d = rate.get(v, {}).get(p)
            return rtxt(d["per_sec"] / e["per_sec"] if e and d and e["per_sec"] else None)
        rows.append(["creation rate, %d in parallel [VMs/s created and reaped]" % p] + [rt(v) for v in cols] +
                    [rtxt(ratio(e["per_sec"], rate.get("floor", {}).get(p, {}).get("per_sec")) if e else None),
                     "-", "-"] + ([rr("ember-b")] if extra else []))
    for p in ps:
        def cpu(v):
            d = rate.get(v, {}).get(p)
            return ms(d.get("cpu_per_vm_us")) if d else "n/a"
        rows.append(["CPU per VM, rusage of the children, %d in parallel [ms]" % p] + [cpu(v) for v in cols] +
                    ["-"] * (4 if extra else 3))

    table = reportlib.md_table(head, rows)

    # --- breakdown of ember's (and every VMM's) way to the first KVM_RUN --------------------
    breakdown = []
    for v in cols:
        per = {}
        for x in start[v]:
            for name, (us, n) in (x.get("kvm_ioctl_us") or {}).items():
                per.setdefault(name, []).append(us)
        if not per:
            continue
        runs = len(start[v])
        top = sorted(((stats(vals + [0] * (runs - len(vals)))["median"], name) for name, vals in per.items()),
                     reverse=True)
        parts = ["%s %s" % (name, ms(u)) for u, name in top if u >= 50][:8]
        breakdown.append("%s: exec %s, exec -> first KVM ioctl %s, KVM ioctls %s [%s], outside them %s, "
                         "first KVM_RUN at %s (medians, ms)"
                         % (TITLE[v], ms(med(v, "exec_us")),
                            ms(stats([x.get("exec_to_first_kvm_us") for x in start[v]])["median"]
                               if stats([x.get("exec_to_first_kvm_us") for x in start[v]]) else None),
                            ms(med(v, "kvm_ioctls_before_run_us")), ", ".join(parts) or "-",
                            ms(med(v, "user_between_kvm_us")), ms(med(v, "first_kvm_run_us"))))

    # --- goals (issue 16) ------------------------------------------------------------------
    goals = []

    def goal(ok, text):
        goals.append(("goal %s: " % ("PASS" if ok else "MISS")) + text if ok is not None
                     else "goal n/a: " + text)
    e_run, f_run = med("ember", "first_kvm_run_us"), med("floor", "first_kvm_run_us")
    r = ratio(e_run, f_run)
    goal(r <= 1.3 if r else None, "exec -> first KVM_RUN <= 1.3x the floor: ember %s ms, floor %s ms, %sx"
         % (ms(e_run), ms(f_run), rtxt(r)))
    k = ratio(med("kvmtool", "first_kvm_run_us"), e_run)
    goal(k >= 5 if k else None, "first KVM_RUN >= 5x faster than kvmtool: kvmtool/ember %sx%s"
         % (rtxt(k), "" if "kvmtool" in cols else " (kvmtool not measured: see the notes)"))
    q = ratio(med("qemu", "first_kvm_run_us"), e_run)
    goal(q >= 20 if q else None, "first KVM_RUN >= 20x faster than QEMU microvm: QEMU/ember %sx%s"
         % (rtxt(q), "" if "qemu" in cols else " (QEMU not measured: see the notes)"))
    life = med("ember", "exit_us")
    goal(life <= 5000 if life is not None else None,
         "process life <= 5 ms for a guest that resets at once: ember %s ms" % ms(life))
    er = rate.get("ember", {})
    best = max(er.values(), key=lambda d: d["per_sec"]) if er else None
    cpus = facts.get("cpus", "?")
    goal(best["per_sec"] >= 200 if best else None,
         ">= 200 VMs/s created and reaped on 2 cores: ember best %.1f VMs/s (%d in parallel) on %s CPUs%s"
         % (best["per_sec"] if best else 0, best["parallel"] if best else 0, cpus,
            "" if cpus == "2" else " (not a 2-core host)"))
    cpu, how = med("ember", "cpu_us"), "sched_switch"
    if cpu is None:  # no tracing: the children's rusage, one at a time
        cpu, how = er.get(1, {}).get("cpu_per_vm_us"), "rusage"
    goal(cpu <= 1500 if cpu is not None else None, "CPU per VM <= 1.5 ms: ember %s ms (%s; rusage at 1 "
         "in parallel: %s ms)" % (ms(cpu), how, ms(er.get(1, {}).get("cpu_per_vm_us"))))
    rss = stats([m.get("overhead_rss_kb") for m in mem.get("ember", [])])
    goal(rss["median"] <= 512 if rss else None, "RSS <= 0.5 MiB: ember %s MiB without guest memory (PSS %s MiB)"
         % ("%.2f" % (rss["median"] / 1024.0) if rss else "-",
            "%.2f" % (stats([m.get("overhead_pss_kb") for m in mem["ember"]])["median"] / 1024.0) if rss else "-"))

    date = reportlib.utc_now()
    virt = facts.get("kvm_virt", "?")
    kind = ("kvm_pvm (no hardware virtualization: host-side work native, guest emulated)"
            if "kvm_pvm" in facts.get("kvm_modules", "") else "hardware %s" % virt)
    n = max([s["n"] for v in cols for s in st[v].values() if s] or [0])
    caption = ("Host-side start-up, %s; /dev/kvm: %s; CPU %s (%s CPUs), kernel %s; load average %s; "
               "tiny guest, 128 MiB, 1 vCPU; %s"
               % (date, kind, facts.get("cpu_model", "?"), cpus, facts.get("kernel", "?"),
                  facts.get("loadavg", "?"), "1-iteration smoke run" if a.smoke else
                  "%d interleaved runs per VMM" % n))
    timing = facts.get("timing", "one launcher for every VMM; no kernel tracing (see notes)")
    text = "\n".join(["Benchmarks: " + caption, "Timing: " + timing, ""] + table +
                     [""] + ["Way to the first KVM_RUN:"] + ["- " + b for b in breakdown] + [""] + goals)

    results = {"date": date, "caption": caption, "facts": facts, "vmms": cmds,
               "start": {v: st[v] for v in cols}, "api_ready": st_api,
               "memory": {v: stats([m.get("overhead_rss_kb") for m in mem.get(v, [])]) for v in cols},
               "rate": rate, "goals": goals, "breakdown": breakdown, "notes": notes, "runs": recs,
               "table": table}
    with open(os.path.join(a.out, "host.json"), "w") as f:
        json.dump(results, f, indent=1)
    with open(os.path.join(a.out, "host-table.txt"), "w") as f:
        f.write(text + "\n")
    print(text)
    tp = trace_problems(recs)
    if tp:
        notes.append("trace check failed: " + tp)
    for x in notes:
        print("note: " + x)
    print("results: %s" % os.path.join(a.out, "host.json"))
    if a.readme:
        update_readme(a.readme, text)

    if a.smoke:
        why = None
        fatal = [x for x in notes if x.startswith("FATAL")]
        if fatal:
            why = fatal[0]
        elif failed:
            x = failed[0]
            why = "%s run of %s failed (rc %s)" % (x["test"], x["vmm"], x["r"].get("rc"))
        elif not start.get("ember") or not start.get("floor"):
            why = "no successful ember and floor start-up runs"
        elif "timing" in facts and (e_run is None or f_run is None):
            why = "tracing was on but no first KVM_RUN was seen"
        elif "timing" in facts and trace_problems(recs):
            why = "trace: " + trace_problems(recs)
        elif not api:
            why = "exec -> API ready was not measured"
        elif not rss:
            why = "ember's RSS was not measured"
        elif not er or any(d.get("ok", 0) < d.get("count", 1) for v in rate for d in rate[v].values()):
            why = "a creation-rate run had failures (or none ran)"
        if why:
            print(why, file=sys.stderr)
            return 1
    return 0


def update_readme(path, text):
    # Markdown: the goal lines as a list, the timing line as its own paragraph.
    text = "\n".join(("- " + l) if l.startswith("goal ") else ("\n" + l) if l.startswith("Timing: ") else l
                     for l in text.split("\n"))
    reportlib.update_readme(path, "bench-host", text)


if __name__ == "__main__":
    sys.exit(main())

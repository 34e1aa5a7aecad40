"""Snapshot loads through the Uffd memory backend, for bench/snapbench.py: the same
snapshot restored with its memory served by ember's page-fault handlers, each load in a
fresh `ember --api-sock` with a fresh handler:

  snap-load-uffd-ondemand   ember-uffd-ondemand (every page on its first fault)
  snap-load-uffd-record     ember-uffd-prefetch --record (one load: the working set)
  snap-load-uffd-prefetch   ember-uffd-prefetch --prefetch (that set copied up front)

Each BENCH-JSON record has the client's and ember's load times, as the File loads do,
and what the handler said when its VM went (faults served, pages prefetched)."""
import json
import os
import re
import subprocess
import time

import snapbench as sb

SUMMARY = re.compile(r"(\d+) pages prefetched|(\d+) faults served|recorded (\d+) pages")


class Handler:
    def __init__(self, argv, memf, d, name):
        self.sock = os.path.join(d, name + ".pf")
        self.out = os.path.join(d, name + ".h")
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        with open(self.out, "wb") as o:
            self.p = subprocess.Popen(argv + [self.sock, memf], stdin=subprocess.DEVNULL, stdout=o,
                                      stderr=subprocess.STDOUT)
        t0 = time.monotonic()
        while b"listening" not in open(self.out, "rb").read():
            if self.p.poll() is not None or time.monotonic() - t0 > 10:
                self.kill()
                raise sb.Fail("the handler did not listen: %s" % open(self.out, errors="replace").read()[-300:])
            time.sleep(0.001)

    def finish(self):
        """Waits for the handler to end by itself (its VM is gone); its figures."""
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()
            raise sb.Fail("the handler outlived its VM by 10 s")
        r = {}
        text = open(self.out, errors="replace").read()
        for m in SUMMARY.finditer(text):
            for key, v in zip(("prefetched_pages", "faults", "recorded_pages"), m.groups()):
                if v is not None:
                    r[key] = int(v)
        return r

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()


def one(a, test, it, argv, state, memf, stopped):
    h = e = None
    try:
        h = Handler(argv, memf, a.dir, "pf")
        e = sb.Ember(a.ember, a.dir, "uffd")
        body = json.dumps({"snapshot_path": state, "mem_backend": {"backend_type": "Uffd", "backend_path": h.sock},
                           "resume_vm": True})
        _, us = sb.api(e.sock, "PUT", "/snapshot/load", body)
        r = {"client_us": us, "count_after": e.wait_count(stopped, 30)}
        lat = e.latencies()
        r.update({"ok": True, "ember_us": lat.get("load_snapshot"), "ember_resume_us": lat.get("resume_vm"),
                  "log_us": e.log_us("snapshot loaded")})
        e.kill()
        e = None
        r.update(h.finish())
        h = None
        sb.emit(test, it, r)
    except (sb.Fail, OSError, ValueError) as x:
        sb.emit(test, it, {"ok": False, "error": str(x)})
        sb.note("%s %d failed: %s" % (test, it, x))
    finally:
        if e:
            e.kill()
        if h:
            h.kill()


def run(a, state, memf, stopped):
    d = os.path.dirname(os.path.abspath(a.ember))
    ond, pre = os.path.join(d, "ember-uffd-ondemand"), os.path.join(d, "ember-uffd-prefetch")
    if not (os.path.exists(ond) and os.path.exists(pre)):
        sb.note("Uffd loads not measured: no ember-uffd-ondemand / ember-uffd-prefetch beside %s" % a.ember)
        return
    ws = os.path.join(a.dir, "vm.ws")
    for i in range(1, a.loads + 1):
        one(a, "snap-load-uffd-ondemand", i, [ond], state, memf, stopped)
    # The working set: pages are touched in the same order each run, so one record does.
    one(a, "snap-load-uffd-record", 1, [pre, "--record", ws], state, memf, stopped)
    if not os.path.exists(ws):
        sb.note("Uffd prefetch loads not measured: no working set was recorded")
        return
    for i in range(1, a.loads + 1):
        one(a, "snap-load-uffd-prefetch", i, [pre, "--prefetch", ws], state, memf, stopped)

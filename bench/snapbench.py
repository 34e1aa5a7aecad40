#!/usr/bin/env python3
"""Snapshot create/load times, warm shells and clones, measured directly on this host's /dev/kvm.

  snapbench.py --ember EMBER --probe PROBE.elf --dir DIR [--loads N] [--boots N]
               [--clone-counts "1 10 100"] [--mem-mib M] [--period-ms MS]
               [--clone-period-ms MS]

Boots the probe guest in count mode through the API (1 vCPU), pauses it and takes one Full
snapshot (probe.count=MS: a count line every MS ms, so the first serial byte after a
restore comes at most MS ms after the vCPU runs). Then:
- loads: N times each, interleaved, a fresh `ember --api-sock` loads it with resume_vm,
  cold (the full path) and warm (`--prepare vcpus=1,mem=M`, the load sent once the shell
  is ready); each restored probe must print a new count line;
- boots: N fresh embers boot the same probe (InstanceStart), for boot vs restore;
- clones: a second snapshot (--clone-period-ms), loaded by K warm embers for each K of
  --clone-counts, back to back (one after the other) and in parallel (all started, then
  all loads sent at once), each clone paused as soon as its load is answered (the probe
  spins between its lines, so a running clone holds a CPU; a paused one stands for an
  idle guest that halts); clones per second up to the last pause; then each clone in turn
  resumed, seen counting on, paused again; then PSS and private memory of each.
Prints BENCH-JSON lines (tests snap-create, snap-load, snap-boot, snap-clones and
snap-clone) and BENCH-NOTE lines for bench/hostreport.py.

The client is here rather than fcclient because the request -> response time is taken in
this process around one send and the reading of the status line and headers: a separate
client process would add its own exec to every figure. The connection is made before the
clock starts. The first serial byte is seen by polling the console file's size every
0.1 ms from a second thread, from the same clock.
"""
import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

COUNT = re.compile(rb"^PROBE count ([0-9]+)\r?\n", re.M)


def now_us():
    return time.perf_counter_ns() // 1000


class Fail(Exception):
    pass


def note(msg):
    print("BENCH-NOTE " + msg, flush=True)


def emit(test, it, r):
    print("BENCH-JSON " + json.dumps({"test": test, "vmm": "ember", "iter": it, "r": r}), flush=True)


def request(sock_path, method, path, body=None, timeout=30.0, sent=None):
    """One HTTP/1.1 request on a new connection. Returns (status, body text, us from the
    first byte sent to the end of the response); sent (a list) gets the send time."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(sock_path)
        data = body.encode() if body is not None else b""
        msg = ("%s %s HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n"
               "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (method, path, len(data))).encode()
        t0 = now_us()
        if sent is not None:
            sent.append(t0)
        s.sendall(msg + data)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                raise Fail("%s %s: connection closed before a full response (%r)" % (method, path, buf[:200]))
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        m = re.search(rb"(?im)^content-length: *([0-9]+)", head)
        want = int(m.group(1)) if m else 0
        while len(rest) < want:
            chunk = s.recv(65536)
            if not chunk:
                break
            rest += chunk
        t1 = now_us()
    except OSError as e:
        raise Fail("%s %s: %s" % (method, path, e))
    finally:
        s.close()
    try:
        status = int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        raise Fail("%s %s: bad status line %r" % (method, path, head[:100]))
    return status, rest.decode(errors="replace"), t1 - t0


def api(sock_path, method, path, body=None, want=204, sent=None):
    status, text, us = request(sock_path, method, path, body, sent=sent)
    if status != want:
        raise Fail("%s %s -> %d %s" % (method, path, status, text[:300]))
    return text, us


class Ember:
    """One `ember --api-sock` with its console, log and metrics in files under d."""

    def __init__(self, ember, d, name, args=(), wait=True):
        self.sock = os.path.join(d, name + ".sock")
        self.out = os.path.join(d, name + ".out")
        self.err = os.path.join(d, name + ".err")
        self.metrics = os.path.join(d, name + ".metrics")
        for f in (self.sock, self.metrics):
            if os.path.exists(f):
                os.unlink(f)
        with open(self.out, "wb") as o, open(self.err, "wb") as e:
            self.p = subprocess.Popen([ember, "--api-sock", self.sock, "--metrics-path", self.metrics] + list(args),
                                      stdin=subprocess.DEVNULL, stdout=o, stderr=e)
        self.warm = "--prepare" in args
        if wait:
            self.ready()

    def ready(self):
        """The API socket accepts and, with --prepare, the shell is built."""
        try:
            self.wait_sock()
            if self.warm:
                self.wait_log("warm shell: ", 10)
        except Fail:
            self.kill()
            raise

    def wait_log(self, text, secs):
        t0 = time.monotonic()
        while time.monotonic() - t0 < secs:
            with open(self.err, errors="replace") as f:
                if text in f.read():
                    return
            if self.p.poll() is not None:
                raise Fail("ember exited (rc %s): %s" % (self.p.returncode, self.tail_err()))
            time.sleep(0.001)
        raise Fail("no '%s' in ember's log within %d s" % (text, secs))

    def wait_sock(self):
        t0 = time.monotonic()
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(self.sock)
                break
            except OSError:
                if self.p.poll() is not None:
                    raise Fail("ember exited (rc %s) before its API socket accepted: %s"
                               % (self.p.returncode, self.tail_err()))
                if time.monotonic() - t0 > 10:
                    raise Fail("ember's API socket did not accept within 10 s")
                time.sleep(0.001)
            finally:
                s.close()

    def tail_err(self):
        try:
            with open(self.err, errors="replace") as f:
                return " | ".join(f.read().strip().split("\n")[-3:])
        except OSError:
            return "-"

    def counts(self):
        with open(self.out, "rb") as f:
            return [int(x) for x in COUNT.findall(f.read())]

    def wait_count(self, above, secs):
        """Waits for a whole count line whose number is above `above` (the line the pause
        cut is finished by the restored VM, so it does not count)."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < secs:
            c = self.counts()
            if c and c[-1] > above:
                return c[-1]
            if self.p.poll() is not None:
                raise Fail("ember exited (rc %s): %s" % (self.p.returncode, self.tail_err()))
            time.sleep(0.002)
        c = self.counts()
        raise Fail("no count line above %s within %d s (last %s): %s"
                   % (above, secs, c[-1] if c else "none", self.tail_err()))

    def log_us(self, what):
        with open(self.err, errors="replace") as f:
            m = re.findall(r"%s in ([0-9]+) us" % what, f.read())
        return int(m[-1]) if m else None

    def metrics_line(self):
        """ember's metrics, from a FlushMetrics."""
        api(self.sock, "PUT", "/actions", '{"action_type": "FlushMetrics"}')
        with open(self.metrics, errors="replace") as f:
            lines = [x for x in f.read().split("\n") if "latencies_us" in x]
        if not lines:
            raise Fail("FlushMetrics wrote no latencies_us")
        return json.loads(lines[-1])

    def latencies(self):
        """ember's own latencies_us."""
        return self.metrics_line()["latencies_us"]

    def smaps(self):
        r = {}
        with open("/proc/%d/smaps_rollup" % self.p.pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if v.strip().endswith("kB"):
                    r[k] = int(v.split()[0])
        return {"rss_kb": r.get("Rss"), "pss_kb": r.get("Pss"),
                "private_kb": r.get("Private_Clean", 0) + r.get("Private_Dirty", 0),
                "private_dirty_kb": r.get("Private_Dirty"), "private_clean_kb": r.get("Private_Clean"),
                "anon_kb": r.get("Anonymous")}

    def kill(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGKILL)
        self.p.wait()


class FirstByte:
    """Watches a console file from a second thread: the time (now_us) it first grows."""

    def __init__(self, path):
        self.path, self.size, self.at = path, os.path.getsize(path), None
        self.stop = False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        t0 = time.monotonic()
        while not self.stop and time.monotonic() - t0 < 30:
            if os.path.getsize(self.path) > self.size:
                self.at = now_us()
                return
            time.sleep(0.0001)

    def since(self, t0, secs=30):
        self.t.join(secs)
        self.stop = True
        return self.at - t0 if self.at is not None else None


def load_body(state, memf):
    return json.dumps({"snapshot_path": state, "mem_backend": {"backend_type": "File", "backend_path": memf},
                       "resume_vm": True})


def timed_load(e, state, memf, first_byte=True):
    """The load on a ready ember, timed to its 204 and to its console's first new byte."""
    fb = FirstByte(e.out) if first_byte else None
    sent = []
    try:
        _, us = api(e.sock, "PUT", "/snapshot/load", load_body(state, memf), sent=sent)
    except Fail:
        if fb:
            fb.stop = True
        raise
    return {"client_us": us, "first_byte_us": fb.since(sent[0]) if fb else None}


def take_snapshot(a, name, period_ms):
    """Boots the counting probe and takes a Full snapshot; returns (state, mem, stopped, record)."""
    state, memf = os.path.join(a.dir, name + ".state"), os.path.join(a.dir, name + ".mem")
    src = Ember(a.ember, a.dir, name)
    try:
        api(src.sock, "PUT", "/machine-config", json.dumps({"vcpu_count": 1, "mem_size_mib": a.mem_mib}))
        api(src.sock, "PUT", "/boot-source", json.dumps({
            "kernel_image_path": a.probe,
            "boot_args": "console=ttyS0 reboot=k panic=1 probe.count=%d" % period_ms}))
        api(src.sock, "PUT", "/actions", '{"action_type": "InstanceStart"}')
        src.wait_count(2, 60)
        _, pause_us = api(src.sock, "PATCH", "/vm", '{"state": "Paused"}')
        _, us = api(src.sock, "PUT", "/snapshot/create", json.dumps(
            {"snapshot_path": state, "mem_file_path": memf, "snapshot_type": "Full"}))
        lat = src.latencies()
        st = os.stat(memf)
        r = {"ok": True, "client_us": us, "ember_us": lat.get("full_create_snapshot"),
             "log_us": src.log_us("Full snapshot created"), "pause_client_us": pause_us,
             "mem_file_bytes": st.st_size, "mem_file_disk_bytes": st.st_blocks * 512,
             "state_file_bytes": os.stat(state).st_size}
        time.sleep(0.1)  # a line the pause cut is finished only by a restored VM
        return state, memf, max(src.counts() or [-1]), r
    finally:
        src.kill()


def one_load(a, i, mode, state, memf, stopped):
    args = ["--prepare", "vcpus=1,mem=%d" % a.mem_mib] if mode == "warm" else []
    e = None
    try:
        e = Ember(a.ember, a.dir, "load-" + mode, args)
        r = timed_load(e, state, memf)
        r["count_after"] = e.wait_count(stopped, 30)
        m = e.metrics_line()
        lat = m["latencies_us"]
        r.update({"ok": True, "mode": mode, "ember_us": lat.get("load_snapshot"),
                  "ember_resume_us": lat.get("resume_vm"), "log_us": e.log_us("snapshot loaded"),
                  "run_us": m.get("vmm", {}).get("load_to_vcpu_run_us"),
                  "warm": lat.get("load_snapshot_warm"),
                  "steps": {k[len("load_snapshot_"):]: v for k, v in lat.items()
                            if k.startswith("load_snapshot_") and k != "load_snapshot_warm"}})
        emit("snap-load", i, r)
    except (Fail, OSError, ValueError) as x:
        emit("snap-load", i, {"ok": False, "mode": mode, "error": str(x)})
        note("snapshot load %d (%s) failed: %s" % (i, mode, x))
    finally:
        if e:
            e.kill()


def one_boot(a, i):
    """The same probe booted (InstanceStart) in a fresh ember: request -> 204 and -> first byte."""
    e = None
    try:
        e = Ember(a.ember, a.dir, "boot")
        api(e.sock, "PUT", "/machine-config", json.dumps({"vcpu_count": 1, "mem_size_mib": a.mem_mib}))
        api(e.sock, "PUT", "/boot-source", json.dumps({
            "kernel_image_path": a.probe,
            "boot_args": "console=ttyS0 reboot=k panic=1 probe.count=%d" % a.period_ms}))
        fb = FirstByte(e.out)
        sent = []
        _, us = api(e.sock, "PUT", "/actions", '{"action_type": "InstanceStart"}', sent=sent)
        r = {"ok": True, "client_us": us, "first_byte_us": fb.since(sent[0])}
        e.wait_count(0, 30)
        emit("snap-boot", i, r)
    except (Fail, OSError, ValueError) as x:
        emit("snap-boot", i, {"ok": False, "error": str(x)})
        note("probe boot %d failed: %s" % (i, x))
    finally:
        if e:
            e.kill()


def clones(a, n, how, state, memf, stopped):
    """n warm clones of one snapshot, loaded back to back or in parallel, each paused as soon as
    its load is answered; then each in turn resumed, seen counting on and paused again; then
    the memory of each, all paused. The probe spins between its lines (time__delay_us), so a
    running clone holds a CPU: a paused one stands for an idle guest that halts."""
    args = ["--prepare", "vcpus=1,mem=%d" % a.mem_mib]
    es, loads, errors = [], [], []
    pause = ("PATCH", "/vm", '{"state": "Paused"}')
    try:
        t0 = now_us()
        if how == "serial":
            for i in range(n):
                e = Ember(a.ember, a.dir, "clone-%s-%d" % (how, i), args)
                es.append(e)
                loads.append(timed_load(e, state, memf, False)["client_us"])
                api(e.sock, *pause)
        else:
            es = [Ember(a.ember, a.dir, "clone-%s-%d" % (how, i), args, wait=False) for i in range(n)]

            def go(e):
                try:
                    e.ready()
                    loads.append(timed_load(e, state, memf, False)["client_us"])
                    api(e.sock, *pause)
                except (Fail, OSError) as x:
                    errors.append(str(x))
            ts = [threading.Thread(target=go, args=(e,)) for e in es]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            if errors:
                raise Fail(errors[0])
        wall = now_us() - t0
        for e in es:
            seen = max(e.counts() or [stopped])
            api(e.sock, "PATCH", "/vm", '{"state": "Resumed"}')
            e.wait_count(max(seen, stopped), 60)
            api(e.sock, *pause)
        time.sleep(0.3)
        mem = [e.smaps() for e in es]
        for i, m in enumerate(mem, 1):
            if how == "serial" and n == max(a.counts):
                emit("snap-clone", i, dict(m, ok=True, alive=n))
        emit("snap-clones", n, {"ok": True, "n": n, "how": how, "wall_us": wall,
                                "per_s": n * 1e6 / wall if wall else None, "load_client_us": loads,
                                "pss_kb": [m["pss_kb"] for m in mem],
                                "private_kb": [m["private_kb"] for m in mem]})
    except (Fail, OSError, ValueError) as x:
        emit("snap-clones", n, {"ok": False, "n": n, "how": how, "error": str(x)})
        note("%d clones (%s) failed: %s" % (n, how, x))
    finally:
        for e in es:
            e.kill()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ember", required=True)
    ap.add_argument("--probe", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--loads", type=int, default=20)
    ap.add_argument("--boots", type=int, default=10)
    ap.add_argument("--clone-counts", default="1 10 100")
    ap.add_argument("--mem-mib", type=int, default=128)
    ap.add_argument("--period-ms", type=int, default=1)
    ap.add_argument("--clone-period-ms", type=int, default=10)
    a = ap.parse_args()
    a.counts = [int(x) for x in a.clone_counts.split()]
    print("BENCH-FACT snap_guest probe count mode probe.count=%d, 1 vCPU, %d MiB" % (a.period_ms, a.mem_mib))
    print("BENCH-FACT snap_clone_guest probe count mode probe.count=%d, 1 vCPU, %d MiB"
          % (a.clone_period_ms, a.mem_mib))
    try:
        state, memf, stopped, r = take_snapshot(a, "vm", a.period_ms)
        emit("snap-create", 1, r)
    except (Fail, OSError, ValueError) as e:
        emit("snap-create", 1, {"ok": False, "error": str(e)})
        note("snapshot create failed: %s" % e)
        print("BENCH-SNAP-DONE", flush=True)
        return 0
    for i in range(1, a.loads + 1):
        for mode in ("cold", "warm") if i % 2 else ("warm", "cold"):
            one_load(a, i, mode, state, memf, stopped)
    for i in range(1, a.boots + 1):
        one_boot(a, i)
    try:
        cstate, cmemf, cstopped, _ = take_snapshot(a, "idle", a.clone_period_ms)
    except (Fail, OSError, ValueError) as e:
        note("the clones' snapshot failed: %s" % e)
        print("BENCH-SNAP-DONE", flush=True)
        return 0
    for n in a.counts:
        for how in ("serial", "parallel"):
            clones(a, n, how, cstate, cmemf, cstopped)

    # --- the same loads through the Uffd backend and ember's handlers (snapuffd.py) --------
    import snapuffd
    snapuffd.run(a, state, memf, stopped)
    print("BENCH-SNAP-DONE", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Snapshot create/load times and clone memory, measured directly on this host's /dev/kvm.

  snapbench.py --ember EMBER --probe PROBE.elf --dir DIR [--loads N] [--clones K]
               [--mem-mib M] [--period-ms MS]

Boots the probe guest in count mode through the API (1 vCPU), pauses it, takes one Full
snapshot, then N times starts a fresh `ember --api-sock` and loads it with resume_vm, then
keeps K embers loaded from it alive at once and reads their memory. Prints BENCH-JSON lines
(tests snap-create, snap-load, snap-clone) and BENCH-NOTE lines for bench/hostreport.py.

The client is here rather than fcclient because the request -> response time is taken in
this process around one send and the reading of the status line and headers: a separate
client process would add its own exec to every figure. The connection is made before the
clock starts, so the time is the request's own: an upper bound of "request arriving ->
vCPUs running", as ember answers 204 only after the resume has released the vCPU threads.
"""
import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
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


def request(sock_path, method, path, body=None, timeout=30.0):
    """One HTTP/1.1 request on a new connection. Returns (status, body text, us from the
    first byte sent to the end of the response)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(sock_path)
        data = body.encode() if body is not None else b""
        msg = ("%s %s HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n"
               "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (method, path, len(data))).encode()
        t0 = now_us()
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


def api(sock_path, method, path, body=None, want=204):
    status, text, us = request(sock_path, method, path, body)
    if status != want:
        raise Fail("%s %s -> %d %s" % (method, path, status, text[:300]))
    return text, us


class Ember:
    """One `ember --api-sock` with its console, log and metrics in files under d."""

    def __init__(self, ember, d, name):
        self.sock = os.path.join(d, name + ".sock")
        self.out = os.path.join(d, name + ".out")
        self.err = os.path.join(d, name + ".err")
        self.metrics = os.path.join(d, name + ".metrics")
        for f in (self.sock, self.metrics):
            if os.path.exists(f):
                os.unlink(f)
        with open(self.out, "wb") as o, open(self.err, "wb") as e:
            self.p = subprocess.Popen([ember, "--api-sock", self.sock, "--metrics-path", self.metrics],
                                      stdin=subprocess.DEVNULL, stdout=o, stderr=e)
        try:
            self.wait_sock()
        except Fail:
            self.kill()
            raise

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

    def latencies(self):
        """ember's own latencies_us, from a FlushMetrics."""
        api(self.sock, "PUT", "/actions", '{"action_type": "FlushMetrics"}')
        with open(self.metrics, errors="replace") as f:
            lines = [x for x in f.read().split("\n") if "latencies_us" in x]
        if not lines:
            raise Fail("FlushMetrics wrote no latencies_us")
        return json.loads(lines[-1])["latencies_us"]

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


def load(a, name, state, memf):
    """A fresh ember, the load timed; returns (ember, result)."""
    e = Ember(a.ember, a.dir, name)
    body = json.dumps({"snapshot_path": state, "mem_backend": {"backend_type": "File", "backend_path": memf},
                       "resume_vm": True})
    try:
        _, us = api(e.sock, "PUT", "/snapshot/load", body)
    except Fail:
        e.kill()
        raise
    return e, {"client_us": us}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ember", required=True)
    ap.add_argument("--probe", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--loads", type=int, default=20)
    ap.add_argument("--clones", type=int, default=10)
    ap.add_argument("--mem-mib", type=int, default=128)
    ap.add_argument("--period-ms", type=int, default=10)
    a = ap.parse_args()
    state, memf = os.path.join(a.dir, "vm.state"), os.path.join(a.dir, "vm.mem")
    print("BENCH-FACT snap_guest probe count mode probe.count=%d, 1 vCPU, %d MiB" % (a.period_ms, a.mem_mib))

    # --- the snapshot ----------------------------------------------------------------------
    src = None
    try:
        src = Ember(a.ember, a.dir, "src")
        api(src.sock, "PUT", "/machine-config", json.dumps({"vcpu_count": 1, "mem_size_mib": a.mem_mib}))
        api(src.sock, "PUT", "/boot-source", json.dumps({
            "kernel_image_path": a.probe,
            "boot_args": "console=ttyS0 reboot=k panic=1 probe.count=%d" % a.period_ms}))
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
        stopped = max(src.counts() or [-1])
        emit("snap-create", 1, r)
    except (Fail, OSError, ValueError) as e:
        emit("snap-create", 1, {"ok": False, "error": str(e)})
        note("snapshot create failed: %s" % e)
        print("BENCH-SNAP-DONE", flush=True)
        return 0
    finally:
        if src:
            src.kill()

    # --- loads, one at a time, each in a fresh process ------------------------------------
    for i in range(1, a.loads + 1):
        e = None
        try:
            e, r = load(a, "load", state, memf)
            r["count_after"] = e.wait_count(stopped, 30)
            lat = e.latencies()
            r.update({"ok": True, "ember_us": lat.get("load_snapshot"), "ember_resume_us": lat.get("resume_vm"),
                      "log_us": e.log_us("snapshot loaded")})
            emit("snap-load", i, r)
        except (Fail, OSError, ValueError) as x:
            emit("snap-load", i, {"ok": False, "error": str(x)})
            note("snapshot load %d failed: %s" % (i, x))
        finally:
            if e:
                e.kill()

    # --- K clones of the one snapshot alive at once ---------------------------------------
    clones = []
    try:
        for i in range(1, a.clones + 1):
            e, r = load(a, "clone%d" % i, state, memf)
            clones.append((e, r))
        for e, r in clones:
            r["count_after"] = e.wait_count(stopped, 30)
        # Every clone has run for a while: what each now holds of its own.
        time.sleep(0.3)
        for i, (e, r) in enumerate(clones, 1):
            r.update(e.smaps())
            r["ok"] = True
            r["alive"] = len(clones)
            emit("snap-clone", i, r)
    except (Fail, OSError, ValueError) as x:
        emit("snap-clone", len(clones) + 1, {"ok": False, "error": str(x)})
        note("snapshot clones failed after %d started: %s" % (len(clones), x))
    finally:
        for e, _ in clones:
            e.kill()

    # --- the same loads through the Uffd backend and ember's handlers (snapuffd.py) --------
    import snapuffd
    snapuffd.run(a, state, memf, stopped)
    print("BENCH-SNAP-DONE", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Slow API clients for tests/api/t_api_slowloris.sh. One process, no children,
every socket closed at exit; each mode ends within its own bound.

  slowclients.py SOCK slowloris N SECONDS
      holds N connections (half silent, half trickling a header byte every
      300 ms), reopens any that ember closes, and meanwhile sends a real GET /
      on a fresh connection every 0.7 s after the first second. Prints
      "probes=K ok=K worst_ms=W statuses=..." .
  slowclients.py SOCK deadlines
      one client trickles its header a byte every 0.5 s, another sends a head
      and 1 byte of a 40-byte body, then waits. Prints "head=STATUS@SECONDS
      body=STATUS@SECONDS" (STATUS none if nothing came within 12 s).
"""
import selectors
import socket
import sys
import time


def connect(path, timeout=2.0):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(path)
    s.setblocking(False)
    return s


def first_line(data):
    return data.split(b"\r\n", 1)[0].decode(errors="replace")


def slowloris(path, n, seconds):
    sel = selectors.DefaultSelector()
    held = {}  # socket -> (kind, next trickle time)
    end = time.monotonic() + seconds

    def open_one(i):
        try:
            s = connect(path)
        except OSError:
            return
        kind = "trickle" if i % 2 else "silent"
        if kind == "trickle":
            try:
                s.send(b"GET / HTTP/1.1\r\nX-Slow: ")
            except OSError:
                s.close()
                return
        held[s] = [kind, time.monotonic() + 0.3, i]
        sel.register(s, selectors.EVENT_READ)

    for i in range(n):
        open_one(i)
    probes, ok, worst, statuses = 0, 0, 0.0, []
    next_probe = time.monotonic() + 1.0
    while time.monotonic() < end:
        now = time.monotonic()
        if now >= next_probe:
            next_probe = now + 0.7
            probes += 1
            t0 = time.monotonic()
            status = "none"
            try:
                c = socket.socket(socket.AF_UNIX)
                c.settimeout(2.0)
                c.connect(path)
                c.sendall(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
                data = b""
                while True:
                    chunk = c.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                status = first_line(data).split(" ")[1] if data else "closed"
                c.close()
            except OSError as e:
                status = type(e).__name__
            dt = time.monotonic() - t0
            worst = max(worst, dt)
            statuses.append(status)
            if status == "200":
                ok += 1
        # Trickle one byte on each trickling connection that is due.
        for s, st in list(held.items()):
            if st[0] == "trickle" and now >= st[1]:
                st[1] = now + 0.3
                try:
                    s.send(b"x")
                except OSError:
                    pass
        # Connections ember closed (or answered with 408/503) are reopened.
        for key, _ in sel.select(timeout=0.05):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if not data or b"HTTP/1.1" in data:
                i = held[s][2]
                sel.unregister(s)
                s.close()
                del held[s]
                open_one(i)
    for s in held:
        s.close()
    print("probes=%d ok=%d worst_ms=%d statuses=%s" % (probes, ok, int(worst * 1000), ",".join(statuses)))


def deadlines(path):
    head = connect(path)
    head.send(b"GET / HTTP/1.1\r\nX-Slow: ")
    body = connect(path)
    body.send(b"PUT /machine-config HTTP/1.1\r\nContent-Length: 40\r\n\r\n{")
    t0 = time.monotonic()
    result = {"head": "none", "body": "none"}
    socks = {head: "head", body: "body"}
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    next_byte = t0 + 0.5
    while time.monotonic() - t0 < 12 and "none" in result.values():
        now = time.monotonic()
        if now >= next_byte and result["head"] == "none":
            next_byte = now + 0.5
            try:
                head.send(b"y")
            except OSError:
                pass
        for key, _ in sel.select(timeout=0.05):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            name = socks[s]
            status = first_line(data).split(" ")[1] if data else "closed"
            result[name] = "%s@%.1f" % (status, time.monotonic() - t0)
            sel.unregister(s)
    head.close()
    body.close()
    print("head=%s body=%s" % (result["head"], result["body"]))


if __name__ == "__main__":
    if sys.argv[2] == "slowloris":
        slowloris(sys.argv[1], int(sys.argv[3]), float(sys.argv[4]))
    else:
        deadlines(sys.argv[1])

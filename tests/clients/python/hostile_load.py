#!/usr/bin/env python3
"""Hostile load for the agent's memory bounds (stdlib only).

bombs N: N threads at once each POST a chat request whose gzip'd body
  inflates to 8 MiB (Content-Encoding: gzip), all but its last byte first,
  the last byte once every thread sent the rest, and read the answer.
idle N: open N TLS connections, write a partial request head on each, and
  hold them all open for --hold seconds.

Prints one JSON line when done: pid, how many requests / connections went
through, statuses.
"""
import argparse
import gzip
import json
import os
import resource
import socket
import ssl
import sys
import threading
import time


def connect(host, ctx):
    raw = socket.create_connection((host, 443), timeout=60)
    return ctx.wrap_socket(raw, server_hostname=host)


def bombs(args, ctx):
    body = gzip.compress(b"a" * (8 << 20), 9)
    head = ("POST /v1/chat/completions HTTP/1.1\r\nHost: %s\r\n"
            "Content-Type: application/json\r\nContent-Encoding: gzip\r\n"
            "Authorization: Bearer sk-mock-e2e-0000000000001234\r\n"
            "Content-Length: %d\r\n\r\n" % (args.host, len(body))).encode()
    go = threading.Barrier(args.n)
    sent = threading.Barrier(args.n)
    statuses = []
    lock = threading.Lock()

    def one():
        s = connect(args.host, ctx)
        go.wait()
        # All but the last byte, everywhere, before any server can answer:
        # the agent holds every inflated body at once.
        s.sendall(head + body[:-1])
        sent.wait()
        time.sleep(1)
        s.sendall(body[-1:])
        first = b""
        try:
            first = s.recv(64)
        except OSError:
            pass
        status = first.split(b" ")[1].decode() if first.startswith(b"HTTP/") else "none"
        with lock:
            statuses.append(status)
        s.close()

    threads = [threading.Thread(target=one) for _ in range(args.n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"requests": len(statuses), "statuses": sorted(set(statuses)),
            "wire_bytes": len(body)}


def idle(args, ctx):
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (args.n + 1024, args.n + 1024))
    except (ValueError, OSError):
        pass
    conns, failed = [], 0
    head = ("POST /v1/chat/completions HTTP/1.1\r\nHost: %s\r\n" % args.host).encode()
    for _ in range(args.n):
        try:
            s = connect(args.host, ctx)
            s.sendall(head)
            conns.append(s)
        except OSError:
            failed += 1
    print(json.dumps({"pid": os.getpid(), "opened": len(conns), "failed": failed}),
          flush=True)
    time.sleep(args.hold)
    for s in conns:
        s.close()
    return {"opened": len(conns), "failed": failed}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["bombs", "idle"])
    ap.add_argument("n", type=int)
    ap.add_argument("--host", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--hold", type=float, default=5.0)
    args = ap.parse_args()
    ctx = ssl.create_default_context(cafile=args.ca)
    out = bombs(args, ctx) if args.mode == "bombs" else idle(args, ctx)
    out["pid"] = os.getpid()
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

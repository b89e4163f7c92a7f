#!/usr/bin/env python3
"""Opens a TLS connection to the mock and misbehaves (stdlib only).

--kind garbage:   writes 4 KiB of deterministic non-HTTP bytes, reads until close.
--kind truncated: writes the start of a chat request cut inside its headers
                  (no blank line ever comes), then closes: no complete request exists.
Prints one JSON line: what happened.
"""
import argparse
import json
import socket
import ssl

ap = argparse.ArgumentParser()
ap.add_argument("--kind", choices=["garbage", "truncated"], required=True)
ap.add_argument("--host", default="api.openai.com")
ap.add_argument("--port", type=int, default=443)
ap.add_argument("--ca", required=True)
args = ap.parse_args()

ctx = ssl.create_default_context(cafile=args.ca)
ctx.set_alpn_protocols(["http/1.1"])
with socket.create_connection((args.host, args.port), timeout=10) as raw:
    with ctx.wrap_socket(raw, server_hostname=args.host) as s:
        if args.kind == "garbage":
            data = bytes((i * 97 + 13) % 256 for i in range(4096))
            s.sendall(b"\x00\xff\xfe GARBAGE \x01\x02" + data)
            got = b""
            try:
                while True:
                    b = s.recv(65536)
                    if not b:
                        break
                    got += b
            except (OSError, ssl.SSLError):
                pass
            print(json.dumps({"kind": "garbage", "sent": len(data) + 13, "received": len(got)}))
        else:
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\n"
                      b"Content-Type: application/json\r\nContent-Len")
            print(json.dumps({"kind": "truncated"}))

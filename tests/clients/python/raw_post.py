#!/usr/bin/env python3
"""POSTs a file's bytes to a chat completions URL over TLS with the stdlib
(http.client + ssl): the whole body goes out in ONE SSL_write call (curl writes
at most 64 KiB per call), to exercise the agent's per-call capture cap.

Prints one JSON line: pid, status, x-request-id, the response body (text).
"""
import argparse
import http.client
import json
import os
import ssl


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--body", required=True, help="file with the request body")
    ap.add_argument("--path", default="/v1/chat/completions")
    ap.add_argument("--api-key", default="sk-mock-e2e-0000000000001234")
    args = ap.parse_args()
    with open(args.body, "rb") as f:
        body = f.read()
    ctx = ssl.create_default_context(cafile=args.ca)
    conn = http.client.HTTPSConnection(args.host, 443, context=ctx, timeout=30)
    conn.connect()
    head = ("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
            "Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n"
            % (args.path, args.host, args.api_key, len(body))).encode()
    # One write: head + body (SSLSocket.sendall hands the whole buffer to SSL_write).
    conn.sock.sendall(head + body)
    resp = http.client.HTTPResponse(conn.sock, method="POST")
    resp.begin()
    data = resp.read().decode()
    print(json.dumps({"pid": os.getpid(), "status": resp.status,
                      "request_id": resp.getheader("x-request-id", ""), "body": data}), flush=True)
    conn.close()


if __name__ == "__main__":
    main()

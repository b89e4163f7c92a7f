"""A hostile local user's flood of genuine OpenSSL calls (issue 16).

A client and a server SSL object in this one process, joined by memory BIOs
(no network at all), and LLM-looking HTTP requests written by one and read
by the other as fast as Python can: every write and read is an SSL_write_ex /
SSL_read_ex of the system libssl, which the agent probes. Every few requests
the pair is dropped for a new one: a new connection, as the kernel sees it.

Usage: tls_flood.py CERT KEY SECONDS [PER_CONN]
Prints one JSON line: pid, connections, calls, bytes. Bounded by SECONDS and
by a cap on connections.
"""

import json
import os
import ssl
import sys
import time

MAX_CONNECTIONS = 200_000
BODY = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"' + b"x" * 16000 + b'"}]}'
REQUEST = (
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\n"
    b"Content-Type: application/json\r\nContent-Length: "
    + str(len(BODY)).encode()
    + b"\r\n\r\n"
    + BODY
)


def pair(client_ctx, server_ctx):
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname="flood.invalid")
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(50):
        done = 0
        for side in (client, server):
            try:
                side.do_handshake()
                done += 1
            except ssl.SSLWantReadError:
                pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if done == 2:
            return client, server, s_in, c_out
    raise RuntimeError("handshake did not finish")


def main():
    cert, key, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
    per_conn = int(sys.argv[4]) if len(sys.argv) > 4 else 8
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.check_hostname = False
    client_ctx.verify_mode = ssl.CERT_NONE
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    deadline = time.monotonic() + secs
    conns = calls = sent = 0
    while time.monotonic() < deadline and conns < MAX_CONNECTIONS:
        client, server, s_in, c_out = pair(client_ctx, server_ctx)
        conns += 1
        for _ in range(per_conn):
            client.write(REQUEST)
            s_in.write(c_out.read())
            got = 0
            while got < len(REQUEST):
                got += len(server.read(len(REQUEST)))
                calls += 1
            calls += 1
            sent += len(REQUEST)
    print(json.dumps({"pid": os.getpid(), "connections": conns, "calls": calls, "bytes": sent}))


if __name__ == "__main__":
    main()

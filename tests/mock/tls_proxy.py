"""A TLS terminator for tests: accepts TLS on 127.0.0.1:LISTEN with the test
CA's server certificate and forwards the plaintext to 127.0.0.1:UPSTREAM
(the local ClickHouse, which serves no HTTPS itself).

Usage: tls_proxy.py LISTEN_PORT UPSTREAM_PORT CERT KEY
Prints "listening" once bound.
"""

import socket
import ssl
import sys
import threading


def pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(conn, upstream):
    try:
        up = socket.create_connection(("127.0.0.1", upstream), timeout=10)
    except OSError:
        conn.close()
        return
    up.settimeout(None)
    threading.Thread(target=pipe, args=(conn, up), daemon=True).start()
    pipe(up, conn)


def main():
    listen, upstream, cert, key = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", listen))
    srv.listen(64)
    print("listening", flush=True)
    while True:
        raw, _ = srv.accept()
        try:
            conn = ctx.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()
            continue
        threading.Thread(target=serve, args=(conn, upstream), daemon=True).start()


if __name__ == "__main__":
    main()

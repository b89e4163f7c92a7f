"""The overhead benchmark's client (`cargo xtask bench overhead`): Python's
``ssl`` (OpenSSL, the library the agent and the floor probe) on one
keep-alive connection to ``bench_server`` (which the agent does not probe).

    overhead_client.py HOST PORT CA_PEM MODE N

Modes (each prints one JSON line; times in microseconds):
  nonstream  N chat completions: median call latency
  stream     N streamed chat completions (50 chunks): median TTFT (request
             sent → first event) and median total
  write64    one request whose body is N writes of 64 bytes (one SSL_write
             each): median time per write
  download   one GET of N MiB: MiB/s

Once connected (and, for calls, after one warm-up call) it prints ``ready``
and waits for a line on stdin: the benchmark measures the agent's CPU from
there, so a new process's fixed costs (exec, discovery, attribution) are
not spread over its calls.
"""
import http.client
import json
import ssl
import statistics
import sys
import time

host, port, ca, mode, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
ctx = ssl.create_default_context(cafile=ca)
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "count to three"}]}
HEADERS = {"content-type": "application/json", "authorization": "Bearer sk-bench-0000000000000000"}


def us(t):
    return (time.perf_counter() - t) * 1e6


def conn():
    c = http.client.HTTPSConnection(host, port, context=ctx)
    c.connect()
    return c


def ready():
    print("ready", flush=True)
    sys.stdin.readline()


def chat(c, stream):
    body = dict(BODY)
    if stream:
        body.update(stream=True, stream_options={"include_usage": True})
    data = json.dumps(body, separators=(",", ":"))
    t0 = time.perf_counter()
    c.request("POST", "/v1/chat/completions", data, HEADERS)
    r = c.getresponse()
    ttft = None
    if stream:
        while True:
            line = r.readline()
            if line.startswith(b"data: "):
                ttft = us(t0)
                break
    r.read()
    assert r.status == 200, r.status
    return ttft, us(t0)


if mode in ("nonstream", "stream"):
    c = conn()
    chat(c, mode == "stream")  # warm-up
    ready()
    runs = [chat(c, mode == "stream") for _ in range(n)]
    out = {"median_us": statistics.median(t for _, t in runs)}
    if mode == "stream":
        out["ttft_median_us"] = statistics.median(t for t, _ in runs)
    print(json.dumps(out))
elif mode == "write64":
    c = conn()
    ready()
    c.putrequest("POST", "/sink")
    c.putheader("content-length", str(64 * n))
    c.endheaders()
    chunk = b"x" * 64
    per = []
    for _ in range(n):
        t0 = time.perf_counter()
        c.sock.sendall(chunk)
        per.append(us(t0))
    r = c.getresponse()
    r.read()
    assert r.status == 204, r.status
    print(json.dumps({"median_us": statistics.median(per)}))
elif mode == "download":
    c = conn()
    ready()
    t0 = time.perf_counter()
    c.request("GET", "/download?bytes=%d" % (n << 20))
    r = c.getresponse()
    got = 0
    while True:
        b = r.read(256 * 1024)
        if not b:
            break
        got += len(b)
    assert got == n << 20, got
    print(json.dumps({"mib_per_s": n / (us(t0) / 1e6)}))
else:
    sys.exit("unknown mode " + mode)

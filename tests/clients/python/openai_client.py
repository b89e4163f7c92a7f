#!/usr/bin/env python3
"""Drives the official `openai` Python SDK (unmodified) against the base URL in
OPENAI_BASE_URL, trusting the CA in SSL_CERT_FILE (both documented env vars).

Prints one JSON line per call: what this process saw (pid, tid, comm, ids, usage).
"""
import argparse
import json
import os
import sys
import threading
import time

import openai


def comm():
    with open("/proc/self/comm") as f:
        return f.read().strip()


def thread_comm():
    with open("/proc/thread-self/comm") as f:
        return f.read().strip()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--mode", choices=["stream", "nonstream"], default="nonstream")
    ap.add_argument("--model", default="gpt-4o-mini")
    ap.add_argument("--words", type=int, default=5, help="words in the user message")
    ap.add_argument("--max-tokens", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--thread-name", default="",
                    help="make the calls from a worker thread of this name (PR_SET_NAME)")
    ap.add_argument("--download-before", type=int, default=0, metavar="BYTES",
                    help="before each call, download BYTES from downloads.example.test on a connection "
                         "closed after it, and make the call on a new client (a new TLS connection, "
                         "whose SSL object may take the freed one's address)")
    ap.add_argument("--wait-stdin", action="store_true",
                    help="build the client, print `waiting <pid>` on stderr, call only after a stdin line")
    args = ap.parse_args()
    # max_retries=0: every call is exactly one HTTP exchange (the SDK retries 429/5xx by default).
    client = new_client(args)
    if args.wait_stdin:
        print("waiting %d" % os.getpid(), file=sys.stderr, flush=True)
        sys.stdin.readline()
    if args.thread_name:
        worker = threading.Thread(target=calls, args=(client, args))
        worker.start()
        worker.join()
    else:
        calls(client, args)


def new_client(args):
    return openai.OpenAI(api_key=os.environ.get("OPENAI_API_KEY", "sk-mock-e2e-0000000000001234"),
                         max_retries=0, timeout=args.timeout)


def download(n):
    import http.client
    import ssl
    ctx = ssl.create_default_context(cafile=os.environ.get("SSL_CERT_FILE"))
    c = http.client.HTTPSConnection("downloads.example.test", 443, context=ctx, timeout=30)
    c.request("GET", "/download/%d" % n)
    r = c.getresponse()
    got = len(r.read())
    assert r.status == 200 and got == n, (r.status, got)
    c.close()


def name_this_thread(name):
    """The OS thread name (what /proc/PID/task/TID/comm shows), like an HTTP
    library's worker thread."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_NAME = 15
    if libc.prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NAME)")


def calls(client, args):
    if args.thread_name:
        name_this_thread(args.thread_name)
    for i in range(args.count):
        if args.download_before:
            download(args.download_before)
            client.close()
            client = new_client(args)
        messages = [{"role": "system", "content": "You are a test."},
                    {"role": "user", "content": " ".join("word%d" % j for j in range(args.words + i))}]
        kw = {"model": args.model, "messages": messages}
        if args.max_tokens:
            kw["max_tokens"] = args.max_tokens
        out = {"client": "python", "pid": os.getpid(), "tid": threading.get_native_id(),
               "comm": comm(), "thread_comm": thread_comm(), "mode": args.mode,
               "model": args.model, "index": i}
        t0 = time.monotonic()
        try:
            if args.mode == "stream":
                raw = client.chat.completions.with_raw_response.create(
                    stream=True, stream_options={"include_usage": True}, **kw)
                out["request_id"] = raw.headers.get("x-request-id", "")
                out["status"] = raw.status_code
                usage, rid, rmodel, text, finish = None, "", "", "", ""
                for chunk in raw.parse():
                    rid, rmodel = chunk.id, chunk.model
                    for c in chunk.choices:
                        text += c.delta.content or ""
                        finish = c.finish_reason or finish
                    if chunk.usage is not None:
                        usage = chunk.usage
            else:
                raw = client.chat.completions.with_raw_response.create(**kw)
                out["request_id"] = raw.headers.get("x-request-id", "")
                out["status"] = raw.status_code
                c = raw.parse()
                usage, rid, rmodel = c.usage, c.id, c.model
                text, finish = c.choices[0].message.content, c.choices[0].finish_reason
            out.update(response_id=rid, response_model=rmodel, content=text, finish_reason=finish,
                       prompt_tokens=usage.prompt_tokens if usage else None,
                       completion_tokens=usage.completion_tokens if usage else None)
        except openai.APIStatusError as e:
            out.update(status=e.status_code, request_id=e.request_id or "", error=str(e.type or ""))
        out["elapsed_ms"] = round((time.monotonic() - t0) * 1000, 3)
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()

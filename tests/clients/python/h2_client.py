#!/usr/bin/env python3
"""Chat calls over HTTP/2 with the official `openai` Python SDK (unmodified;
base URL from OPENAI_BASE_URL, CA from SSL_CERT_FILE), whose HTTP client is
built with ``http2=True`` (``openai.DefaultHttpxClient`` /
``openai.DefaultAsyncHttpxClient``: ALPN offers h2, the server picks it).

Commands:

* ``sdk``: ``--count`` calls one after the other on one client, ``--mode``
  stream (``stream_options.include_usage``) or nonstream.
* ``multiplex``: ``--count`` concurrent streaming calls (asyncio.gather) on ONE
  HTTP/2 connection of an async client; call i has ``--words`` + i words, so
  every call has its own token counts.
* ``latejoin``: one client, one connection: ``--before`` calls, then ``waiting
  <pid>`` on stderr and a wait for a line on stdin (or for ``--wait-file`` to
  exist), then ``--after`` calls on the SAME connection (checked: same local
  port; exits 3 otherwise). Calls alternate stream / nonstream, starting with
  ``--mode``.

Prints one JSON line per call: what this process saw (pid, tid, comm, ids,
usage, the HTTP version and the local port of the connection).
"""
import argparse
import asyncio
import json
import os
import sys
import threading
import time

import openai


def comm():
    with open("/proc/self/comm") as f:
        return f.read().strip()


def messages(words):
    return [{"role": "system", "content": "You are a test."},
            {"role": "user", "content": " ".join("word%d" % j for j in range(words))}]


def conn_info(http_response):
    """(HTTP version, local port) of the connection a response came over."""
    ext = http_response.extensions
    version = ext.get("http_version", b"").decode()
    port = 0
    stream = ext.get("network_stream")
    if stream is not None:
        addr = stream.get_extra_info("client_addr")
        if addr:
            port = addr[1]
    return version, port


def base(args, mode, model, index):
    return {"client": "python-h2", "pid": os.getpid(), "tid": threading.get_native_id(),
            "comm": comm(), "mode": mode, "model": model, "index": index}


def finish(out, usage, rid, rmodel, finish_reason, t0):
    out.update(response_id=rid, response_model=rmodel, finish_reason=finish_reason,
               prompt_tokens=usage.prompt_tokens if usage else None,
               completion_tokens=usage.completion_tokens if usage else None,
               elapsed_ms=round((time.monotonic() - t0) * 1000, 3))
    return out


def one_call(client, mode, model, words, max_tokens, index):
    out = base(None, mode, model, index)
    kw = {"model": model, "messages": messages(words)}
    if max_tokens:
        kw["max_tokens"] = max_tokens
    t0 = time.monotonic()
    try:
        if mode == "stream":
            raw = client.chat.completions.with_raw_response.create(
                stream=True, stream_options={"include_usage": True}, **kw)
            usage, rid, rmodel, finish_reason = None, "", "", ""
            for chunk in raw.parse():
                rid, rmodel = chunk.id, chunk.model
                for c in chunk.choices:
                    finish_reason = c.finish_reason or finish_reason
                if chunk.usage is not None:
                    usage = chunk.usage
        else:
            raw = client.chat.completions.with_raw_response.create(**kw)
            c = raw.parse()
            usage, rid, rmodel, finish_reason = c.usage, c.id, c.model, c.choices[0].finish_reason
        out["request_id"] = raw.headers.get("x-request-id", "")
        out["status"] = raw.status_code
        out["http_version"], out["local_port"] = conn_info(raw.http_response)
        return finish(out, usage, rid, rmodel, finish_reason, t0)
    except openai.APIStatusError as e:
        out.update(status=e.status_code, request_id=e.request_id or "", error=str(e.type or ""))
        out["http_version"], out["local_port"] = conn_info(e.response)
        return finish(out, None, "", "", "", t0)


def sync_client(args, keepalive=None):
    """The SDK with an HTTP/2 httpx client; `keepalive`: seconds an idle
    connection is kept (httpx's default is 5 s)."""
    kw = {}
    if keepalive is not None:
        # The SDK's own Limits type (its httpx), with the SDK's other limits.
        d = openai.DEFAULT_CONNECTION_LIMITS
        kw["limits"] = type(d)(max_connections=d.max_connections,
                               max_keepalive_connections=d.max_keepalive_connections,
                               keepalive_expiry=keepalive)
    # max_retries=0: every call is exactly one HTTP exchange.
    return openai.OpenAI(api_key=os.environ.get("OPENAI_API_KEY", "sk-mock-e2e-0000000000001234"),
                         max_retries=0, timeout=args.timeout,
                         http_client=openai.DefaultHttpxClient(http2=True, timeout=args.timeout, **kw))


def cmd_sdk(args):
    client = sync_client(args)
    for i in range(args.count):
        print(json.dumps(one_call(client, args.mode, args.model, args.words + i, args.max_tokens, i)),
              flush=True)


async def multiplex(args):
    http = openai.DefaultAsyncHttpxClient(http2=True, timeout=args.timeout)
    client = openai.AsyncOpenAI(api_key=os.environ.get("OPENAI_API_KEY", "sk-mock-e2e-0000000000001234"),
                                max_retries=0, timeout=args.timeout, http_client=http)
    start = asyncio.Event()

    async def call(i):
        await start.wait()
        out = base(args, "stream", args.model, i)
        t0 = time.monotonic()
        kw = {"model": args.model, "messages": messages(args.words + i)}
        if args.max_tokens:
            kw["max_tokens"] = args.max_tokens
        raw = await client.chat.completions.with_raw_response.create(
            stream=True, stream_options={"include_usage": True}, **kw)
        out["request_id"] = raw.headers.get("x-request-id", "")
        out["status"] = raw.status_code
        out["http_version"], out["local_port"] = conn_info(raw.http_response)
        usage, rid, rmodel, finish_reason = None, "", "", ""
        stream = raw.parse()
        async for chunk in stream:
            rid, rmodel = chunk.id, chunk.model
            for c in chunk.choices:
                finish_reason = c.finish_reason or finish_reason
            if chunk.usage is not None:
                usage = chunk.usage
        return finish(out, usage, rid, rmodel, finish_reason, t0)

    tasks = [asyncio.ensure_future(call(i)) for i in range(args.count)]
    start.set()
    results = await asyncio.gather(*tasks)
    await client.close()
    return results


def cmd_multiplex(args):
    results = asyncio.run(multiplex(args))
    for r in results:
        print(json.dumps(r), flush=True)
    ports = {r["local_port"] for r in results}
    versions = {r["http_version"] for r in results}
    if len(ports) != 1 or versions != {"HTTP/2"}:
        print("not one HTTP/2 connection: ports %s versions %s" % (ports, versions), file=sys.stderr)
        sys.exit(3)


def cmd_latejoin(args):
    # The connection must outlive the wait (the agent starting: up to 60 s).
    client = sync_client(args, keepalive=900)
    modes = ["stream", "nonstream"] if args.mode == "stream" else ["nonstream", "stream"]
    ports = set()
    for i in range(args.before + args.after):
        if i == args.before:
            print("waiting %d" % os.getpid(), file=sys.stderr, flush=True)
            if args.wait_file:
                while not os.path.exists(args.wait_file):
                    time.sleep(0.05)
            else:
                sys.stdin.readline()
        out = one_call(client, modes[i % 2], args.model, args.words + i, args.max_tokens, i)
        ports.add(out["local_port"])
        print(json.dumps(out), flush=True)
        if len(ports) != 1 or out["http_version"] != "HTTP/2":
            print("call %d left the first HTTP/2 connection: ports %s, %s"
                  % (i, ports, out["http_version"]), file=sys.stderr)
            sys.exit(3)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["sdk", "multiplex", "latejoin"])
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--mode", choices=["stream", "nonstream"], default="stream")
    ap.add_argument("--model", default="gpt-4o-mini")
    ap.add_argument("--words", type=int, default=5, help="words in the user message of call 0")
    ap.add_argument("--max-tokens", type=int, default=0)
    ap.add_argument("--before", type=int, default=2)
    ap.add_argument("--after", type=int, default=3)
    ap.add_argument("--wait-file", default="")
    ap.add_argument("--timeout", type=float, default=60.0)
    args = ap.parse_args()
    {"sdk": cmd_sdk, "multiplex": cmd_multiplex, "latejoin": cmd_latejoin}[args.command](args)


if __name__ == "__main__":
    main()

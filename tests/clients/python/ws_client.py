#!/usr/bin/env python3
"""OpenAI WebSocket APIs driven with the `websockets` client (sync API; TLS by
Python's ssl module, i.e. OpenSSL; CA from SSL_CERT_FILE), permessage-deflate
negotiated (``compression="deflate"``), everything on ONE connection:

* ``--api responses``: the Responses API WebSocket mode (as Codex CLI uses
  it): with ``--prewarm`` first a ``response.create`` with ``"generate":
  false``, then ``--count`` ``response.create`` messages, each continuing the
  previous response (``previous_response_id``); each read until
  ``response.completed`` / ``response.incomplete``.
* ``--api realtime``: the Realtime API: ``session.created``, a
  ``session.update`` (text output), then ``--count`` turns of
  ``conversation.item.create`` + ``response.create``, each read until
  ``response.done``. Turn 1 asks for audio output; turn 2's item also carries
  ``--audio-bytes`` of input audio (PCM16 silence).

``--url`` is the WebSocket URL (``wss://api.openai.com/v1/responses``,
``wss://api.openai.com/v1/realtime?model=gpt-realtime``, or an Azure OpenAI
one); ``--azure`` authenticates with ``api-key`` instead of ``Authorization``.

Prints one JSON line per response: what this process saw (pid, tid, comm,
response id and model, the raw usage, the event types, the connection's local
port and negotiated extensions). Exits 3 when permessage-deflate was not
negotiated.
"""
import argparse
import base64
import json
import os
import ssl
import sys
import threading
import time

from websockets.sync.client import connect


def comm():
    with open("/proc/self/comm") as f:
        return f.read().strip()


def words(n, tag):
    return " ".join("%s%d" % (tag, j) for j in range(n))


class Client:
    def __init__(self, args):
        self.args = args
        headers = {"api-key": args.api_key} if args.azure else {"Authorization": "Bearer " + args.api_key}
        if args.api == "responses" and not args.azure:
            headers["OpenAI-Beta"] = "responses_websockets=2026-02-06"
        # ssl.create_default_context() trusts SSL_CERT_FILE (the test CA).
        self.ws = connect(args.url, ssl=ssl.create_default_context(), compression="deflate",
                          additional_headers=headers, open_timeout=30, max_size=None)
        self.port = self.ws.socket.getsockname()[1]
        self.extensions = [e.name for e in self.ws.protocol.extensions]
        if "permessage-deflate" not in self.extensions:
            print("permessage-deflate not negotiated: %s" % self.extensions, file=sys.stderr)
            sys.exit(3)

    def send(self, obj):
        self.ws.send(json.dumps(obj))

    def until(self, *types):
        """Events received until one of `types` (inclusive)."""
        events = []
        while True:
            ev = json.loads(self.ws.recv(timeout=self.args.timeout))
            events.append(ev)
            if ev.get("type") == "error":
                print("server error event: %s" % ev, file=sys.stderr)
                sys.exit(4)
            if ev.get("type") in types:
                return events

    def line(self, index, **fields):
        out = {"client": "python-ws", "api": self.args.api, "pid": os.getpid(),
               "tid": threading.get_native_id(), "comm": comm(), "url": self.args.url,
               "model": self.args.model, "index": index, "local_port": self.port,
               "extensions": self.extensions}
        out.update(fields)
        print(json.dumps(out), flush=True)


def responses(c, args):
    tools = [{"type": "function", "name": "shell", "description": "Runs a shell command.",
              "parameters": {"type": "object", "properties": {"command": {"type": "string"}},
                             "required": ["command"]}, "strict": False}]
    base = {"type": "response.create", "model": args.model, "instructions": "You are a test.",
            "tools": tools, "tool_choice": "auto", "parallel_tool_calls": False, "store": False,
            "include": [], "prompt_cache_key": "e2e-ws-session"}
    prev = None
    turns = ([False] if args.prewarm else []) + [True] * args.count
    for i, generate in enumerate(turns):
        msg = dict(base, input=[{"type": "message", "role": "user",
                                 "content": [{"type": "input_text",
                                              "text": words(args.words + i, "word")}]}])
        if not generate:
            msg["generate"] = False
        if prev:
            msg["previous_response_id"] = prev
        t0 = time.monotonic()
        c.send(msg)
        events = c.until("response.completed", "response.incomplete", "response.failed")
        final = events[-1]["response"]
        prev = final["id"]
        c.line(i, generate=generate, response_id=final["id"], response_model=final["model"],
               status=final["status"], usage=final["usage"],
               events=[e["type"] for e in events], elapsed_ms=round((time.monotonic() - t0) * 1000, 3))


def realtime(c, args):
    created = c.until("session.created")[-1]
    c.send({"type": "session.update",
            "session": {"type": "realtime", "output_modalities": ["text"],
                        "instructions": "You are a test. Answer briefly."}})
    c.until("session.updated")
    for i in range(args.count):
        content = [{"type": "input_text", "text": words(args.words + i, "word")}]
        if i == 2:
            pcm = bytes(args.audio_bytes)
            content.append({"type": "input_audio", "audio": base64.b64encode(pcm).decode()})
        t0 = time.monotonic()
        c.send({"type": "conversation.item.create",
                "item": {"type": "message", "role": "user", "content": content}})
        c.until("conversation.item.done")
        response = {"output_modalities": ["audio"] if i == 1 else ["text"]}
        if args.max_tokens:
            response["max_output_tokens"] = args.max_tokens
        c.send({"type": "response.create", "response": response})
        events = c.until("response.done")
        final = events[-1]["response"]
        c.line(i, response_id=final["id"], response_model=created["session"].get("model", ""),
               status=final["status"], usage=final["usage"],
               output_modalities=final["output_modalities"],
               events=[e["type"] for e in events], elapsed_ms=round((time.monotonic() - t0) * 1000, 3))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--api", choices=["responses", "realtime"], required=True)
    ap.add_argument("--url", required=True)
    ap.add_argument("--model", required=True, help="the request's model (realtime: the URL's)")
    ap.add_argument("--azure", action="store_true")
    ap.add_argument("--api-key", default=os.environ.get("OPENAI_API_KEY", "sk-mock-e2e-0000000000001234"))
    ap.add_argument("--count", type=int, default=3)
    ap.add_argument("--prewarm", action="store_true")
    ap.add_argument("--words", type=int, default=5)
    ap.add_argument("--max-tokens", type=int, default=0)
    ap.add_argument("--audio-bytes", type=int, default=48000)
    ap.add_argument("--timeout", type=float, default=30.0)
    args = ap.parse_args()
    c = Client(args)
    with c.ws:
        (responses if args.api == "responses" else realtime)(c, args)


if __name__ == "__main__":
    main()

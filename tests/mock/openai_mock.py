#!/usr/bin/env python3
"""Mock OpenAI provider for llm-observer's end-to-end tests (run by the test
venv's Python: the stdlib plus ``h2`` and ``websockets``).

Speaks OpenAI's wire format over TLS, HTTP/2 or HTTP/1.1 (keep-alive), as ALPN
chooses (the server offers ``h2`` then ``http/1.1``; no ALPN means HTTP/1.1).
HTTP/2 (``h2_server.py``) runs the same request handlers on each stream:

* ``POST /v1/chat/completions``: a chat completion object (``Content-Length``) or,
  with ``"stream": true``, Server-Sent Events over chunked transfer encoding:
  a role-only first delta, one chunk per content piece, a finish chunk, then
  (with ``stream_options.include_usage``) a usage chunk whose ``choices`` is
  ``[]``, then ``data: [DONE]``.  With include_usage every other chunk carries
  ``"usage": null``, as the API does.
* Usage is deterministic: ``prompt_tokens`` = number of whitespace separated
  words in all message contents + 3 per message; ``completion_tokens`` = number
  of content pieces (``max_completion_tokens`` / ``max_tokens``, default 8,
  capped at 64) plus reasoning tokens (model ``o4-mini``: 2); finish_reason is
  ``length`` when a max was given, else ``stop``.  Model names ending
  in ``-cached`` report ``cached_tokens`` = prompt_tokens // 2.  Model names
  ending in ``-long`` make each content piece 2 KiB long (large bodies: 64
  pieces are 128 KiB), the token counts unchanged.
* Error models: ``mock-429`` (rate limit, ``retry-after``), ``mock-500``,
  ``mock-401``: the API's error object ``{"error": {message,type,param,code}}``.
* ``GET /download/<n>``: n bytes of binary data (any Host, e.g.
  downloads.example.test), ``Content-Length``.

* Other APIs, routed by Host header and path (all hosts on 127.0.0.1:443,
  one certificate with every name): ``/v1/responses`` and ``/v1/embeddings``
  (``openai_more_mock.py``), ``api.anthropic.com`` ``/v1/messages``
  (``anthropic_mock.py``), ``generativelanguage.googleapis.com``
  ``:generateContent`` / ``:streamGenerateContent`` (``gemini_mock.py``),
  ``bedrock-runtime.us-east-1.amazonaws.com`` ``/model/{id}/converse[-stream]``
  and ``/invoke[-with-response-stream]`` (``bedrock_mock.py``). Their
  non-stream responses (Anthropic's and Bedrock's excepted) are gzipped when the request's
  ``Accept-Encoding`` lists gzip. They log ``kind`` ``responses``,
  ``embeddings``, ``anthropic``, ``gemini``, ``bedrock`` with the raw provider
  ``usage``.

* WebSocket (``ws_server.py``, a GET with ``Upgrade: websocket`` over
  HTTP/1.1, permessage-deflate): the Responses API WebSocket mode on
  ``/v1/responses`` and the Realtime API on ``/v1/realtime?model=…``, and the
  Azure OpenAI paths on ``myres.openai.azure.com``; one log line per response
  (``kind`` ``ws_responses`` / ``realtime``). Responses upgrades for a model
  ending in ``-no-ws`` are refused (``426``, ``kind`` ``ws_refused``): the
  client falls back to ``POST /v1/responses``.

Every served call is appended as one JSON line to ``--log``, with
``http_version`` (``"1.1"`` or ``"2"``) and the client's port ``peer_port``
(one port per connection: calls multiplexed on one HTTP/2 connection share it).
"""
import argparse
import gzip
import http.server
import json
import os
import socket
import ssl
import sys
import threading
import time
import uuid

import anthropic_mock  # noqa: E402 (siblings in this directory)
import bedrock_mock
import gemini_mock
import h2_server
import openai_more_mock
import ws_server

OTHER_HOSTS = (anthropic_mock.HOST, gemini_mock.HOST, bedrock_mock.HOST)
ORGANIZATION = "org-mockllmobserver"
OPENAI_VERSION = "2020-10-01"
RESPONSE_MODEL_SUFFIX = "-2024-07-18"

REASONING_MODELS = {"o4-mini": 2}
LONG_PIECE_PAD = 2044  # "w<i>" + pad + " " is about 2 KiB
ERRORS = {
    "mock-429": (429, "Too Many Requests", {
        "message": "Rate limit reached for mock-429 in organization "
                   "org-mockllmobserver on requests per min (RPM): Limit 3, Used 3, "
                   "Requested 1. Please try again in 20s.",
        "type": "requests", "param": None, "code": "rate_limit_exceeded"}),
    "mock-500": (500, "Internal Server Error", {
        "message": "The server had an error while processing your request. Sorry about that!",
        "type": "server_error", "param": None, "code": None}),
    "mock-401": (401, "Unauthorized", {
        "message": "Incorrect API key provided: sk-mock***********1234.",
        "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}),
}
_BLOCK = bytes((i * 131 + 7) % 256 for i in range(65536))


def prompt_tokens(messages):
    words = 0
    for m in messages:
        content = m.get("content") or ""
        if isinstance(content, list):
            content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
        words += len(str(content).split())
    return words + 3 * len(messages)


def pieces_for(req):
    n = req.get("max_completion_tokens") or req.get("max_tokens") or 8
    return max(1, min(int(n), 64))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mock-openai"
    sys_version = ""
    # The log's `http_version` for calls this handler serves.
    HTTP_VERSION_LABEL = "1.1"

    def setup(self):
        self.request.settimeout(30)
        self.tls_ok = False
        try:
            self.request.do_handshake()
            self.tls_ok = True
        except (ssl.SSLError, OSError):
            self.close_connection = True
        super().setup()

    def handle(self):
        """HTTP/2 when ALPN chose h2 (``h2_server``), else HTTP/1.1."""
        if self.tls_ok and self.request.selected_alpn_protocol() == "h2":
            h2_server.serve_connection(self.request, self.client_address, self.server, H2Handler)
            self.close_connection = True
            return
        super().handle()

    def log_call(self, entry):
        """Appends `entry` to the call log with this exchange's HTTP version
        and the client's port."""
        entry["http_version"] = self.HTTP_VERSION_LABEL
        entry.setdefault("peer_port", self.client_address[1])
        self.server.log(entry)

    def log_message(self, fmt, *args):  # quiet: the JSONL log is the record
        if self.server.verbose:
            sys.stderr.write("mock: " + (fmt % args) + "\n")

    def common_headers(self, request_id, processing_ms):
        self.send_header("x-request-id", request_id)
        self.send_header("openai-organization", ORGANIZATION)
        self.send_header("openai-processing-ms", str(processing_ms))
        self.send_header("openai-version", OPENAI_VERSION)
        self.send_header("x-ratelimit-limit-requests", "10000")
        self.send_header("x-ratelimit-remaining-requests", "9999")
        self.send_header("x-ratelimit-reset-requests", "6ms")

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def do_GET(self):
        if "websocket" in self.headers.get("Upgrade", "").lower():
            ws_server.handle_upgrade(self)
            self.close_connection = True
            return
        parts = self.path.split("/")
        if len(parts) == 3 and parts[1] == "download" and parts[2].isdigit():
            n = int(parts[2])
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(n))
            self.end_headers()
            sent = 0
            while sent < n:
                piece = _BLOCK[: min(len(_BLOCK), n - sent)]
                self.wfile.write(piece)
                sent += len(piece)
            self.log_call({"kind": "download", "bytes": n})
            return
        self.send_json(404, {"error": {"message": "Invalid URL (GET %s)" % self.path,
                                       "type": "invalid_request_error", "param": None,
                                       "code": None}}, "req_" + uuid.uuid4().hex, 0)

    def send_body(self, status, body, content_type, headers, compress=False):
        """Sends a whole body; gzips it (``Content-Encoding: gzip``) when
        `compress` and the request's Accept-Encoding lists gzip, as the real
        APIs do. Returns whether it was gzipped."""
        gz = compress and "gzip" in self.headers.get("Accept-Encoding", "").lower()
        if gz:
            body = gzip.compress(body)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if gz:
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Vary", "Accept-Encoding")
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        return gz

    def send_json(self, status, obj, request_id, processing_ms, extra=(), compress=False):
        """An OpenAI JSON response (OpenAI's headers); see `send_body`."""
        body = json.dumps(obj, separators=(",", ":")).encode()
        headers = [("x-request-id", request_id), ("openai-organization", ORGANIZATION),
                   ("openai-processing-ms", str(processing_ms)), ("openai-version", OPENAI_VERSION),
                   ("x-ratelimit-limit-requests", "10000"), ("x-ratelimit-remaining-requests", "9999"),
                   ("x-ratelimit-reset-requests", "6ms")]
        return self.send_body(status, body, "application/json", headers + list(extra), compress)

    def start_sse(self, request_id, headers=None, content_type="text/event-stream; charset=utf-8"):
        """Status line and headers of a chunked SSE response (OpenAI's headers
        unless `headers` is given)."""
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        if headers is None:
            self.common_headers(request_id, 1)
        else:
            for k, v in headers:
                self.send_header(k, v)
        self.end_headers()
        self.wfile.flush()

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def do_POST(self):
        started = time.monotonic()
        raw = self.read_body()
        request_id = "req_" + uuid.uuid4().hex
        host = self.headers.get("Host", "").split(":")[0].lower()
        if host in OTHER_HOSTS or self.path.split("?")[0] in ("/v1/responses", "/v1/embeddings"):
            self.other_post(host, raw, request_id)
            return
        if self.path.split("?")[0] != "/v1/chat/completions":
            self.send_json(404, {"error": {"message": "Invalid URL (POST %s)" % self.path,
                                           "type": "invalid_request_error", "param": None,
                                           "code": None}}, request_id, 0)
            return
        try:
            req = json.loads(raw)
            model = req["model"]
            messages = req["messages"]
        except (ValueError, KeyError, TypeError):
            self.send_json(400, {"error": {"message": "We could not parse the JSON body of your request.",
                                           "type": "invalid_request_error", "param": None,
                                           "code": None}}, request_id, 1)
            return
        stream = bool(req.get("stream"))
        include_usage = stream and bool((req.get("stream_options") or {}).get("include_usage"))
        entry = {"kind": "chat", "request_id": request_id, "model": model, "stream": stream,
                 "include_usage": include_usage, "peer_port": self.client_address[1]}
        if model in ERRORS:
            status, _, err = ERRORS[model]
            extra = [("retry-after", "20"), ("x-ratelimit-remaining-requests-left", "0")] if status == 429 else []
            self.send_json(status, {"error": err}, request_id, 2, extra)
            entry.update(status=status, response_id="", response_model="", prompt_tokens=0,
                         completion_tokens=0, cached_tokens=0, reasoning_tokens=0,
                         error_type=err["type"], finish_reason="")
            self.log_call(entry)
            return
        pt = prompt_tokens(messages)
        n = pieces_for(req)
        reasoning = REASONING_MODELS.get(model, 0)
        cached = pt // 2 if model.endswith("-cached") else 0
        usage = {"prompt_tokens": pt, "completion_tokens": n + reasoning,
                 "total_tokens": pt + n + reasoning,
                 "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
                 "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": 0,
                                               "accepted_prediction_tokens": 0,
                                               "rejected_prediction_tokens": 0}}
        response_model = openai_more_mock.served_model(model) + RESPONSE_MODEL_SUFFIX
        response_id = "chatcmpl-" + uuid.uuid4().hex[:29]
        created = int(time.time())
        pad = "x" * LONG_PIECE_PAD if model.endswith("-long") else ""
        words = ["w%d%s " % (i, pad) for i in range(n)]
        finish = "length" if (req.get("max_completion_tokens") or req.get("max_tokens")) else "stop"
        processing_ms = int((time.monotonic() - started) * 1000) + 1
        if not stream:
            obj = {"id": response_id, "object": "chat.completion", "created": created,
                   "model": response_model,
                   "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(words),
                                                        "refusal": None, "annotations": []},
                                "logprobs": None, "finish_reason": finish}],
                   "usage": usage, "service_tier": "default", "system_fingerprint": "fp_mock0001"}
            self.send_json(200, obj, request_id, processing_ms)
        else:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Cache-Control", "no-cache")
            self.common_headers(request_id, processing_ms)
            self.end_headers()
            self.wfile.flush()

            def event(choices, usage_value=None, with_usage=include_usage):
                obj = {"id": response_id, "object": "chat.completion.chunk", "created": created,
                       "model": response_model, "service_tier": "default",
                       "system_fingerprint": "fp_mock0001", "choices": choices}
                if with_usage:
                    obj["usage"] = usage_value
                self.chunk(b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n")

            delay = self.server.piece_delay
            event([{"index": 0, "delta": {"role": "assistant", "content": "", "refusal": None},
                    "logprobs": None, "finish_reason": None}])
            for w in words:
                time.sleep(delay)
                event([{"index": 0, "delta": {"content": w}, "logprobs": None, "finish_reason": None}])
            event([{"index": 0, "delta": {}, "logprobs": None, "finish_reason": finish}])
            if include_usage:
                event([], usage)
            self.chunk(b"data: [DONE]\n\n")
            self.chunk(b"")
        entry.update(status=200, response_id=response_id, response_model=response_model,
                     prompt_tokens=pt, completion_tokens=n + reasoning, cached_tokens=cached,
                     reasoning_tokens=reasoning, error_type="", finish_reason=finish)
        self.log_call(entry)


    def other_post(self, host, raw, request_id):
        """Routes by Host header and path to the sibling mocks (Anthropic,
        Gemini, OpenAI Responses and Embeddings) and logs what they served."""
        path = self.path.split("?")[0]
        try:
            req = json.loads(raw)
        except ValueError:
            req = None
        if not isinstance(req, dict):
            self.send_json(400, {"error": {"message": "bad JSON", "type": "invalid_request_error",
                                           "param": None, "code": None}}, request_id, 1)
            return
        delay = self.server.piece_delay
        if host == anthropic_mock.HOST and path == "/v1/messages":
            entry = anthropic_mock.handle(self, req, delay)
        elif host == gemini_mock.HOST and gemini_mock.is_model_path(path) and (
                path.endswith(":generateContent") or path.endswith(":streamGenerateContent")):
            entry = gemini_mock.handle(self, self.path, req, delay)
        elif host == bedrock_mock.HOST and bedrock_mock.split_path(path) is not None:
            entry = bedrock_mock.handle(self, self.path, req, delay)
        elif host not in OTHER_HOSTS and path == "/v1/responses":
            entry = openai_more_mock.handle_responses(self, req, request_id, delay)
        elif host not in OTHER_HOSTS and path == "/v1/embeddings":
            entry = openai_more_mock.handle_embeddings(self, req, request_id)
        else:
            self.send_json(404, {"error": {"message": "Invalid URL (POST %s)" % self.path,
                                           "type": "invalid_request_error", "param": None,
                                           "code": None}}, request_id, 0)
            return
        entry["peer_port"] = self.client_address[1]
        self.log_call(entry)


class H2Handler(h2_server.H2Exchange, Handler):
    """The same handlers on one HTTP/2 stream (see ``h2_server``)."""


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, ctx, log_path, piece_delay, verbose):
        self.ctx = ctx
        self.log_lock = threading.Lock()
        self.log_file = open(log_path, "a", buffering=1)
        self.piece_delay = piece_delay
        self.verbose = verbose
        super().__init__(addr, Handler)

    def get_request(self):
        sock, addr = self.socket.accept()
        # The handshake runs in the handler's thread (setup), so a client that
        # stalls or sends garbage cannot block accept().
        return self.ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def log(self, entry):
        entry["ts"] = time.time()
        with self.log_lock:
            self.log_file.write(json.dumps(entry) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=443)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--piece-delay-ms", type=float, default=2.0)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    srv = Server((args.host, args.port), ctx, args.log, args.piece_delay_ms / 1000.0, args.verbose)
    print("mock listening on %s:%d pid %d" % (args.host, args.port, os.getpid()), flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

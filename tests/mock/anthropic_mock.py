"""Anthropic Messages (``POST /v1/messages`` on api.anthropic.com) for
``openai_mock.py`` (Python 3 stdlib only), in the API's wire format.

* Non-stream: a ``message`` object (``msg_…``, ``model``, ``stop_reason``,
  ``usage``), ``Content-Length``, not compressed.
* Stream (``"stream": true``): ``event: <type>`` + ``data: {…}`` over chunked
  encoding: ``message_start`` (the message, usage with the input and cache
  counts and ``output_tokens: 1``), ``content_block_start``, ``ping``, one
  ``content_block_delta`` (``text_delta``) per piece, ``content_block_stop``,
  ``message_delta`` (``stop_reason``; cumulative usage, input and cache counts
  repeated as newer API versions do), ``message_stop``.
* Headers: ``request-id: req_…``, ``anthropic-organization-id``.
* Errors: model ``mock-429`` → 429 ``{"type":"error","error":{"type":
  "rate_limit_error","message"},"request_id"}`` with ``retry-after``.

Usage (deterministic): ``input_tokens`` = words of system + messages + 3 per
message, EXCLUDING cache; models ending in ``-cached`` also report
``cache_read_input_tokens`` = 1000 + input_tokens and
``cache_creation_input_tokens`` = 200 (all 5-minute writes). ``output_tokens`` =
pieces = min(max_tokens, 8); ``stop_reason`` is ``max_tokens`` when max_tokens
< 8, else ``end_turn``.
"""
import json
import time
import uuid

HOST = "api.anthropic.com"
ORG_ID = "5d2c7a1e-9b3f-4e8a-a6c1-2f0e8d4b7c93"
MODEL_DATES = {"claude-sonnet-4-5": "-20250929", "claude-haiku-4-5": "-20251001"}


def _words(content):
    if isinstance(content, list):
        content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return len(str(content or "").split())


def _headers(request_id):
    return [("request-id", request_id), ("anthropic-organization-id", ORG_ID),
            ("anthropic-ratelimit-requests-limit", "4000"),
            ("anthropic-ratelimit-requests-remaining", "3999")]


def handle(h, req, piece_delay):
    request_id = "req_011C" + uuid.uuid4().hex[:20]
    model = req.get("model", "")
    stream = bool(req.get("stream"))
    entry = {"kind": "anthropic", "provider": "anthropic", "operation": "messages",
             "request_id": request_id, "model": model, "stream": stream}
    if model == "mock-429":
        body = {"type": "error", "error": {"type": "rate_limit_error",
                                           "message": "Number of request tokens has exceeded your per-minute rate limit"},
                "request_id": request_id}
        h.send_body(429, json.dumps(body).encode(), "application/json",
                    _headers(request_id) + [("retry-after", "20")])
        entry.update(status=429, response_id="", response_model="", finish_reason="", usage=None)
        return entry
    messages = req.get("messages") or []
    inp = sum(_words(m.get("content")) for m in messages) + 3 * len(messages) + _words(req.get("system"))
    base = model[: -len("-cached")] if model.endswith("-cached") else model
    cached = model.endswith("-cached")
    cache_read = 1000 + inp if cached else 0
    cache_write = 200 if cached else 0
    max_tokens = int(req.get("max_tokens") or 8)
    pieces = max(1, min(max_tokens, 8))
    stop = "max_tokens" if max_tokens < 8 else "end_turn"
    rmodel = base + MODEL_DATES.get(base, "-20250101")
    msg_id = "msg_01" + uuid.uuid4().hex[:22]
    words = ["a%d " % i for i in range(pieces)]
    usage = {"input_tokens": inp, "cache_creation_input_tokens": cache_write,
             "cache_read_input_tokens": cache_read,
             "cache_creation": {"ephemeral_5m_input_tokens": cache_write, "ephemeral_1h_input_tokens": 0},
             "output_tokens": pieces, "service_tier": "standard"}
    entry.update(status=200, response_id=msg_id, response_model=rmodel, finish_reason=stop, usage=usage)
    if not stream:
        obj = {"id": msg_id, "type": "message", "role": "assistant", "model": rmodel,
               "content": [{"type": "text", "text": "".join(words)}],
               "stop_reason": stop, "stop_sequence": None, "usage": usage}
        h.send_body(200, json.dumps(obj).encode(), "application/json", _headers(request_id))
        return entry
    h.start_sse(request_id, headers=_headers(request_id))

    def ev(ty, obj):
        obj = dict(type=ty, **obj)
        h.chunk(("event: %s\ndata: %s\n\n" % (ty, json.dumps(obj, separators=(",", ":")))).encode())

    start_usage = dict(usage, output_tokens=1)
    ev("message_start", {"message": {"id": msg_id, "type": "message", "role": "assistant", "model": rmodel,
                                     "content": [], "stop_reason": None, "stop_sequence": None,
                                     "usage": start_usage}})
    ev("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
    ev("ping", {})
    for w in words:
        time.sleep(piece_delay)
        ev("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": w}})
    ev("content_block_stop", {"index": 0})
    ev("message_delta", {"delta": {"stop_reason": stop, "stop_sequence": None},
                         "usage": {"input_tokens": inp, "cache_creation_input_tokens": cache_write,
                                   "cache_read_input_tokens": cache_read, "output_tokens": pieces}})
    ev("message_stop", {})
    h.chunk(b"")
    return entry

"""OpenAI Responses (``POST /v1/responses``) and Embeddings (``POST /v1/embeddings``)
for ``openai_mock.py`` (Python 3 stdlib only), in the API's wire format.

* Responses, non-stream: a ``response`` object (``resp_…``, ``status``
  ``completed``, or ``incomplete`` with ``incomplete_details.reason =
  max_output_tokens`` when ``max_output_tokens`` is given) with ``usage``
  (``input_tokens``, ``input_tokens_details.cached_tokens``, ``output_tokens``,
  ``output_tokens_details.reasoning_tokens``). gzip when the request accepts it.
* Responses, stream: ``event: <type>`` + ``data: {"type", "sequence_number", …}``
  events: ``response.created``, ``response.in_progress`` (usage null),
  ``response.output_item.added``, ``response.content_part.added``, one
  ``response.output_text.delta`` per piece, ``response.output_text.done``,
  ``response.content_part.done``, ``response.output_item.done``, then
  ``response.completed`` (or ``response.incomplete``) carrying the final object
  with usage. No ``[DONE]``.
* Embeddings: ``{"object": "list", "data": [{"object": "embedding", "index",
  "embedding"}], "model", "usage": {"prompt_tokens", "total_tokens"}}``; the
  vector is a float list, or base64 of little-endian float32 when
  ``encoding_format`` is ``base64`` (the Python SDK's default). gzip when accepted.

Token rules (deterministic): input = words of the input text + 3 per message
(a string input is one message); ``-cached`` models: cached = input // 2;
output = pieces (``max_output_tokens`` or 8, capped at 64) + reasoning
(``o4-mini``: 2).
"""
import base64
import json
import struct
import time
import uuid

RESPONSE_MODEL_SUFFIX = "-2025-04-14"
# Models ending in this: a WebSocket upgrade naming one is refused
# (``ws_server.handle_upgrade``); over HTTPS they are served as usual.
NO_WEBSOCKET_SUFFIX = "-no-ws"


def served_model(model):
    """The model a response names: the test switches ``-cached``, ``-long``
    and ``-no-ws`` are not part of it (the real API names the model that
    served)."""
    for switch in ("-cached", "-long", NO_WEBSOCKET_SUFFIX):
        if model.endswith(switch):
            return model[: -len(switch)]
    return model


REASONING_MODELS = {"o4-mini": 2}
EMBED_DIMS = 8


def _input_tokens(inp):
    if isinstance(inp, str):
        return len(inp.split()) + 3
    words = 0
    for m in inp or []:
        content = m.get("content") if isinstance(m, dict) else m
        if isinstance(content, list):
            content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
        words += len(str(content or "").split())
    return words + 3 * len(inp or [])


def _embed_tokens(inp):
    items = [inp] if isinstance(inp, str) else list(inp or [])
    return sum(len(str(x).split()) if isinstance(x, str) else len(x) for x in items), len(items)


def handle_embeddings(h, req, request_id):
    model = req["model"]
    tokens, n = _embed_tokens(req.get("input"))
    data = []
    for i in range(n):
        vec = [round(0.01 * (i + 1) * (j + 1), 4) for j in range(EMBED_DIMS)]
        if req.get("encoding_format") == "base64":
            emb = base64.b64encode(struct.pack("<%df" % len(vec), *vec)).decode()
        else:
            emb = vec
        data.append({"object": "embedding", "index": i, "embedding": emb})
    obj = {"object": "list", "data": data, "model": model,
           "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
    gz = h.send_json(200, obj, request_id, 3, compress=True)
    return {"kind": "embeddings", "provider": "openai", "operation": "embeddings",
            "request_id": request_id, "model": model, "stream": False, "status": 200,
            "response_id": "", "response_model": model, "finish_reason": "", "gzip": gz,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


def _response_obj(rid, model, created, status, text, msg_id, usage, max_out, incomplete,
                  with_output=True):
    done = status != "in_progress"
    return {
        "id": rid, "object": "response", "created_at": created, "status": status,
        "background": False, "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
        "instructions": None, "max_output_tokens": max_out, "max_tool_calls": None,
        "model": model,
        "output": [{"id": msg_id, "type": "message", "status": "incomplete" if incomplete else "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "annotations": [], "logprobs": [], "text": text}]}]
        if done and with_output else [],
        "parallel_tool_calls": True, "previous_response_id": None, "prompt_cache_key": None,
        "reasoning": {"effort": None, "summary": None}, "safety_identifier": None,
        "service_tier": "default", "store": True, "temperature": 1.0,
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": "auto", "tools": [], "top_logprobs": 0, "top_p": 1.0, "truncation": "disabled",
        "usage": usage if done else None, "user": None, "metadata": {},
    }


def plan_response(req, context_tokens=0):
    """What a ``response.create`` / ``POST /v1/responses`` body gets: ids,
    the served model, the words and the usage (the token rules above).
    `context_tokens`: tokens of an earlier response this one continues
    (``previous_response_id`` on a WebSocket), counted as input and cached.
    ``"generate": false`` (WebSocket prewarm): no output, 0 output tokens."""
    model = req["model"]
    generate = req.get("generate", True) is not False
    max_out = req.get("max_output_tokens")
    pieces = max(1, min(int(max_out or 8), 64)) if generate else 0
    reasoning = REASONING_MODELS.get(model, 0) if generate else 0
    it = _input_tokens(req.get("input")) + context_tokens
    if context_tokens:
        cached = context_tokens
    else:
        cached = it // 2 if model.endswith("-cached") else 0
    usage = {"input_tokens": it, "input_tokens_details": {"cached_tokens": cached},
             "output_tokens": pieces + reasoning,
             "output_tokens_details": {"reasoning_tokens": reasoning},
             "total_tokens": it + pieces + reasoning}
    incomplete = bool(max_out) and generate
    words = ["r%d " % i for i in range(pieces)]
    return {
        "model": model, "generate": generate, "max_out": max_out, "usage": usage,
        "incomplete": incomplete, "final_status": "incomplete" if incomplete else "completed",
        "rid": "resp_" + uuid.uuid4().hex + uuid.uuid4().hex[:16],
        "msg_id": "msg_" + uuid.uuid4().hex + uuid.uuid4().hex[:16],
        "rmodel": served_model(model) + RESPONSE_MODEL_SUFFIX, "created": int(time.time()),
        "words": words, "text": "".join(words),
    }


def final_object(p):
    """The finished response object (non-stream body, ``response.completed``)."""
    return _response_obj(p["rid"], p["rmodel"], p["created"], p["final_status"], p["text"],
                         p["msg_id"], p["usage"], p["max_out"], p["incomplete"],
                         with_output=p["generate"])


def stream_events(p, piece_delay):
    """The Responses streaming events of plan `p`, in order, as dicts with
    ``type`` and ``sequence_number``: the SSE stream's ``data`` and the
    WebSocket mode's text messages alike. A prewarm (no output) is
    ``response.created`` then ``response.completed``."""
    seq = [0]

    def ev(ty, **fields):
        data = dict(type=ty, sequence_number=seq[0], **fields)
        seq[0] += 1
        return data

    rid, rmodel, created, msg_id = p["rid"], p["rmodel"], p["created"], p["msg_id"]
    usage, max_out, text, words = p["usage"], p["max_out"], p["text"], p["words"]
    start = _response_obj(rid, rmodel, created, "in_progress", "", msg_id, usage, max_out, False)
    yield ev("response.created", response=start)
    if not p["generate"]:
        yield ev("response.completed", response=final_object(p))
        return
    yield ev("response.in_progress", response=start)
    item = {"id": msg_id, "type": "message", "status": "in_progress", "content": [], "role": "assistant"}
    yield ev("response.output_item.added", output_index=0, item=item)
    part = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
    yield ev("response.content_part.added", item_id=msg_id, output_index=0, content_index=0, part=part)
    for w in words:
        time.sleep(piece_delay)
        yield ev("response.output_text.delta", item_id=msg_id, output_index=0, content_index=0, delta=w,
                 logprobs=[], obfuscation="x")
    yield ev("response.output_text.done", item_id=msg_id, output_index=0, content_index=0, text=text,
             logprobs=[])
    yield ev("response.content_part.done", item_id=msg_id, output_index=0, content_index=0,
             part=dict(part, text=text))
    yield ev("response.output_item.done", output_index=0,
             item=dict(item, status="incomplete" if p["incomplete"] else "completed",
                       content=[dict(part, text=text)]))
    yield ev("response." + p["final_status"], response=final_object(p))


def handle_responses(h, req, request_id, piece_delay):
    stream = bool(req.get("stream"))
    p = plan_response(req)
    entry = {"kind": "responses", "provider": "openai", "operation": "responses",
             "request_id": request_id, "model": p["model"], "stream": stream, "status": 200,
             "response_id": p["rid"], "response_model": p["rmodel"],
             "finish_reason": "max_output_tokens" if p["incomplete"] else "completed",
             "usage": p["usage"]}
    if not stream:
        entry["gzip"] = h.send_json(200, final_object(p), request_id, 4, compress=True)
        return entry
    h.start_sse(request_id)
    for data in stream_events(p, piece_delay):
        h.chunk(("event: %s\ndata: %s\n\n" % (data["type"], json.dumps(data, separators=(",", ":")))).encode())
    h.chunk(b"")
    entry["gzip"] = False
    return entry

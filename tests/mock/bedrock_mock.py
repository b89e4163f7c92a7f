"""Amazon Bedrock Runtime (``bedrock-runtime.us-east-1.amazonaws.com``) for
``openai_mock.py`` (Python 3 stdlib only), in the API's wire format. SigV4 is
NOT validated: any ``Authorization`` is accepted (and logged, so the tests can
check the agent never writes it).

* ``POST /model/{modelId}/converse``: ``{"output":{"message":…},"stopReason",
  "usage":{inputTokens, outputTokens, totalTokens[, cacheReadInputTokens,
  cacheWriteInputTokens]},"metrics":{"latencyMs"}}``, ``Content-Length``.
* ``/converse-stream``: ``application/vnd.amazon.eventstream`` over chunked
  encoding, one event-stream message per chunk (prelude: total and headers
  length + CRC32; string headers ``:event-type``, ``:content-type``
  application/json, ``:message-type`` event; JSON payload with AWS's ``p``
  padding; message CRC32): ``messageStart``, one ``contentBlockDelta`` per
  piece, ``contentBlockStop``, ``messageStop``, ``metadata`` (usage, metrics).
* ``/invoke``: Anthropic-native body (``anthropic_version`` bedrock-2023-05-31)
  → an Anthropic ``message`` (``msg_bdrk_…``) with the
  ``X-Amzn-Bedrock-{Input,Output}-Token-Count`` headers (and the cache-read /
  cache-write count headers) and ``X-Amzn-Bedrock-Invocation-Latency``.
* ``/invoke-with-response-stream``: ``chunk`` events whose payload is
  ``{"bytes": base64(<Anthropic stream event JSON>)}``: message_start,
  content_block_start, content_block_delta per piece, content_block_stop,
  message_delta, message_stop carrying ``amazon-bedrock-invocationMetrics``.
* Every response has ``x-amzn-RequestId`` (a UUID).
* ConverseStream with a model id containing ``midstream-throttled``: HTTP 200,
  ``messageStart``, one ``contentBlockDelta``, then an ``exception`` message
  (``:message-type`` exception, ``:exception-type`` throttlingException,
  payload ``{"message": …}``) and the end of the body; logged with
  ``stream_error_type`` ``rate_limited`` and no usage.
* Other model ids containing ``throttled`` → HTTP 429,
  ``x-amzn-ErrorType: ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/``,
  body ``{"message": …}``.

Usage (deterministic), Bedrock's convention: ``inputTokens`` = words of the
system and message texts + 3 per message, EXCLUDING cache; a request with a
cache marker (Converse ``cachePoint`` block, Anthropic ``cache_control``)
also reports cacheRead = 1000 + inputTokens and cacheWrite = 200.
``outputTokens`` = pieces = min(maxTokens, 8); the stop reason is
``max_tokens`` when maxTokens < 8, else ``end_turn``.

The log entry (``kind`` ``bedrock``) has the decoded model id, the raw path,
Converse-style ``usage`` (inputTokens, outputTokens, cacheReadInputTokens,
cacheWriteInputTokens), ``Authorization`` and ``amz-sdk-request`` headers
(``openai_mock`` adds ``http_version``: ``1.1``, or ``2`` over HTTP/2).
"""
import base64
import json
import struct
import time
import urllib.parse
import uuid
import zlib

HOST = "bedrock-runtime.us-east-1.amazonaws.com"
OPS = {"converse": ("converse", False), "converse-stream": ("converse", True),
       "invoke": ("invoke", False), "invoke-with-response-stream": ("invoke", True)}
THROTTLE_TYPE = "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/"


def split_path(path):
    """``/model/{modelId}/{op}`` → (decoded model id, op) or None."""
    path = path.split("?")[0]
    if not path.startswith("/model/"):
        return None
    model, _, op = path[len("/model/"):].rpartition("/")
    if not model or op not in OPS:
        return None
    return urllib.parse.unquote(model), op


def _header(name, value):
    n, v = name.encode(), value.encode()
    return struct.pack(">B", len(n)) + n + b"\x07" + struct.pack(">H", len(v)) + v


def es_message(headers, payload):
    """One ``application/vnd.amazon.eventstream`` message (string headers)."""
    hb = b"".join(_header(k, v) for k, v in headers)
    prelude = struct.pack(">II", 12 + len(hb) + len(payload) + 4, len(hb))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    msg = prelude + hb + payload
    return msg + struct.pack(">I", zlib.crc32(msg))


def es_event(event_type, obj):
    return es_message([(":event-type", event_type), (":content-type", "application/json"),
                       (":message-type", "event")],
                      json.dumps(obj, separators=(",", ":")).encode())


def _pad(n):
    return "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456"[: 1 + n % 40]


def _text_words(content):
    if isinstance(content, str):
        return len(content.split())
    if isinstance(content, list):
        return sum(len(str(b.get("text", "")).split()) for b in content if isinstance(b, dict))
    return 0


def _has_cache_marker(obj):
    if isinstance(obj, dict):
        if "cachePoint" in obj or "cache_control" in obj:
            return True
        return any(_has_cache_marker(v) for v in obj.values())
    if isinstance(obj, list):
        return any(_has_cache_marker(v) for v in obj)
    return False


def _anthropic_model(model_id):
    """``…anthropic.claude-3-5-haiku-20241022-v1:0`` → ``claude-3-5-haiku-20241022``."""
    name = model_id.rsplit("/", 1)[-1]
    name = name.split("anthropic.", 1)[-1]
    return name.split("-v", 1)[0] if "-v" in name else name


def handle(h, path, req, piece_delay):
    model, op_name = split_path(path)
    operation, stream = OPS[op_name]
    request_id = str(uuid.uuid4())
    entry = {"kind": "bedrock", "provider": "bedrock", "operation": operation,
             "request_id": request_id, "model": model, "path": path, "stream": stream,
             "authorization": h.headers.get("Authorization", ""),
             "amz_sdk_request": h.headers.get("amz-sdk-request", "")}
    base_headers = [("x-amzn-RequestId", request_id)]
    if "midstream-throttled" in model and op_name == "converse-stream":
        h.start_sse(request_id, headers=base_headers, content_type="application/vnd.amazon.eventstream")
        h.chunk(es_event("messageStart", {"p": _pad(7), "role": "assistant"}))
        time.sleep(piece_delay)
        h.chunk(es_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "b0 "},
                                               "p": _pad(3)}))
        h.chunk(es_message([(":exception-type", "throttlingException"),
                            (":content-type", "application/json"),
                            (":message-type", "exception")],
                           b'{"message":"Too many tokens, please wait before trying again."}'))
        h.chunk(b"")
        entry.update(status=200, response_id="", response_model="", finish_reason="", usage=None,
                     stream_error_type="rate_limited")
        return entry
    if "throttled" in model:
        body = json.dumps({"message": "Too many requests, please wait before trying again."}).encode()
        h.send_body(429, body, "application/json",
                    base_headers + [("x-amzn-ErrorType", THROTTLE_TYPE)])
        entry.update(status=429, response_id="", response_model="", finish_reason="", usage=None)
        return entry

    if operation == "converse":
        messages = req.get("messages") or []
        inp = (sum(_text_words(m.get("content")) for m in messages) + 3 * len(messages)
               + _text_words(req.get("system")))
        max_tokens = int((req.get("inferenceConfig") or {}).get("maxTokens") or 8)
    else:
        messages = req.get("messages") or []
        inp = (sum(_text_words(m.get("content")) for m in messages) + 3 * len(messages)
               + _text_words(req.get("system")))
        max_tokens = int(req.get("max_tokens") or 8)
    cached = _has_cache_marker(req)
    cache_read = 1000 + inp if cached else 0
    cache_write = 200 if cached else 0
    pieces = max(1, min(max_tokens, 8))
    stop = "max_tokens" if max_tokens < 8 else "end_turn"
    words = ["b%d " % i for i in range(pieces)]
    usage = {"inputTokens": inp, "outputTokens": pieces,
             "totalTokens": inp + pieces + cache_read + cache_write}
    if cached:
        usage.update(cacheReadInputTokens=cache_read, cacheWriteInputTokens=cache_write)
    latency = 40 + pieces
    entry.update(status=200, finish_reason=stop, usage=usage)

    if operation == "converse":
        entry.update(response_id="", response_model="")
        if not stream:
            obj = {"output": {"message": {"role": "assistant", "content": [{"text": "".join(words)}]}},
                   "stopReason": stop, "usage": usage, "metrics": {"latencyMs": latency}}
            h.send_body(200, json.dumps(obj).encode(), "application/json", base_headers)
            return entry
        h.start_sse(request_id, headers=base_headers, content_type="application/vnd.amazon.eventstream")
        h.chunk(es_event("messageStart", {"p": _pad(7), "role": "assistant"}))
        for i, w in enumerate(words):
            time.sleep(piece_delay)
            h.chunk(es_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": w},
                                                   "p": _pad(i)}))
        h.chunk(es_event("contentBlockStop", {"contentBlockIndex": 0, "p": _pad(9)}))
        h.chunk(es_event("messageStop", {"p": _pad(5), "stopReason": stop}))
        h.chunk(es_event("metadata", {"metrics": {"latencyMs": latency}, "p": _pad(3), "usage": usage}))
        h.chunk(b"")
        return entry

    # InvokeModel / InvokeModelWithResponseStream, Anthropic Messages natively.
    rmodel = _anthropic_model(model)
    msg_id = "msg_bdrk_01" + uuid.uuid4().hex[:22]
    entry.update(response_id=msg_id, response_model=rmodel)
    native_usage = {"input_tokens": inp, "output_tokens": pieces,
                    "cache_read_input_tokens": cache_read, "cache_creation_input_tokens": cache_write}
    if not stream:
        obj = {"id": msg_id, "type": "message", "role": "assistant", "model": rmodel,
               "content": [{"type": "text", "text": "".join(words)}],
               "stop_reason": stop, "stop_sequence": None, "usage": native_usage}
        hdrs = base_headers + [("X-Amzn-Bedrock-Invocation-Latency", str(latency)),
                               ("X-Amzn-Bedrock-Output-Token-Count", str(pieces)),
                               ("X-Amzn-Bedrock-Input-Token-Count", str(inp)),
                               ("X-Amzn-Bedrock-Cache-Read-Input-Token-Count", str(cache_read)),
                               ("X-Amzn-Bedrock-Cache-Write-Input-Token-Count", str(cache_write))]
        h.send_body(200, json.dumps(obj).encode(), "application/json", hdrs)
        return entry
    h.start_sse(request_id, headers=base_headers + [("X-Amzn-Bedrock-Content-Type", "application/json")],
                content_type="application/vnd.amazon.eventstream")

    def chunk(obj):
        raw = json.dumps(obj, separators=(",", ":")).encode()
        h.chunk(es_event("chunk", {"bytes": base64.b64encode(raw).decode(), "p": _pad(len(raw))}))

    chunk({"type": "message_start", "message": {
        "id": msg_id, "type": "message", "role": "assistant", "model": rmodel, "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": dict(native_usage, output_tokens=1)}})
    chunk({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
    for w in words:
        time.sleep(piece_delay)
        chunk({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": w}})
    chunk({"type": "content_block_stop", "index": 0})
    chunk({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
           "usage": {"output_tokens": pieces}})
    metrics = {"inputTokenCount": inp, "outputTokenCount": pieces,
               "invocationLatency": latency, "firstByteLatency": 20}
    if cached:
        metrics.update(cacheReadInputTokenCount=cache_read, cacheWriteInputTokenCount=cache_write)
    chunk({"type": "message_stop", "amazon-bedrock-invocationMetrics": metrics})
    h.chunk(b"")
    return entry

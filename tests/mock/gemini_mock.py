"""Gemini API (generativelanguage.googleapis.com) for ``openai_mock.py``
(Python 3 stdlib only), in the API's wire format.

* ``POST /{v1,v1beta}/models/{model}:generateContent`` (google-genai 3.x calls
  ``/v1``, older SDKs ``/v1beta``): a ``GenerateContentResponse``
  (``candidates``, ``usageMetadata``, ``modelVersion``, ``responseId``);
  gzip when the request accepts it.
* ``POST /{v1,v1beta}/models/{model}:streamGenerateContent?alt=sse``:
  ``text/event-stream`` over chunked encoding, one ``data: {response}`` event
  per piece, events separated by CRLF CRLF as Google's front end does; every
  event carries ``usageMetadata`` with CUMULATIVE counts (a sum would be wrong);
  the last one has ``finishReason``.
* Errors: model ``gemini-mock-429`` → 429 ``{"error": {"code": 429, "message",
  "status": "RESOURCE_EXHAUSTED"}}``.

Usage (deterministic): ``promptTokenCount`` = words of all text parts + 3 per
content, INCLUDING ``cachedContentTokenCount`` (= prompt // 2 when the request
names ``cachedContent``); ``candidatesTokenCount`` = pieces
(``generationConfig.maxOutputTokens`` or 6, capped at 32), EXCLUDING
``thoughtsTokenCount`` (models with ``2.5`` in the name: 7). finishReason
``MAX_TOKENS`` when maxOutputTokens was given, else ``STOP``.
"""
import json
import time
import uuid

HOST = "generativelanguage.googleapis.com"
THOUGHTS = 7


def is_model_path(path):
    parts = path.split("/")
    return len(parts) == 4 and parts[1].startswith("v1") and parts[2] == "models"


def _prompt_tokens(req):
    contents = req.get("contents") or []
    words = 0
    for c in contents:
        for p in c.get("parts") or []:
            words += len(str(p.get("text", "")).split())
    return words + 3 * len(contents)


def _resp(text, finish, usage, model, rid):
    cand = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
    if finish:
        cand["finishReason"] = finish
    return {"candidates": [cand], "usageMetadata": usage, "modelVersion": model, "responseId": rid}


def handle(h, path, req, piece_delay):
    resource, _, method = path.split("?")[0].rpartition(":")
    model = resource.rsplit("/", 1)[-1]
    stream = method == "streamGenerateContent"
    entry = {"kind": "gemini", "provider": "gemini", "operation": "generate_content",
             "request_id": "", "model": model, "stream": stream}
    if model == "gemini-mock-429":
        body = {"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).",
                          "status": "RESOURCE_EXHAUSTED"}}
        h.send_body(429, json.dumps(body).encode(), "application/json; charset=UTF-8", [])
        entry.update(status=429, response_id="", response_model="", finish_reason="", usage=None)
        return entry
    cfg = req.get("generationConfig") or {}
    max_out = cfg.get("maxOutputTokens")
    pieces = max(1, min(int(max_out or 6), 32))
    finish = "MAX_TOKENS" if max_out else "STOP"
    prompt = _prompt_tokens(req)
    cached = prompt // 2 if req.get("cachedContent") else 0
    thoughts = THOUGHTS if "2.5" in model else 0
    rid = uuid.uuid4().hex[:22]

    def usage(cands):
        u = {"promptTokenCount": prompt, "candidatesTokenCount": cands,
             "totalTokenCount": prompt + cands + thoughts,
             "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}]}
        if thoughts:
            u["thoughtsTokenCount"] = thoughts
        if cached:
            u["cachedContentTokenCount"] = cached
            u["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": cached}]
        return u

    final = usage(pieces)
    entry.update(status=200, response_id=rid, response_model=model, finish_reason=finish, usage=final)
    words = ["g%d " % i for i in range(pieces)]
    if not stream:
        obj = _resp("".join(words), finish, final, model, rid)
        entry["gzip"] = h.send_body(200, json.dumps(obj, indent=2).encode(),
                                    "application/json; charset=UTF-8", [], compress=True)
        return entry
    h.start_sse(None, headers=[], content_type="text/event-stream")
    for i, w in enumerate(words):
        time.sleep(piece_delay)
        last = i == len(words) - 1
        obj = _resp(w, finish if last else None, usage(i + 1), model, rid)
        h.chunk(b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\r\n\r\n")
    h.chunk(b"")
    entry["gzip"] = False
    return entry

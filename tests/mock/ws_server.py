"""WebSocket APIs for ``openai_mock.py``: an HTTP/1.1 ``GET`` with
``Upgrade: websocket`` is handed here by the mock's handler; the handshake and
framing are the sans-I/O ``websockets.server.ServerProtocol`` (RFC 6455, and
RFC 7692 permessage-deflate offered and accepted with its defaults: 15-bit
windows, context takeover in both directions, as the Python ``websockets``
client and Codex's tungstenite negotiate it). Every event is one text
message; the connection's thread reads a client message, answers it, reads
the next.

Routes (Host, path):

* OpenAI Responses API WebSocket mode: ``api.openai.com`` ``/v1/responses``;
  Azure OpenAI: ``<resource>.openai.azure.com`` ``/openai/v1/responses``.
  Client text messages ``{"type": "response.create", "model", "input", …}``
  (the ``POST /v1/responses`` body without ``stream``); each gets the events
  of the Responses SSE stream (``openai_more_mock.stream_events``), one
  message per event, ending with ``response.completed`` (or
  ``response.incomplete``). ``"generate": false`` (a prewarm, as Codex sends):
  ``response.created`` + ``response.completed`` with no output, its input
  tokens counted and 0 output tokens. ``previous_response_id`` naming a
  response of this connection adds that response's input + output tokens to
  the input, all of them cached (``input_tokens_details.cached_tokens``).
  Logged as ``kind`` ``ws_responses``, ``operation`` ``responses``.
  An upgrade for a model ending in ``-no-ws`` (the model Codex names in its
  ``x-codex-turn-metadata`` handshake header) is refused with ``426 Upgrade
  Required`` and the API's error object, as where the API does not offer
  WebSockets; Codex then speaks ``POST /v1/responses`` (SSE) instead. Logged
  as ``kind`` ``ws_refused`` (status 426, ``model`` "", the header's model as
  ``handshake_model``).
* OpenAI Realtime API: ``api.openai.com`` ``/v1/realtime?model=M``; Azure
  OpenAI: ``<resource>.openai.azure.com`` ``/openai/realtime?api-version=…&
  deployment=M`` and ``/openai/v1/realtime?model=M``. ``session.created``
  first; ``session.update`` → ``session.updated``; ``conversation.item.create``
  → ``conversation.item.added`` + ``conversation.item.done``;
  ``response.create`` → ``response.created``, ``response.output_item.added``,
  ``conversation.item.added``, ``response.content_part.added``, per piece
  ``response.output_text.delta`` (or ``response.output_audio.delta`` +
  ``response.output_audio_transcript.delta`` for ``output_modalities``
  ``["audio"]``), the ``….done`` events, ``conversation.item.done``,
  ``response.done`` (with ``usage``), ``rate_limits.updated``. Logged as
  ``kind`` ``realtime``, ``operation`` ``realtime``.

Realtime token rules (deterministic): the input of a response is the whole
conversation so far: a user text item = its words + 4 text tokens; a user
``input_audio`` part = one audio token per 1,200 bytes of audio (25 ms of 24 kHz
PCM16), rounded up; an assistant item = its output tokens. Cached = the
previous response's input (text and audio alike). Output: ``max_output_tokens``
pieces (default 8, capped at 64) as text tokens; with audio output also 5
audio tokens per piece. ``usage`` = ``{total_tokens, input_tokens,
output_tokens, input_token_details: {text_tokens, audio_tokens, image_tokens,
cached_tokens, cached_tokens_details: {text_tokens, audio_tokens,
image_tokens}}, output_token_details: {text_tokens, audio_tokens}}``.

The log entries carry the raw ``usage``, the response id, the model (the
``model`` of ``response.create`` / the URL's ``model`` or ``deployment``), the
handshake's ``request_id`` (the 101's ``x-request-id``), ``path``, ``host``.
"""
import base64
import json
import time
import urllib.parse
import uuid

from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.frames import Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol

import openai_more_mock

AZURE_SUFFIX = ".openai.azure.com"
REALTIME_AUDIO_BYTES_PER_TOKEN = 1200
REALTIME_AUDIO_TOKENS_PER_PIECE = 5
IDLE_TIMEOUT = 300


def _id(prefix):
    return prefix + uuid.uuid4().hex[:22]


def handshake_model(h):
    """The model a Responses WebSocket handshake names: Codex sends its
    session's model in the ``x-codex-turn-metadata`` header (JSON); "" when
    there is none."""
    try:
        meta = json.loads(h.headers.get("x-codex-turn-metadata") or "{}")
    except ValueError:
        return ""
    model = meta.get("model") if isinstance(meta, dict) else None
    return model if isinstance(model, str) else ""


def route(host, target):
    """(api, provider, model from the URL) for a WebSocket target, or None."""
    url = urllib.parse.urlsplit(target)
    q = urllib.parse.parse_qs(url.query)
    azure = host.endswith(AZURE_SUFFIX)
    provider = "azure_openai" if azure else "openai"
    path = url.path
    if (not azure and path == "/v1/responses") or (azure and path == "/openai/v1/responses"):
        return "responses", provider, ""
    if not azure and path == "/v1/realtime" and q.get("model"):
        return "realtime", provider, q["model"][0]
    if azure and path == "/openai/realtime" and q.get("deployment"):
        return "realtime", provider, q["deployment"][0]
    if azure and path == "/openai/v1/realtime" and q.get("model"):
        return "realtime", provider, q["model"][0]
    return None


class Connection:
    """One accepted WebSocket: the protocol state, the socket, the log."""

    def __init__(self, h, proto, api, provider, url_model, request_id):
        self.h = h
        self.proto = proto
        self.api = api
        self.provider = provider
        self.url_model = url_model
        self.request_id = request_id
        self.host = h.headers.get("Host", "").split(":")[0].lower()
        self.delay = h.server.piece_delay

    def flush(self):
        for data in self.proto.data_to_send():
            if data:
                self.h.request.sendall(data)

    def send(self, obj):
        self.proto.send_text(json.dumps(obj, separators=(",", ":")).encode())
        self.flush()

    def messages(self):
        """Yields each complete text message the client sends (JSON decoded)
        until it closes; pings are answered by the protocol."""
        parts = []
        while True:
            for ev in self.proto.events_received():
                if ev.opcode in (Opcode.TEXT, Opcode.BINARY):
                    parts = [ev.data]
                elif ev.opcode is Opcode.CONT:
                    parts.append(ev.data)
                else:
                    continue
                if ev.fin:
                    yield json.loads(b"".join(parts))
                    parts = []
            self.flush()
            if self.proto.state is State.CLOSED or self.proto.close_expected():
                return
            try:
                data = self.h.rfile.read1(65536)
            except OSError:
                return
            if not data:
                self.proto.receive_eof()
                self.flush()
                return
            self.proto.receive_data(data)

    def log(self, entry):
        entry.update(provider=self.provider, request_id=self.request_id, path=self.h.path,
                     host=self.host, stream=True, status=200)
        self.h.log_call(entry)

    def error(self, message, code="invalid_request_error"):
        self.send({"type": "error", "event_id": _id("event_"),
                   "error": {"type": "invalid_request_error", "code": code, "message": message,
                             "param": None, "event_id": None}})


# -- Responses API WebSocket mode ------------------------------------------------

def serve_responses(c):
    done = {}  # response id -> input + output tokens (context for continuations)
    for msg in c.messages():
        if msg.get("type") != "response.create" or not msg.get("model"):
            c.error("Unsupported or incomplete client event: %s" % msg.get("type"))
            continue
        req = dict(msg)
        req.pop("type", None)
        context = done.get(req.get("previous_response_id") or "", 0)
        p = openai_more_mock.plan_response(req, context_tokens=context)
        for ev in openai_more_mock.stream_events(p, c.delay):
            c.send(ev)
        u = p["usage"]
        done[p["rid"]] = u["input_tokens"] + u["output_tokens"]
        c.log({"kind": "ws_responses", "operation": "responses", "model": p["model"],
               "generate": p["generate"], "response_id": p["rid"], "response_model": p["rmodel"],
               "previous_response_id": req.get("previous_response_id") or "",
               "finish_reason": "max_output_tokens" if p["incomplete"] else "completed",
               "usage": u})


# -- Realtime API -----------------------------------------------------------------

def _session(model, instructions="", modalities=("audio",)):
    return {
        "type": "realtime", "object": "realtime.session", "id": _id("sess_"), "model": model,
        "output_modalities": list(modalities), "instructions": instructions,
        "tools": [], "tool_choice": "auto", "max_output_tokens": "inf", "tracing": None,
        "truncation": "auto", "prompt": None, "expires_at": int(time.time()) + 3600,
        "audio": {
            "input": {"format": {"type": "audio/pcm", "rate": 24000}, "transcription": None,
                      "noise_reduction": None,
                      "turn_detection": {"type": "server_vad", "threshold": 0.5,
                                         "prefix_padding_ms": 300, "silence_duration_ms": 200,
                                         "idle_timeout_ms": None, "create_response": True,
                                         "interrupt_response": True}},
            "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "marin", "speed": 1.0},
        },
        "include": None,
    }


def _user_item_tokens(item):
    """(text tokens, audio tokens) a user item adds to the conversation."""
    text, audio = 4, 0
    for part in item.get("content") or []:
        if not isinstance(part, dict):
            continue
        if part.get("type") in ("input_text", "text"):
            text += len(str(part.get("text", "")).split())
        elif part.get("type") == "input_audio":
            n = len(base64.b64decode(part.get("audio") or ""))
            audio += -(-n // REALTIME_AUDIO_BYTES_PER_TOKEN)
    return text, audio


def _echo_item(item, item_id):
    """The server's copy of a client item (audio bytes are not echoed)."""
    content = []
    for part in item.get("content") or []:
        if isinstance(part, dict) and part.get("type") == "input_audio":
            content.append({"type": "input_audio", "transcript": None})
        else:
            content.append(part)
    return {"id": item_id, "type": item.get("type", "message"), "object": "realtime.item",
            "status": "completed", "role": item.get("role", "user"), "content": content}


def serve_realtime(c):
    session = _session(c.url_model)
    conv_id = _id("conv_")
    c.send({"type": "session.created", "event_id": _id("event_"), "session": session})
    history = []  # (text tokens, audio tokens) per conversation item
    last_item = None
    prev_input = (0, 0)
    for msg in c.messages():
        ty = msg.get("type")
        if ty == "session.update":
            upd = msg.get("session") or {}
            for k in ("instructions", "output_modalities", "max_output_tokens", "tools", "tool_choice"):
                if k in upd:
                    session[k] = upd[k]
            c.send({"type": "session.updated", "event_id": _id("event_"), "session": session})
        elif ty == "conversation.item.create":
            item = msg.get("item") or {}
            item_id = item.get("id") or _id("item_")
            echo = _echo_item(item, item_id)
            history.append(_user_item_tokens(item))
            for name in ("conversation.item.added", "conversation.item.done"):
                c.send({"type": name, "event_id": _id("event_"), "previous_item_id": last_item,
                        "item": echo})
            last_item = item_id
        elif ty == "response.create":
            resp = msg.get("response") or {}
            modalities = resp.get("output_modalities") or session["output_modalities"]
            audio = "audio" in modalities
            max_out = resp.get("max_output_tokens", session.get("max_output_tokens"))
            pieces = max(1, min(int(max_out), 64)) if isinstance(max_out, int) else 8
            in_text = sum(t for t, _ in history)
            in_audio = sum(a for _, a in history)
            cached_text, cached_audio = prev_input
            out_text = pieces
            out_audio = REALTIME_AUDIO_TOKENS_PER_PIECE * pieces if audio else 0
            usage = {
                "total_tokens": in_text + in_audio + out_text + out_audio,
                "input_tokens": in_text + in_audio,
                "output_tokens": out_text + out_audio,
                "input_token_details": {
                    "text_tokens": in_text, "audio_tokens": in_audio, "image_tokens": 0,
                    "cached_tokens": cached_text + cached_audio,
                    "cached_tokens_details": {"text_tokens": cached_text, "audio_tokens": cached_audio,
                                              "image_tokens": 0},
                },
                "output_token_details": {"text_tokens": out_text, "audio_tokens": out_audio},
            }
            rid = _id("resp_")
            realtime_response(c, rid, conv_id, modalities, pieces, audio, usage, last_item)
            history.append((out_text, out_audio))
            prev_input = (in_text, in_audio)
            last_item = "item_of_" + rid
            c.log({"kind": "realtime", "operation": "realtime", "model": c.url_model,
                   "response_id": rid, "response_model": "", "output_modalities": modalities,
                   "finish_reason": "completed", "usage": usage})
        else:
            c.error("Unsupported client event type: %s" % ty)


def realtime_response(c, rid, conv_id, modalities, pieces, audio, usage, previous_item):
    item_id = "item_of_" + rid

    def ev(ty, **fields):
        c.send(dict(type=ty, event_id=_id("event_"), **fields))

    def resp_obj(status, output, u):
        return {"object": "realtime.response", "id": rid, "status": status, "status_details": None,
                "output": output, "conversation_id": conv_id, "output_modalities": modalities,
                "max_output_tokens": "inf",
                "audio": {"output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "marin"}},
                "usage": u, "metadata": None}

    words = ["t%d " % i for i in range(pieces)]
    text = "".join(words)
    kind = "output_audio" if audio else "output_text"
    empty_part = {"type": kind, "transcript": ""} if audio else {"type": kind, "text": ""}
    full_part = {"type": kind, "transcript": text} if audio else {"type": kind, "text": text}
    item = {"id": item_id, "type": "message", "object": "realtime.item", "status": "in_progress",
            "role": "assistant", "content": []}
    done_item = dict(item, status="completed", content=[full_part])
    where = {"response_id": rid, "item_id": item_id, "output_index": 0, "content_index": 0}
    ev("response.created", response=resp_obj("in_progress", [], None))
    ev("response.output_item.added", response_id=rid, output_index=0, item=item)
    ev("conversation.item.added", previous_item_id=previous_item, item=item)
    ev("response.content_part.added", part=empty_part, **where)
    for w in words:
        time.sleep(c.delay)
        if audio:
            pcm = bytes(480 * REALTIME_AUDIO_TOKENS_PER_PIECE)
            ev("response.output_audio.delta", delta=base64.b64encode(pcm).decode(), **where)
            ev("response.output_audio_transcript.delta", delta=w, **where)
        else:
            ev("response.output_text.delta", delta=w, **where)
    if audio:
        ev("response.output_audio.done", **where)
        ev("response.output_audio_transcript.done", transcript=text, **where)
    else:
        ev("response.output_text.done", text=text, **where)
    ev("response.content_part.done", part=full_part, **where)
    ev("response.output_item.done", response_id=rid, output_index=0, item=done_item)
    ev("conversation.item.done", previous_item_id=previous_item, item=done_item)
    ev("response.done", response=resp_obj("completed", [done_item], usage))
    ev("rate_limits.updated", rate_limits=[
        {"name": "requests", "limit": 10000, "remaining": 9999, "reset_seconds": 0.006},
        {"name": "tokens", "limit": 2000000, "remaining": 1999000, "reset_seconds": 0.03}])


# -- the upgrade --------------------------------------------------------------------

def handle_upgrade(h):
    """Serves the WebSocket the GET handled by `h` (the mock's HTTP/1.1
    handler) asks for, until the client closes it."""
    host = h.headers.get("Host", "").split(":")[0].lower()
    r = route(host, h.path)
    request_id = "req_" + uuid.uuid4().hex
    if r is None:
        h.send_json(404, {"error": {"message": "Invalid URL (GET %s)" % h.path,
                                    "type": "invalid_request_error", "param": None, "code": None}},
                    request_id, 0)
        return
    api, provider, url_model = r
    model = handshake_model(h)
    if api == "responses" and model.endswith(openai_more_mock.NO_WEBSOCKET_SUFFIX):
        h.send_json(426, {"error": {"message": "WebSocket mode is not available for %s; "
                                               "use HTTPS (POST %s)." % (model, h.path),
                                    "type": "invalid_request_error", "param": None,
                                    "code": "upgrade_required"}}, request_id, 0)
        # The request names no model (Codex's header aside): `model` "".
        h.log_call({"kind": "ws_refused", "provider": provider, "operation": "responses",
                    "model": "", "handshake_model": model, "request_id": request_id,
                    "response_id": "", "response_model": "", "finish_reason": "",
                    "stream": True, "status": 426, "path": h.path, "host": host})
        return
    h.request.settimeout(IDLE_TIMEOUT)
    proto = ServerProtocol(extensions=[ServerPerMessageDeflateFactory()], max_size=16 << 20)
    # The handler has parsed the request already; the protocol parses it again
    # (its parser must pass the handshake before it reads frames).
    raw = h.raw_requestline + b"".join(
        ("%s: %s\r\n" % (k, v)).encode("latin-1") for k, v in h.headers.items()) + b"\r\n"
    proto.receive_data(raw)
    request = proto.events_received()[0]
    response = proto.accept(request)
    if response.status_code == 101:
        response.headers["x-request-id"] = request_id
        response.headers["openai-version"] = "2020-10-01"
    proto.send_response(response)
    c = Connection(h, proto, api, provider, url_model, request_id)
    c.flush()
    if response.status_code != 101:
        return
    try:
        if api == "responses":
            serve_responses(c)
        else:
            serve_realtime(c)
    except (OSError, ValueError) as e:
        if h.server.verbose:
            print("mock ws: %s ended: %r" % (h.path, e), flush=True)

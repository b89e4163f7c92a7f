"""HTTP/2 for ``openai_mock.py``: serves one TLS connection whose ALPN chose
``h2`` with the sans-I/O ``h2`` library, reusing the mock's HTTP/1.1 request
handlers unchanged.

Structure:

* One I/O thread per connection (the thread the HTTP/1.1 server gave the
  connection) owns the socket: non-blocking TLS reads fed to ``h2``, and
  everything ``h2`` has to send written out. Nothing else touches the socket
  (OpenSSL objects must not be read and written from two threads at once).
* One thread per request stream, started once the request is complete
  (``END_STREAM``): it runs the mock's ``do_POST`` / ``do_GET`` on an
  :class:`H2Exchange`, a handler object with the interface the handlers use
  (``headers``, ``path``, ``command``, ``client_address``, ``server``,
  ``send_response`` / ``send_header`` / ``end_headers``, ``wfile.write``,
  ``chunk``, ``read_body``). ``end_headers`` sends a HEADERS frame (HTTP/1-only
  headers such as ``Transfer-Encoding`` and ``Connection`` dropped), each
  ``wfile.write`` / ``chunk`` sends DATA frames. A ``Content-Length`` body
  ends the stream with ``END_STREAM`` on its last DATA frame (on HEADERS when
  empty), as front ends like Cloudflare's and nginx do; a streamed body (SSE,
  ends with ``chunk(b"")``) with a separate empty DATA frame carrying
  ``END_STREAM``, as streaming servers often do. A handler that returns
  without ending its stream gets it ended the second way.
* One lock (a Condition) guards the ``h2`` connection state; a stream thread
  that has no send window waits on it until a ``WINDOW_UPDATE`` (or a
  ``SETTINGS`` change) arrives. Received request bodies are acknowledged at
  once (``WINDOW_UPDATE`` for the stream and the connection).
* ``SETTINGS_MAX_CONCURRENT_STREAMS`` = 256; a 1 MiB receive window.

The call log lines are the HTTP/1.1 ones with ``"http_version": "2"``.
"""
import email.message
import os
import select
import ssl
import sys
import threading
import time
import traceback

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings

MAX_CONCURRENT_STREAMS = 256
RECV_WINDOW = 1 << 20
# Headers that mean something only to HTTP/1.x (RFC 9113 8.2.2).
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"}


class StreamGone(Exception):
    """The client reset the stream or the connection closed."""


class _Conn:
    """One HTTP/2 connection: the h2 state machine, its lock, the wake-up
    pipe of the I/O thread."""

    def __init__(self, sock):
        self.sock = sock
        cfg = h2.config.H2Configuration(client_side=False, header_encoding="utf-8",
                                        validate_inbound_headers=True)
        self.h2 = h2.connection.H2Connection(config=cfg)
        self.cond = threading.Condition()
        self.closed = False
        self.reset = set()  # stream ids the client reset
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)

    def wake(self):
        with self.cond:  # never after the pipe is closed (its fd reused)
            if self.closed:
                return
            try:
                os.write(self.wake_w, b"x")
            except BlockingIOError:
                pass  # the pipe is full: the I/O thread will wake anyway

    def gone(self, sid):
        return self.closed or sid in self.reset


class _Body:
    """``wfile`` of an exchange: each write becomes DATA frames."""

    def __init__(self, ex):
        self.ex = ex

    def write(self, data):
        self.ex.send_data(bytes(data))
        return len(data)

    def flush(self):
        pass


class H2Exchange:
    """Mixin giving a request handler class the HTTP/2 transport: combine it
    with the HTTP/1.1 handler (``class H2Handler(H2Exchange, Handler)``) so
    the handler's own methods run unchanged on one HTTP/2 stream."""

    HTTP_VERSION_LABEL = "2"
    request_version = "HTTP/2.0"

    def __init__(self, conn, sid, headers, body, server, client_address):
        # Not the HTTP/1.1 handler's __init__: that one would serve a socket.
        self._conn = conn
        self._sid = sid
        self._body = body
        self._status = None
        self._out_headers = []
        self._headers_sent = False
        self._ended = False
        self._content_length = None
        self._sent = 0
        self.server = server
        self.client_address = client_address
        self.close_connection = True
        msg = email.message.Message()
        pseudo = {}
        for k, v in headers:
            if k.startswith(":"):
                pseudo[k] = v
            else:
                msg[k] = v
        if ":authority" in pseudo and "Host" not in msg:
            msg["Host"] = pseudo[":authority"]
        self.headers = msg
        self.command = pseudo.get(":method", "")
        self.path = pseudo.get(":path", "")
        self.requestline = "%s %s HTTP/2.0" % (self.command, self.path)
        self.wfile = _Body(self)

    # -- what the handlers call ------------------------------------------
    def read_body(self):
        return self._body

    def send_response(self, code, message=None):
        self._status = int(code)
        self._out_headers = []
        self._content_length = None
        self.send_header("Server", self.version_string())
        self.send_header("Date", self.date_time_string())

    def send_response_only(self, code, message=None):
        self._status = int(code)

    def send_header(self, keyword, value):
        k = keyword.lower()
        if k in HOP_BY_HOP:
            return
        if k == "content-length":
            self._content_length = int(value)
        self._out_headers.append((k, str(value).strip()))

    def end_headers(self):
        if self._status is None:
            raise RuntimeError("end_headers before send_response")
        headers = [(":status", str(self._status))] + self._out_headers
        empty = self._content_length == 0
        c = self._conn
        with c.cond:
            if c.gone(self._sid):
                raise StreamGone()
            c.h2.send_headers(self._sid, headers, end_stream=empty)
        self._headers_sent = True
        self._ended = empty
        c.wake()

    def chunk(self, data):
        if data:
            self.send_data(data)
        else:
            self.end_stream()

    def flush(self):
        pass

    def log_message(self, fmt, *args):
        if getattr(self.server, "verbose", False):
            sys.stderr.write("mock h2: " + (fmt % args) + "\n")

    # -- the transport ----------------------------------------------------
    def send_data(self, data):
        """DATA frames for `data`, each within the peer's flow-control window
        and max frame size; waits for WINDOW_UPDATE when the window is 0. The
        frame that completes a Content-Length body carries END_STREAM."""
        c, sid = self._conn, self._sid
        view = memoryview(data)
        while view:
            with c.cond:
                while True:
                    if c.gone(sid):
                        raise StreamGone()
                    window = c.h2.local_flow_control_window(sid)
                    if window > 0:
                        break
                    c.cond.wait(timeout=30)
                n = min(window, c.h2.max_outbound_frame_size, len(view))
                self._sent += n
                last = self._sent == self._content_length
                c.h2.send_data(sid, view[:n].tobytes(), end_stream=last)
                self._ended = self._ended or last
            view = view[n:]
            c.wake()

    def end_stream(self):
        if self._ended:
            return
        c = self._conn
        with c.cond:
            if c.gone(self._sid):
                raise StreamGone()
            c.h2.end_stream(self._sid)
        self._ended = True
        c.wake()

    def run(self):
        """Dispatches like BaseHTTPRequestHandler does, then ends the stream."""
        try:
            method = getattr(self, "do_" + self.command, None)
            if method is None:
                self.send_response(501)
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                method()
            if not self._headers_sent:
                raise RuntimeError("handler sent no response")
            self.end_stream()
        except StreamGone:
            pass
        except Exception:  # noqa: BLE001 (a mock bug: visible, stream reset)
            traceback.print_exc()
            c = self._conn
            with c.cond:
                if not c.gone(self._sid):
                    try:
                        c.h2.reset_stream(self._sid, error_code=2)  # INTERNAL_ERROR
                    except h2.exceptions.ProtocolError:
                        pass
            c.wake()


def serve_connection(sock, client_address, server, exchange_cls):
    """Serves the HTTP/2 connection on the TLS socket `sock` (ALPN h2, TLS
    handshake done) until the client closes it; `exchange_cls` is the
    handler class built on :class:`H2Exchange`."""
    c = _Conn(sock)
    with c.cond:
        c.h2.local_settings = h2.settings.Settings(client=False, initial_values={
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: MAX_CONCURRENT_STREAMS,
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: RECV_WINDOW,
            h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: 1 << 16,
        })
        c.h2.initiate_connection()
        c.h2.increment_flow_control_window(RECV_WINDOW)
    sock.setblocking(False)
    pending = {}  # stream id -> (headers, bytearray body)
    out = b""  # bytes h2 produced, not yet written
    record = b""  # the TLS write being retried (must be the same bytes)
    idle_deadline = time.monotonic() + 300
    try:
        while True:
            with c.cond:
                out += c.h2.data_to_send()
            if not record and out:
                record, out = out[:16384], out[16384:]
            readable = sock.pending() > 0
            if not readable:
                r, _, _ = select.select([sock, c.wake_r], [sock] if record else [], [], 1.0)
                if c.wake_r in r:
                    try:
                        while os.read(c.wake_r, 4096):
                            pass
                    except BlockingIOError:
                        pass
                readable = sock in r
            if record:
                try:
                    record = record[sock.send(record):]
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
                    pass
            if readable:
                try:
                    data = sock.recv(65536)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                    continue
                if not data:
                    return
                idle_deadline = time.monotonic() + 300
                if _feed(c, data, pending, server, client_address, exchange_cls):
                    # GOAWAY: flush what is left, then close.
                    with c.cond:
                        rest = record + out + c.h2.data_to_send()
                    _flush_blocking(sock, rest)
                    return
            elif time.monotonic() > idle_deadline:
                return
    except (OSError, ssl.SSLError, h2.exceptions.ProtocolError) as e:
        if getattr(server, "verbose", False):
            sys.stderr.write("mock h2: connection from %s ended: %r\n" % (client_address, e))
    finally:
        with c.cond:
            c.closed = True
            c.cond.notify_all()
            os.close(c.wake_r)
            os.close(c.wake_w)


def _flush_blocking(sock, data):
    sock.setblocking(True)
    sock.settimeout(5)
    try:
        if data:
            sock.sendall(data)
    except OSError:
        pass


def _feed(c, data, pending, server, client_address, exchange_cls):
    """Feeds received bytes to h2 and acts on its events; returns True when
    the client ended the connection (GOAWAY)."""
    start = []
    with c.cond:
        events = c.h2.receive_data(data)
        for ev in events:
            if isinstance(ev, h2.events.RequestReceived):
                pending[ev.stream_id] = (ev.headers, bytearray())
            elif isinstance(ev, h2.events.DataReceived):
                if ev.stream_id in pending:
                    pending[ev.stream_id][1].extend(ev.data)
                try:
                    c.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                except h2.exceptions.StreamClosedError:
                    pass
            elif isinstance(ev, h2.events.StreamEnded):
                # The request is complete (h2 reports END_STREAM on HEADERS
                # or DATA as this separate event too).
                start.append(ev.stream_id)
            elif isinstance(ev, h2.events.StreamReset):
                c.reset.add(ev.stream_id)
                pending.pop(ev.stream_id, None)
                c.cond.notify_all()
            elif isinstance(ev, (h2.events.WindowUpdated, h2.events.RemoteSettingsChanged)):
                c.cond.notify_all()
            elif isinstance(ev, h2.events.ConnectionTerminated):
                c.closed = True
                c.cond.notify_all()
                return True
    for sid in start:
        if sid not in pending:
            continue
        headers, body = pending.pop(sid)
        ex = exchange_cls(c, sid, headers, bytes(body), server, client_address)
        threading.Thread(target=ex.run, name="h2-stream-%d" % sid, daemon=True).start()
    c.wake()
    return False

"""A reusable loopback HTTP stub server for provider tests (binds 127.0.0.1, ephemeral port).

Usage::

    from stub_server import StubServer, StubResponse, closed_port_url, basic_auth

    def forecast(req):                       # req: StubRequest
        if req.headers.get("Authorization") != "Bearer tok":
            return StubResponse(401, {"error": "bad token"})
        if req.arg("region") is None:
            return StubResponse(400, {"message": "region required"})
        return {"data": [...]}                 # a dict/list is sent as 200 JSON

    with StubServer({("GET", "/v3/forecast"): forecast}) as srv:
        client = SomeProvider(base_url=srv.url, ...)
        ...
        assert srv.requests[-1].path == "/v3/forecast"
        assert srv.count("GET", "/v3/forecast") == 1

Ready-made handlers: :func:`echo_headers` (an error reply that quotes the request's
headers back, like a misbehaving API or proxy) and :func:`slow` (replies after a delay,
to exercise client timeouts).

A :class:`StubResponse` can also drip its body (``drip_s``: one byte per ``drip_s`` seconds)
or leave out ``Content-Length`` (``declare_length=False``), for hostile-server tests.
A handler returns a :class:`StubResponse`, a JSON-able dict/list (200), or a
``(status, json_or_text)`` tuple. Unknown routes get 404 ``{"error": "no route"}``.
A handler that raises yields HTTP 500 with the exception text, and the exception is
kept in ``server.errors`` so a test can assert none happened.
Header lookup on :class:`StubRequest` is case-insensitive.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "StubRequest",
    "StubResponse",
    "StubServer",
    "basic_auth",
    "closed_port_url",
    "echo_headers",
    "slow",
]


@dataclass
class StubRequest:
    """One request as the stub saw it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # keys lower-cased
    body: bytes = b""

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The (first) value of query parameter ``name``."""
        vals = self.query.get(name)
        return vals[0] if vals else default

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class StubResponse:
    """What the stub sends back. ``json`` wins over ``body`` when both are given."""

    status: int = 200
    json: Any = None
    body: str | bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str | None = None
    drip_s: float = 0.0  # > 0: send the body one byte at a time, this many seconds apart
    declare_length: bool = True  # False: no Content-Length; the body ends when the connection closes


Handler = Callable[[StubRequest], Any]


def basic_auth(req: StubRequest) -> tuple[str, str] | None:
    """Decode an ``Authorization: Basic`` header into (user, password), or None."""
    value = req.header("authorization") or ""
    if not value.lower().startswith("basic "):
        return None
    try:
        user, _, pw = base64.b64decode(value[6:].strip()).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return user, pw


def echo_headers(status: int, *, as_json: bool = True, retry_after: str | None = None) -> Handler:
    """A handler answering ``status`` with the request's headers quoted in the error body:
    JSON ``{"error": ..., "message": "... received headers: {...}"}``, or (``as_json=False``) a plain-text
    dump of ``name: value`` lines, as a debugging proxy would send."""
    extra = {"Retry-After": retry_after} if retry_after is not None else {}

    def handler(req: StubRequest) -> StubResponse:
        if as_json:
            body = {
                "error": f"HTTP {status}",
                "message": f"request rejected; received headers: {json.dumps(req.headers)}",
            }
            return StubResponse(status, json=body, headers=extra)
        lines = "".join(f"{k}: {v}\n" for k, v in req.headers.items())
        return StubResponse(
            status, body=f"Error {status}. Request was:\n{req.method} {req.path}\n{lines}", headers=extra
        )

    return handler


def slow(delay_s: float, result: Any = None) -> Handler:
    """A handler that waits ``delay_s`` before answering ``result`` (default ``{}``)."""

    def handler(req: StubRequest) -> Any:
        time.sleep(delay_s)
        return {} if result is None else result

    return handler


def closed_port_url() -> str:
    """``http://127.0.0.1:PORT`` for a port nothing listens on (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _normalise(result: Any) -> StubResponse:
    if isinstance(result, StubResponse):
        return result
    if isinstance(result, tuple):
        status, payload = result[0], result[1] if len(result) > 1 else None
        if isinstance(payload, (str, bytes)):
            return StubResponse(status, body=payload)
        return StubResponse(status, json=payload)
    return StubResponse(200, json=result)


class StubServer:
    """Threaded HTTP server on 127.0.0.1:<ephemeral> dispatching ``(method, path)`` to handlers.

    ``routes`` maps ``(METHOD, "/path")`` to a handler; it may be changed while running
    (``srv.routes[...] = ...``). Every request is recorded in ``requests``.
    """

    def __init__(self, routes: Mapping[tuple[str, str], Handler] | None = None):
        self.routes: dict[tuple[str, str], Handler] = dict(routes or {})
        self.requests: list[StubRequest] = []
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "StubServer not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def count(self, method: str, path: str) -> int:
        with self._lock:
            return sum(1 for r in self.requests if r.method == method and r.path == path)

    def start(self) -> StubServer:
        stub = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                req = StubRequest(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query, keep_blank_values=True),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                with stub._lock:
                    stub.requests.append(req)
                handler = stub.routes.get((self.command, parts.path))
                if handler is None:
                    resp = StubResponse(404, {"error": f"no route {self.command} {parts.path}"})
                else:
                    try:
                        resp = _normalise(handler(req))
                    except Exception as exc:  # surfaced to the test via stub.errors
                        with stub._lock:
                            stub.errors.append(exc)
                        resp = StubResponse(500, body=f"stub handler error: {exc!r}")
                if resp.json is not None:
                    payload = json.dumps(resp.json).encode()
                    ctype = resp.content_type or "application/json"
                else:
                    raw = resp.body if resp.body is not None else b""
                    payload = raw.encode() if isinstance(raw, str) else raw
                    ctype = resp.content_type or "text/plain; charset=utf-8"
                self.send_response(resp.status)
                self.send_header("Content-Type", ctype)
                if resp.declare_length:
                    self.send_header("Content-Length", str(len(payload)))
                else:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                for k, v in resp.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                try:
                    self._write(payload, resp.drip_s)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up: expected in those tests
                    self.close_connection = True

            def _write(self, payload: bytes, drip_s: float) -> None:
                if drip_s <= 0:
                    self.wfile.write(payload)
                    return
                for i in range(len(payload)):
                    self.wfile.write(payload[i : i + 1])
                    self.wfile.flush()
                    time.sleep(drip_s)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="stub-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> StubServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

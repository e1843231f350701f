"""Shared HTTP plumbing for the intensity providers.

One :class:`HttpClient` per provider instance. It owns one ``requests.Session`` and adds:

* connect/read timeouts on every request;
* retries with exponential backoff on HTTP 429, HTTP 5xx and connection errors/timeouts
  (each backoff capped at ``max_wait_s``), honouring ``Retry-After`` (seconds or an
  HTTP-date) in full, never shortened;
* a time budget per call, ``max_total_s`` (setting ``carbon.max_total_wait_s``): every
  attempt, timeout and wait of one call together stay within it; inside
  :meth:`HttpClient.one_budget` several requests (a login and the data request) share one. Each request's
  connect/read timeouts are cut to what is left of the budget, and a wait (Retry-After or
  backoff) that would end past it is not started: the call fails at once with the
  provider error, saying what the server asked for and which setting to raise. A wait
  longer than ``ANNOUNCE_WAIT_S`` is logged as a warning before sleeping
  (``"watttime: waiting 5 s before retry 2/3 (server asked: Retry-After 5)"``). The sleep
  and the clock are injectable, so tests never sleep;
* a total deadline that covers the headers and the body too: the status line and headers
  are awaited against the budget (the request runs in a daemon thread that is abandoned
  when it is spent), and responses are streamed and read in chunks against the same
  monotonic budget, so a server that drips its headers or body one byte a second cannot
  hold a call past ``max_total_s``; a body larger than ``max_body_bytes``
  (default 16 MiB; the providers' real answers are kilobytes) is refused, by its
  ``Content-Length`` before reading or while reading when it has none;
* credentials that HTTP cannot carry (a user name or password outside Latin-1 for Basic
  auth, a token with non-Latin-1 characters in a header) are refused with a clear
  ProviderError instead of a ``UnicodeEncodeError`` from deep inside ``requests``;
* mapping of failures to :class:`~sci_lightning.carbon.base.ProviderError` that names the
  provider and the fix: 401/403 (credentials / access), 400/404/422 (usually an unknown
  region; the API's own message is quoted), other 4xx, exhausted retries or budget,
  unreachable host, and malformed bodies (bad JSON, missing keys, wrong types);
* secrets hygiene: headers are never logged; every error message this module builds
  (including the API's own text, which may echo the request's headers) is redacted:
  values passed in ``secrets`` or sent as credentials (``auth=(user, password)`` with its
  base64 Basic form, and the values of Authorization/token/key headers) become ``***``,
  then :func:`sci_lightning.redaction.redact` removes secret environment values and any
  quoted ``Basic``/``Bearer``/``token=`` credential. Every secret the client learns is also
  registered process-wide (:func:`sci_lightning.redaction.register_secret`), so reports,
  logs and TensorBoard text written later redact it too.

:class:`HttpProvider` is the base of every HTTP intensity provider: it builds the client
from the ``carbon`` settings (one ``from_config``), and every series it returns passes
:func:`~sci_lightning.carbon.base.check_plausible` and has its notes redacted.

Public API (stable; part B's providers build on it)::

    client = HttpClient("watttime", "https://api.watttime.org", timeout_s=10, retries=3,
                        backoff_s=0.5, max_total_s=30, sleep=time.sleep, secrets=[password])
    body = client.get_json("/v3/forecast", params={...}, headers={...}, auth=(user, pw))
    client.close()

    HttpStatusError(ProviderError)          .status, .api_message  (raised for 4xx/5xx)
    require(obj, key, type_, what, provider) -> value   (malformed-body check)
    expect_type(obj, type_, what, provider)  -> obj
    parse_time(text, what, provider)         -> aware UTC datetime
    format_time(dt)                          -> "2024-01-01T00:00:00Z"
    env_credentials(provider, *names)        -> tuple[str, ...] from os.environ
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar
from urllib.parse import urlsplit

import requests
from urllib3 import exceptions as urllib3_errors

from sci_lightning.errors import ConfigError
from sci_lightning.redaction import credential_forms, redact, register_secret, secret_header
from sci_lightning.timefmt import iso_seconds_z

from .base import IntensityProvider, IntensitySeries, ProviderError, check_plausible, ensure_utc

if TYPE_CHECKING:
    from ..settings import CarbonConfig

log = logging.getLogger(__name__)

#: What a checked body value is: the type (or one of the types) asked for.
T = TypeVar("T")

__all__ = [
    "HttpClient",
    "HttpOptions",
    "HttpProvider",
    "HttpStatusError",
    "NoContent",
    "env_credentials",
    "expect_type",
    "format_time",
    "parse_time",
    "require",
    "retry_after_s",
]

_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_MAX_API_MESSAGE_CHARS = 300
#: A wait before a retry longer than this is announced (log warning) before sleeping.
ANNOUNCE_WAIT_S = 3.0
#: The shortest timeout a request is given, however little of the budget is left.
_MIN_TIMEOUT_S = 0.05
_BUDGET_SETTING = "carbon.max_total_wait_s"
#: The largest response body read (the providers' real answers are a few hundred kB at most).
MAX_BODY_BYTES = 16 * 1024 * 1024
_CHUNK_BYTES = 64 * 1024
#: How long past the budget the status line and headers are awaited before the request is
#: abandoned (a silent server is ended by the socket timeout, cut to the budget, before that).
_HEADER_GRACE_S = 0.25


class NoContent(ProviderError):
    """The API answered ``204 No Content``: it has no data for what was asked (not a fault
    of the call). Providers turn it into an empty series that says why."""


class _BodyTimeout(Exception):
    """The response (its status line and headers, or its body) did not arrive within the
    call's time budget; ``args[0]`` says how much had arrived."""


class HttpStatusError(ProviderError):
    """The API answered with an HTTP error status (after any retries).

    ``status`` is the HTTP status code, ``api_message`` the API's own error text (trimmed).
    Providers catch this to react to a specific status (e.g. re-login on 401).
    """

    def __init__(
        self, provider: str, status: int, message: str, fix: str | None = None, api_message: str = ""
    ):
        self.status = status
        self.api_message = api_message
        super().__init__(provider, message, fix)


def retry_after_s(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Parse a ``Retry-After`` header: delta-seconds or an HTTP-date. ``None`` if absent/invalid."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - now())


def _api_message(resp: requests.Response) -> str:
    """The API's own error text: JSON ``message``/``error``/``detail``/``title`` or the raw body
    (whitespace collapsed, not yet redacted or trimmed)."""
    text = ""
    try:
        body = resp.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("message", "error", "detail", "title", "errors"):
            if body.get(key):
                text = _as_text(body[key])
                break
        else:
            text = json.dumps(body)
        # ASP.NET ValidationProblemDetails: the per-field messages are in "errors"
        if isinstance(body.get("errors"), (dict, list)) and body["errors"] and key != "errors":
            text += " " + json.dumps(body["errors"])
    elif body is not None:
        text = json.dumps(body)
    else:
        text = resp.text or ""
    return " ".join(text.split())


def _as_text(value: Any) -> str:
    """An API's error field as readable text: a string as is; ``{"code", "message"}``
    (the GB Carbon Intensity API's shape) as ``"code: message"``; anything else as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        parts = [
            str(value[k])
            for k in ("code", "title", "message", "detail")
            if isinstance(value.get(k), (str, int))
        ]
        if parts:
            return ": ".join(parts)
    return json.dumps(value)


def _trim(text: str, max_chars: int = _MAX_API_MESSAGE_CHARS) -> str:
    """``text`` cut to ``max_chars`` (redact first: a cut secret no longer matches)."""
    return text if len(text) <= max_chars else text[:max_chars] + "..."


def _seconds(value: float) -> str:
    """A duration for messages: ``5``, ``0.5``, ``3600``."""
    return f"{round(value, 1):g}"


class _Budget:
    """The time left to one call of :meth:`HttpClient.request`."""

    def __init__(self, total_s: float, clock: Callable[[], float]):
        self.total_s, self.clock = total_s, clock
        self.deadline = clock() + total_s

    def left_s(self) -> float:
        return max(0.0, self.deadline - self.clock())

    def allows(self, wait_s: float) -> bool:
        """True when waiting ``wait_s`` (and then starting a request) still ends within the budget."""
        return wait_s + _MIN_TIMEOUT_S <= self.left_s()


class HttpClient:
    """A small JSON-over-HTTP client with retries and provider-specific error messages.

    Args:
        provider: provider name used in every error message (e.g. ``"watttime"``).
        base_url: scheme + host (+ optional path prefix); request paths are appended.
        timeout_s: read timeout in seconds.
        connect_timeout_s: connect timeout (default ``min(timeout_s, 5)``).
        retries: extra attempts after the first on 429 / 5xx / connection errors.
        backoff_s: first backoff wait; doubles each retry (``backoff_s * 2**attempt``).
        max_wait_s: cap on a single backoff wait (a server's ``Retry-After`` is honoured in
            full or, when it does not fit ``max_total_s``, not at all).
        max_total_s: time budget of one call, all attempts, timeouts and waits together
            (setting ``carbon.max_total_wait_s``).
        sleep: the function used to wait (inject a recorder in tests).
        clock: monotonic seconds, for the budget (inject one that advances with ``sleep``).
        secrets: strings that must never appear in error messages (passwords, tokens);
            more can be added later with :meth:`add_secret`; credentials sent with a
            request are added automatically.
        session: an existing ``requests.Session`` (default: a new one).
        max_body_bytes: the largest response body read; a larger one fails the call.
    """

    def __init__(
        self,
        provider: str,
        base_url: str,
        *,
        timeout_s: float = 10.0,
        connect_timeout_s: float | None = None,
        retries: int = 3,
        backoff_s: float = 0.5,
        max_wait_s: float = 60.0,
        max_total_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        secrets: Iterable[str] = (),
        session: requests.Session | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
    ):
        if not base_url or not str(base_url).startswith(("http://", "https://")):
            raise ConfigError(
                f"Invalid setting carbon.base_url={base_url!r} for provider {provider}: not an http(s) URL. "
                "Fix: set carbon.base_url to e.g. https://host:port (scheme included)."
            )
        self.provider = provider
        self.base_url = str(base_url).rstrip("/")
        self.timeout_s = float(timeout_s)
        self.connect_timeout_s = float(
            connect_timeout_s if connect_timeout_s is not None else min(self.timeout_s, 5.0)
        )
        self.retries = max(0, int(retries))
        self.backoff_s = max(0.0, float(backoff_s))
        self.max_wait_s = max(0.0, float(max_wait_s))
        self.max_total_s = max(_MIN_TIMEOUT_S, float(max_total_s))
        self.sleep = sleep
        self.clock = clock
        self.session = session or requests.Session()
        self.max_body_bytes = int(max_body_bytes)
        self._secrets: set[str] = set()
        self._scope = threading.local()  # .budget: the shared budget inside one_budget()
        for value in secrets:
            self.add_secret(value)

    def __repr__(self) -> str:  # never shows headers, auth or secrets
        return f"HttpClient(provider={self.provider!r}, base_url={self.base_url!r}, retries={self.retries})"

    @contextlib.contextmanager
    def one_budget(self) -> Iterator[None]:
        """Every request inside the block shares one ``max_total_s`` budget (e.g. a login, the
        data request and a re-login after a 401 are one provider call, not three budgets).
        Nested blocks join the outer one; per thread."""
        if getattr(self._scope, "budget", None) is not None:
            yield
            return
        self._scope.budget = _Budget(self.max_total_s, self.clock)
        try:
            yield
        finally:
            self._scope.budget = None

    def add_secret(self, value: str | None, *, user: str | None = None) -> None:
        """Register a string (e.g. a fresh token) to redact from error messages, with its
        URL-encoded form and, given ``user``, its base64 Basic-auth form."""
        if value:
            self._secrets.update(credential_forms(value, [user] if user else []))
            register_secret(value, [user] if user else [])

    def _add_request_secrets(self, headers: Mapping[str, str] | None, auth: tuple[str, str] | None) -> None:
        if auth:
            self.add_secret(auth[1], user=auth[0])
        for name, value in (headers or {}).items():
            if value and secret_header(name):
                self.add_secret(value)
                self.add_secret(value.split(None, 1)[-1])  # the token of "Bearer <token>"

    def redact(self, text: str) -> str:
        """``text`` with every registered secret replaced by ``***``, then
        :func:`sci_lightning.redaction.redact` (environment secrets, quoted credentials)."""
        for s in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(s, "***")
        return redact(text)

    def close(self) -> None:
        self.session.close()

    def _error(self, message: str, fix: str | None = None) -> ProviderError:
        return ProviderError(self.provider, self.redact(message), self.redact(fix) if fix else None)

    def _retry_wait(
        self, attempt: int, resp: requests.Response | None, exc: Exception | None
    ) -> tuple[float, str | None, str]:
        """(seconds to wait before the next attempt, the Retry-After header if it set them, why):
        a server's Retry-After in full, else the capped exponential backoff."""
        header = resp.headers.get("Retry-After") if resp is not None else None
        asked = retry_after_s(header)
        if asked is not None and header is not None:
            header = header.strip()[:40]
            return asked, header, f"server asked: Retry-After {header}"
        cause = f"HTTP {resp.status_code}" if resp is not None else type(exc).__name__
        return min(self.backoff_s * (2**attempt), self.max_wait_s), None, f"backoff after {cause}"

    def _send(self, method: str, url: str, budget: _Budget, **kw: Any) -> requests.Response:
        """One attempt: the response with its body read in full within ``budget``."""
        left = budget.left_s()
        timeout = (
            max(_MIN_TIMEOUT_S, min(self.connect_timeout_s, left)),
            max(_MIN_TIMEOUT_S, min(self.timeout_s, left)),
        )
        resp = self._open(method, url, budget, timeout, **kw)
        try:
            resp._content = self._read_body(resp, budget)  # what resp.json()/.text read
        finally:
            resp.close()
        return resp

    def _open(
        self, method: str, url: str, budget: _Budget, timeout: tuple[float, float], **kw: Any
    ) -> requests.Response:
        """Send the request and wait for the status line and headers within ``budget``.

        ``http.client`` reads the headers with a timeout per socket read only, so a server
        that drips them a byte at a time would hold the call for as long as it likes: the
        request runs in a daemon thread and is abandoned (its response closed when it ends)
        once the budget is spent."""
        box: dict[str, Any] = {}
        done, abandoned = threading.Event(), threading.Event()

        def run() -> None:
            try:
                box["resp"] = self.session.request(method, url, timeout=timeout, stream=True, **kw)
            except BaseException as e:  # re-raised in the caller's thread
                box["exc"] = e
            done.set()
            if abandoned.is_set() and "resp" in box:
                box["resp"].close()

        threading.Thread(target=run, name=f"{self.provider}-http", daemon=True).start()
        # the socket timeouts (cut to the budget's remainder) end a silent server first
        if not done.wait(budget.left_s() + _HEADER_GRACE_S):
            abandoned.set()
            if not done.is_set():
                raise _BodyTimeout("the status line and headers had not all arrived")
        if "exc" in box:
            raise box["exc"]
        return box["resp"]

    def _read_body(self, resp: requests.Response, budget: _Budget) -> bytes:
        """The body, read in chunks against the call's deadline and size cap."""
        declared = resp.headers.get("Content-Length", "")
        if declared.strip().isdigit() and int(declared) > self.max_body_bytes:
            raise self._too_large(f"{int(declared):,} bytes declared")
        read = getattr(resp.raw, "read1", None) or resp.raw.read
        chunks: list[bytes] = []
        size = 0
        while True:
            left = budget.left_s()
            if left <= 0:
                raise _BodyTimeout(f"{size} byte(s) of the body had arrived")
            _set_read_timeout(resp, min(self.timeout_s, left))
            try:
                chunk = read(_CHUNK_BYTES, decode_content=True)
            except urllib3_errors.ReadTimeoutError:
                if budget.left_s() <= _MIN_TIMEOUT_S:
                    raise _BodyTimeout(f"{size} byte(s) of the body had arrived") from None
                raise requests.Timeout("read timed out") from None
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > self.max_body_bytes:
                raise self._too_large(f"more than {self.max_body_bytes:,} bytes sent")
            chunks.append(chunk)

    def _too_large(self, how: str) -> ProviderError:
        return self._error(
            f"response body too large ({how}; the limit is {self.max_body_bytes:,} bytes).",
            "check carbon.base_url points at the provider's API, not a file server or proxy error page.",
        )

    def _check_encodable(self, headers: Mapping[str, str] | None, auth: tuple[str, str] | None) -> None:
        """Refuse credentials HTTP/1.1 cannot carry (Latin-1 only) before anything is sent."""
        for what, value in [("user name", (auth or ("", ""))[0]), ("password", (auth or ("", ""))[1])] + [
            (f"header {name}", v) for name, v in (headers or {}).items()
        ]:
            try:
                str(value).encode("latin-1")
            except UnicodeEncodeError:
                raise self._error(
                    f"the {what} contains characters outside Latin-1, which HTTP headers "
                    "(Basic auth, tokens) cannot carry.",
                    "check the credential environment variables for this provider: use the account's ASCII "
                    "user name / e-mail and token exactly as the provider issued them.",
                ) from None

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        json_body: object = None,
    ) -> requests.Response:
        """Send a request with retries within the time budget; return a 2xx response or
        raise ProviderError/HttpStatusError."""
        url = self.base_url + (path if path.startswith("/") else "/" + path)
        self._add_request_secrets(headers, auth)
        self._check_encodable(headers, auth)
        budget = getattr(self._scope, "budget", None) or _Budget(self.max_total_s, self.clock)
        kw: dict[str, Any] = dict(
            params=params, headers=dict(headers) if headers else None, auth=auth, json=json_body
        )
        resp: requests.Response | None = None
        exc: Exception | None = None
        for attempt in range(self.retries + 1):
            log.debug("%s: %s %s (attempt %d)", self.provider, method, url, attempt + 1)
            resp, exc = self._attempt(method, url, path, budget, kw)
            if resp is not None:
                if resp.status_code < 400:
                    return resp
                if resp.status_code not in _RETRY_STATUSES:
                    raise self._status_error(resp)
            if attempt == self.retries:
                break
            self._wait_before_retry(attempt, resp, exc, budget)
        raise self._failure(resp, exc, self.retries + 1)

    def _attempt(
        self, method: str, url: str, path: str, budget: _Budget, kw: dict[str, Any]
    ) -> tuple[requests.Response | None, Exception | None]:
        """One send: (the response, None), or (None, the connection failure worth a retry);
        a failure no retry can mend raises ProviderError."""
        try:
            return self._send(method, url, budget, **kw), None
        except (
            requests.ConnectionError,
            requests.Timeout,
            requests.exceptions.ChunkedEncodingError,
        ) as e:
            return None, e
        except _BodyTimeout as e:
            raise self._error(
                f"the response from {path} did not arrive within this call's {_seconds(self.max_total_s)} s "
                f"time budget ({_BUDGET_SETTING}); {e.args[0]}.",
                "the server is sending very slowly; try again later, raise "
                f"{_BUDGET_SETTING}, or keep a fallback provider (carbon.fallback).",
            ) from None
        except (urllib3_errors.ProtocolError, urllib3_errors.ReadTimeoutError) as e:
            return None, requests.ConnectionError(type(e).__name__)
        except requests.RequestException as e:  # invalid URL, too many redirects, ...
            raise self._error(
                f"request to {self.base_url} failed ({type(e).__name__}).",
                "check carbon.base_url and the provider settings.",
            ) from None

    def _wait_before_retry(
        self, attempt: int, resp: requests.Response | None, exc: Exception | None, budget: _Budget
    ) -> None:
        """Sleep until the next attempt, or raise ProviderError when the wait exceeds the budget."""
        wait_s, header, why = self._retry_wait(attempt, resp, exc)
        if not budget.allows(wait_s):
            raise self._failure(resp, exc, attempt + 1, self._over_budget(wait_s, header, why, budget))
        if wait_s > ANNOUNCE_WAIT_S:
            log.warning(
                "%s: waiting %s s before retry %d/%d (%s)",
                self.provider,
                _seconds(wait_s),
                attempt + 1,
                self.retries,
                why,
            )
        self.sleep(wait_s)

    def _over_budget(self, wait_s: float, header: str | None, why: str, budget: _Budget) -> str:
        if header is not None:
            asked = f"the server asked to wait {_seconds(wait_s)} s (Retry-After: {header})"
        else:
            asked = f"the next retry would wait {_seconds(wait_s)} s ({why})"
        return (
            f"{asked}, longer than the {_seconds(budget.left_s())} s left of this call's "
            f"{_seconds(budget.total_s)} s time budget ({_BUDGET_SETTING}); gave up without waiting"
        )

    def _failure(
        self, resp: requests.Response | None, exc: Exception | None, attempts: int, budget_note: str = ""
    ) -> ProviderError:
        """The error that ends a call: the last HTTP status, or the connection failure."""
        fix_budget = (
            f"raise {_BUDGET_SETTING} (now {_seconds(self.max_total_s)} s) if waiting that long is acceptable; "
            if budget_note
            else ""
        )
        if resp is not None:
            return self._status_error(resp, attempts=attempts, note=budget_note, fix_prefix=fix_budget)
        kind = "timed out" if isinstance(exc, requests.Timeout) else "could not connect"
        note = f"; {budget_note}" if budget_note else ""
        return self._error(
            f"{kind} to {self.base_url} after {attempts} attempt(s) ({type(exc).__name__}){note}.",
            f"{fix_budget}check carbon.base_url, the network/proxy, and that the service is up; "
            "or keep a fallback provider (carbon.fallback) for offline runs.",
        )

    def _status_error(
        self, resp: requests.Response, attempts: int = 1, note: str = "", fix_prefix: str = ""
    ) -> HttpStatusError:
        status = resp.status_code
        api = _trim(self.redact(_api_message(resp)))
        quoted = f": {api!r}" if api else ""
        path = urlsplit(resp.url).path if resp.url else ""
        if status == 401:
            msg, fix = (
                f"authentication failed (HTTP 401 on {path}){quoted}.",
                "check the credentials in the environment variables for this provider.",
            )
        elif status == 403:
            msg, fix = (
                f"access denied (HTTP 403 on {path}){quoted}.",
                "your account/plan may not cover this region or endpoint; use a region your plan includes, "
                "or check the credentials.",
            )
        elif status in (400, 404, 422):
            msg, fix = (
                f"request rejected (HTTP {status} on {path}){quoted}.",
                "check carbon.region (region/zone/location names are provider-specific) and the other query settings.",
            )
        elif status in _RETRY_STATUSES:
            after = f"; {note}" if note else ""
            msg, fix = (
                f"service unavailable (HTTP {status} on {path}) after {attempts} attempt(s){after}{quoted}.",
                "try again later, raise carbon.retries, or keep a fallback provider (carbon.fallback).",
            )
        else:
            msg, fix = (
                f"unexpected HTTP {status} on {path}{quoted}.",
                "check carbon.base_url and the provider settings.",
            )
        return HttpStatusError(
            self.provider, status, self.redact(msg), self.redact(fix_prefix + fix), api_message=api
        )

    def get_json(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> object:
        """GET ``path`` and return the decoded JSON body, unchecked: read it through
        :func:`expect_type` and :func:`require` (ProviderError if it is not JSON;
        :class:`NoContent` on ``204 No Content``)."""
        resp = self.request("GET", path, params=params, headers=headers, auth=auth)
        if resp.status_code == 204:
            raise NoContent(
                self.provider,
                f"the API answered 204 No Content on {path}: it has no data for this request.",
                "the window or location may lie outside the data source's coverage; the fallback is used.",
            )
        try:
            return resp.json()
        except ValueError:
            snippet = _trim(self.redact(" ".join((resp.text or "").split())), 120)
            raise self._error(
                f"malformed response from {path}: body is not JSON (starts with {snippet!r}).",
                "check carbon.base_url points at the provider's API (not a web page or proxy).",
            ) from None


class HttpOptions(TypedDict, total=False):
    """The client options a provider passes on to :class:`HttpProvider` (its ``**http``)."""

    timeout_s: float
    retries: int
    backoff_s: float
    max_total_wait_s: float
    max_wait_s: float
    sleep: Callable[[float], None]
    session: requests.Session | None


class HttpProvider(IntensityProvider):
    """Base of the HTTP intensity providers: one :class:`HttpClient` built from the shared
    settings, one ``from_config``, plausibility checks and redaction on every series.

    A subclass sets ``name`` (and ``DEFAULT_BASE_URL`` and ``CREDENTIAL_ENV`` when it has
    them), calls ``super().__init__(base_url=..., secrets=..., **http)`` with the HTTP keyword
    arguments it was given, implements ``history``/``forecast``, and maps its own settings in
    :meth:`config_kwargs`. It builds series with :meth:`_checked`.
    """

    #: the provider's public endpoint (None: the user must set carbon.base_url)
    DEFAULT_BASE_URL: str | None = None
    #: environment variables holding the credentials (checked before training by the app)
    CREDENTIAL_ENV: tuple[str, ...] = ()
    #: the HttpClient keyword arguments a provider accepts and passes on
    HTTP_KWARGS = ("timeout_s", "retries", "backoff_s", "max_total_wait_s", "max_wait_s", "sleep", "session")

    def __init__(
        self,
        *,
        base_url: str | None,
        secrets: Iterable[str] = (),
        timeout_s: float = 10.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        max_total_wait_s: float = 30.0,
        max_wait_s: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
    ):
        self.base_url = str(base_url or self.DEFAULT_BASE_URL or "").rstrip("/")
        self._http = HttpClient(
            self.name,
            self.base_url,
            timeout_s=timeout_s,
            retries=retries,
            backoff_s=backoff_s,
            max_total_s=max_total_wait_s,
            max_wait_s=max_wait_s,
            sleep=sleep,
            secrets=secrets,
            session=session,
        )

    @classmethod
    def config_kwargs(cls, cfg: CarbonConfig) -> dict[str, Any]:
        """The provider's own constructor arguments from the ``carbon`` settings (override)."""
        return {}

    @classmethod
    def from_config(cls, cfg: CarbonConfig, **overrides: object) -> HttpProvider:
        """Build from the ``carbon`` group: the provider's :meth:`config_kwargs` plus
        ``base_url``, ``timeout_s``, ``retries``, ``backoff_s``, ``max_total_wait_s``.
        ``overrides`` (sleep, clock, session, now ...) are for tests."""
        kwargs: dict[str, Any] = dict(
            base_url=cfg.base_url,
            timeout_s=cfg.timeout_s,
            retries=cfg.retries,
            backoff_s=cfg.backoff_s,
            max_total_wait_s=cfg.max_total_wait_s,
        )
        kwargs.update(cls.config_kwargs(cfg))
        kwargs.update(overrides)
        return cls(**kwargs)

    def close(self) -> None:
        """Close the HTTP session."""
        self._http.close()

    def _served_note(self, who: str, kind: str, served: Any, asked: str | None = None) -> list[str]:
        """``[note]`` when a response says it is for another region than asked (``served``,
        e.g. its ``region``/``location``/``zone`` field, compared case-insensitively with
        ``asked``, default ``self.region``); ``[]`` when it matches or says nothing. The one
        wording every provider uses to label data served for elsewhere."""
        asked = self.region if asked is None else asked
        if (
            not isinstance(served, str)
            or not served.strip()
            or not asked
            or served.strip().casefold() == asked.casefold()
        ):
            return []
        return [
            f"data-quality: {who} served {kind} {served.strip()[:60]!r} for the requested {asked!r}; the values "
            "are used as served (check carbon.region)."
        ]

    def _refuse_other_kind(self, field: str, served: Any, asked: str, item: str, fix: str) -> None:
        """Raise :class:`ProviderError` when a response's ``field`` (a signal or emission-factor
        type, which changes what the numbers mean) is ``served`` as other than ``asked``; ``None``
        (the field absent) passes. The one wording every provider uses to refuse such data."""
        if served is not None and served != asked:
            raise ProviderError(
                self.name,
                f"{item} has {field} {str(served)[:40]!r}, not the {asked!r} asked for; the data was refused.",
                fix,
            )

    def _checked(self, series: IntensitySeries) -> IntensitySeries:
        """``series`` with its notes, source and region redacted, after :func:`check_plausible` (ProviderError
        for a value outside the physical range, so the chain falls back)."""
        check_plausible(series.points, self.name, self.region)
        series.notes = [self._http.redact(n) for n in series.notes]
        series.source, series.region = self._http.redact(series.source), self._http.redact(series.region)
        return series


def _set_read_timeout(resp: requests.Response, timeout_s: float) -> None:
    """Best effort: cut the socket's read timeout to what is left of the budget, so one
    stalled read cannot outlast the deadline (the body loop checks it between reads)."""
    sock = getattr(
        getattr(resp.raw, "_connection", None) or getattr(resp.raw, "connection", None), "sock", None
    )
    if sock is not None:
        try:
            sock.settimeout(max(_MIN_TIMEOUT_S, timeout_s))
        except OSError:
            pass


def _bool_for_number(obj: object, type_: type | tuple[type, ...]) -> bool:
    """A JSON ``true``/``false`` where a number is asked for (Python's bool is an int)."""
    types = type_ if isinstance(type_, tuple) else (type_,)
    return isinstance(obj, bool) and bool not in types and any(t in (int, float) for t in types)


def expect_type(obj: object, type_: type[T] | tuple[type[T], ...], what: str, provider: str) -> T:
    """Return ``obj`` if it has ``type_`` (bool is not a number), else a malformed-body ProviderError."""
    if isinstance(obj, type_) and not _bool_for_number(obj, type_):
        return obj
    types = type_ if isinstance(type_, tuple) else (type_,)
    names = "/".join(t.__name__ for t in types)
    raise ProviderError(
        provider,
        f"malformed response: {what} should be {names}, got {type(obj).__name__}.",
        "the API's response format may have changed, or carbon.base_url points at the wrong service.",
    )


def require(obj: object, key: str, type_: type[T] | tuple[type[T], ...], what: str, provider: str) -> T:
    """``obj[key]`` checked to exist and have ``type_``; a malformed-body ProviderError otherwise."""
    mapping: dict[str, Any] = expect_type(obj, dict, what, provider)
    if key not in mapping:
        raise ProviderError(
            provider,
            f"malformed response: {what} has no {key!r} key.",
            "the API's response format may have changed, or carbon.base_url points at the wrong service.",
        )
    return expect_type(mapping[key], type_, f"{what}.{key}", provider)


def parse_time(text: object, what: str, provider: str) -> datetime:
    """Parse an ISO-8601 timestamp (``Z`` or offset; naive taken as UTC) to an aware UTC datetime."""
    s = expect_type(text, str, what, provider).strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    # Python < 3.11 fromisoformat accepts only 0, 3 or 6 fractional digits: normalise to 6.
    if "." in s:
        head, _, rest = s.partition(".")
        digits = ""
        while rest and rest[0].isdigit():
            digits, rest = digits + rest[0], rest[1:]
        s = f"{head}.{(digits + '000000')[:6]}{rest}"
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        raise ProviderError(
            provider,
            f"malformed response: {what} {text!r} is not an ISO-8601 timestamp.",
            "the API's response format may have changed.",
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def format_time(dt: datetime) -> str:
    """An aware datetime as ``YYYY-MM-DDTHH:MM:SSZ`` (UTC, whole seconds)."""
    return iso_seconds_z(ensure_utc(dt))


def env_credentials(provider: str, *names: str) -> tuple[str, ...]:
    """Read credentials from environment variables; ProviderError naming every missing one."""
    values = tuple(os.environ.get(n, "") for n in names)
    missing = [n for n, v in zip(names, values) if not v]
    if missing:
        raise ProviderError(
            provider,
            f"missing credentials: environment variable(s) {', '.join(missing)} not set.",
            f"export {' and '.join(missing)} in the shell that runs training (never put them in config files), "
            "or choose an offline provider (carbon.provider=static or trace).",
        )
    return values

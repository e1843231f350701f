"""Keep credentials out of everything the project writes or shows.

Secrets come only from environment variables (and, inside the HTTP client, from the
credentials it sends and the tokens it receives, which it registers here with
:func:`register_secret` so every sink redacts them). Before a report, a failure record, a log line or an error message
leaves the process, :func:`redact` / :func:`scrub` replace:

* the values of environment variables whose names look secret (``*TOKEN*``,
  ``*PASSWORD*``, ``*PASSWD*``, ``*SECRET*``, ``*KEY*``, ``*CREDENTIAL*``), and what is
  derived from them (:func:`credential_forms`): their URL-encoded form and the base64
  ``user:password`` of HTTP Basic auth, paired with every user-name-like variable
  (``*USER*``, ``*LOGIN*``, ``*ACCOUNT*``, ``*EMAIL*``);
* credentials quoted in any text, whatever their value: ``Basic xxx`` (when ``xxx`` decodes
  to ``user:password``) / ``Bearer xxx``,
  ``Authorization: ...`` / ``auth-token: ...`` / ``"password": "..."`` style pairs,
  query-string tokens (``token=``, ``api_key=``, ``key=``, ``password=``, ...), and the
  password of a ``scheme://user:password@host`` URL.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

__all__ = [
    "REDACTED",
    "credential_forms",
    "redact",
    "register_secret",
    "scrub",
    "secret_header",
    "secret_values",
]

REDACTED = "[redacted]"
SECRET_NAME_MARKERS = ("TOKEN", "PASSWORD", "PASSWD", "SECRET", "KEY", "CREDENTIAL")
USER_NAME_MARKERS = ("USER", "LOGIN", "ACCOUNT", "EMAIL")
_BENIGN_VALUES = {"true", "false", "none", "null", "yes", "no", "on", "off"}
_MIN_SECRET_LEN = 4
_NOT_DONE = r"(?!\[redacted\]|\*\*\*)"  # a value already redacted is not counted again
_SECRET_HEADER = re.compile(r"(?i)auth|token|key|secret|password|passwd|cookie|credential")
_SECRET_PATTERNS = (
    # "Authorization: Basic xxx", "auth-token=xxx", '"password": "xxx"', "'X-Api-Key': 'xxx'"
    re.compile(
        r"(?i)((?:proxy-)?(?:authorization|auth[_-]?token|x-api-key|api[_-]?key|access[_-]?token|refresh[_-]?token"
        r"|password|passwd|client[_-]?secret)['\"]?\s*[:=]\s*['\"]?)"
        + _NOT_DONE
        + r"(?:(?:basic|bearer|digest|token)\s+)?[^'\"\s,;}&]+"
    ),
    # "Bearer xxx" anywhere (not the words that follow "bearer" in prose)
    re.compile(
        r"(?i)\b(bearer\s+)"
        + _NOT_DONE
        + r"(?!(?:auth\w*|realm|scheme|header|credentials?|token)\b)[A-Za-z0-9._~+/=-]{3,}"
    ),
    # query strings: ?token=..., &api_key=..., key=..., password=..., client_secret=...
    re.compile(
        r"(?i)(?<![A-Za-z0-9])((?:[A-Za-z0-9]+[_-])*(?:api[_-]?key|apikey|key|token|password|passwd|pwd|secret"
        r"|signature|auth|credentials?)=)" + _NOT_DONE + r"[^&\s'\"#<>]+"
    ),
    # scheme://user:password@host
    re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]+:)" + _NOT_DONE + r"[^@\s/]+(?=@)"),
)
# "Basic xxx" anywhere, when xxx is what Basic auth sends: base64 of "user:password"
# (so "basic energy model" in prose is left alone)
_BASIC_AUTH = re.compile(r"(?i)\b(basic\s+)([A-Za-z0-9+/]{4,}={0,2})")


def _is_basic_credential(value: str) -> bool:
    try:
        return b":" in base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except ValueError:
        return False


def _redact_patterns(s: str) -> tuple[str, int]:
    """``s`` with every credential quoted in it redacted, and how many were."""
    count = 0
    for rx in _SECRET_PATTERNS:
        s, n = rx.subn(lambda m: m.group(1) + REDACTED, s)
        count += n

    def basic(m: re.Match) -> str:
        nonlocal count
        if not _is_basic_credential(m.group(2)):
            return m.group(0)
        count += 1
        return m.group(1) + REDACTED

    return _BASIC_AUTH.sub(basic, s), count


def credential_forms(secret: str, users: Iterable[str] = ()) -> list[str]:
    """``secret`` and the forms of it that leak through HTTP: URL-encoded, and the base64
    ``user:secret`` Basic-auth value for each of ``users`` (with and without ``=`` padding,
    so it also matches where the padding was cut off), longest first."""
    forms = {secret, quote(secret, safe="")}
    for user in users:
        if user:
            basic = base64.b64encode(f"{user}:{secret}".encode()).decode()
            forms.update((basic, basic.rstrip("=")))
    return sorted(forms, key=len, reverse=True)


#: Credentials this process holds that are not environment values (e.g. a bearer token
#: fetched at login), with their leak forms; added by :func:`register_secret`.
_HELD: set[str] = set()


def register_secret(value: str | None, users: Iterable[str] = ()) -> None:
    """Remember a credential this process holds (a login token, a password given in code)
    so every later :func:`redact` / :func:`scrub` removes it and its URL-encoded and Basic
    forms, whatever sink the text goes to (report, log, TensorBoard, error message)."""
    if value and len(value.strip()) >= _MIN_SECRET_LEN and value.strip().lower() not in _BENIGN_VALUES:
        _HELD.update(credential_forms(value, users))
        _HELD.update(credential_forms(value.strip(), users))


def secret_header(name: str) -> bool:
    """True for HTTP header names that carry credentials (Authorization, auth-token, X-Api-Key, Cookie ...)."""
    return bool(_SECRET_HEADER.search(name))


def _marked(name: str, markers: tuple[str, ...]) -> bool:
    upper = name.upper()
    return any(m in upper for m in markers)


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of environment variables whose names look secret, with their
    :func:`credential_forms` (Basic auth paired with every user-like variable), longest
    first; for this process's environment (``environ`` None) also every credential
    registered with :func:`register_secret`.

    Values shorter than 4 characters or plainly boolean-like ("true", "no", ...) are skipped
    because redacting them would mangle ordinary text.
    """
    env = os.environ if environ is None else environ
    users = {v.strip() for n, v in env.items() if v and v.strip() and _marked(n, USER_NAME_MARKERS)}
    out: set[str] = set()
    for name, value in env.items():
        if not value or not _marked(name, SECRET_NAME_MARKERS):
            continue
        v = value.strip()
        if len(v) < _MIN_SECRET_LEN or v.lower() in _BENIGN_VALUES:
            continue
        out.update(credential_forms(v, users))
    if environ is None:  # this process: also what it holds outside the environment
        out.update(_HELD)
    return sorted(out, key=len, reverse=True)


def scrub(obj: object, secrets: Iterable[str] | None = None) -> tuple[Any, int]:
    """A copy of ``obj`` (dicts, lists, strings) with secrets and quoted credentials redacted.

    ``secrets`` defaults to :func:`secret_values`. Returns ``(copy, number_of_redactions)``;
    keys are scrubbed as well as values.
    """
    secrets = sorted(set(secret_values() if secrets is None else secrets), key=len, reverse=True)
    count = 0

    def text(s: str) -> str:
        nonlocal count
        for sec in secrets:
            if sec and sec in s:
                count += s.count(sec)
                s = s.replace(sec, REDACTED)
        s, n = _redact_patterns(s)
        count += n
        return s

    def walk(o: object) -> object:
        if isinstance(o, str):
            return text(o)
        if isinstance(o, dict):
            return {walk(k) if isinstance(k, str) else k: walk(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [walk(v) for v in o]
        return o

    return walk(obj), count


def redact(text: str, secrets: Iterable[str] | None = None) -> str:
    """``text`` with secrets and quoted credentials redacted."""
    return scrub(str(text), secrets)[0]

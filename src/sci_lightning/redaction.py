"""Keep credentials out of everything the project writes or shows.

Secrets come only from environment variables. Before a report, a failure record or a
warning leaves the process, :func:`redact` / :func:`scrub` replace the values of
environment variables whose names look secret (``*TOKEN*``, ``*PASSWORD*``, ``*SECRET*``,
``*KEY*``, ``*CREDENTIAL*``) and credentials quoted in text (``token=...``,
``Authorization: ...``, ``Bearer ...``).
"""

from __future__ import annotations

import os
import re
from typing import Any, Iterable, Mapping

__all__ = ["REDACTED", "secret_values", "scrub", "redact"]

REDACTED = "[redacted]"
SECRET_NAME_MARKERS = ("TOKEN", "PASSWORD", "PASSWD", "SECRET", "KEY", "CREDENTIAL")
_BENIGN_VALUES = {"true", "false", "none", "null", "yes", "no", "on", "off"}
_MIN_SECRET_LEN = 4
_SECRET_PATTERNS = (
    re.compile(r"(?i)\b((?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]{6,}"),
    re.compile(r"(?i)\b((?:api[_-]?key|access[_-]?token|auth[_-]?token|token|password|secret|signature)=)[^&\s'\"]+"),
    re.compile(r"(?i)((?:authorization|auth-token|x-api-key)['\"]?\s*[:=]\s*['\"]?)[^'\"\s,}]+"),
)


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of environment variables whose names look secret, longest first.

    Values shorter than 4 characters or plainly boolean-like ("true", "no", ...) are skipped
    because redacting them would mangle ordinary text.
    """
    env = os.environ if environ is None else environ
    out = set()
    for name, value in env.items():
        if not value or not any(m in name.upper() for m in SECRET_NAME_MARKERS):
            continue
        v = value.strip()
        if len(v) < _MIN_SECRET_LEN or v.lower() in _BENIGN_VALUES:
            continue
        out.add(v)
    return sorted(out, key=len, reverse=True)


def scrub(obj: Any, secrets: Iterable[str] | None = None) -> tuple[Any, int]:
    """A copy of ``obj`` (dicts, lists, strings) with secrets and quoted credentials redacted.

    ``secrets`` defaults to :func:`secret_values`. Returns ``(copy, number_of_redactions)``;
    keys are scrubbed as well as values.
    """
    secrets = list(secret_values() if secrets is None else secrets)
    count = 0

    def text(s: str) -> str:
        nonlocal count
        for sec in secrets:
            if sec in s:
                count += s.count(sec)
                s = s.replace(sec, REDACTED)
        for rx in _SECRET_PATTERNS:
            s, n = rx.subn(lambda m: m.group(1) + REDACTED, s)
            count += n
        return s

    def walk(o: Any) -> Any:
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

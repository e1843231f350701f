"""Fallback chain: try providers in order; a failure never kills training.

``FallbackProvider([watttime, static])`` asks each provider in turn. When one raises
:class:`ProviderError`, a ``requests`` error, or a :class:`~sci_lightning.errors.DatasetError`,
the chain

* warns **once** per failing provider (a :class:`ProviderFallbackWarning`; only a debug
  line in the log, since an app whose log prints on the console would show it twice),
  quoting the reason, which already says how to fix it;
* records it in :attr:`FallbackProvider.fallbacks_used`: a list of dicts
  ``{"provider", "method", "reason", "replaced_by", "count", "first_at", "last_at"}``,
  one per distinct (provider, method, reason, replaced_by), with a count, so a
  long run does not grow it without bound;
* treats an empty series as a failure too (unless it comes from the last provider),
  quoting the provider's note on why it was empty (e.g. the SDK's ``204 No Content``);
* treats implausible values (below 0 or above ``MAX_PLAUSIBLE_G_PER_KWH``) from any
  provider as a failure (:func:`~sci_lightning.carbon.base.check_plausible`);
* skips the failed provider for ``cooldown_s`` seconds (so a down API does not add its
  retry waits to every training step), then tries it again.

Labelling (the choice made here): a series served by a provider other than the first
is returned with ``kind="fallback"``; its ``source`` names the provider that served it,
and its ``notes`` start with which provider failed, why, and the serving provider's own
kind (e.g. ``static``), so nothing is lost. If every provider fails, a ProviderError
listing every reason is raised.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

from ..errors import DatasetError
from ..timefmt import iso_utc
from ..warn_once import WarnOnce
from .base import IntensityPoint, IntensityProvider, IntensitySeries, ProviderError, check_plausible

log = logging.getLogger(__name__)

__all__ = ["FallbackProvider", "ProviderFallbackWarning"]

try:  # requests is only needed by the HTTP providers; the offline ones work without it
    from requests import RequestException as _RequestException

    _CAUGHT: tuple[type[BaseException], ...] = (ProviderError, _RequestException, DatasetError)
except ImportError:  # pragma: no cover - requests is a declared dependency
    _CAUGHT = (ProviderError, DatasetError)


class ProviderFallbackWarning(UserWarning):
    """A carbon-intensity provider failed and the next one in the chain was used."""


def _reason(exc: BaseException) -> str:
    if isinstance(exc, (ProviderError, DatasetError)):
        return str(exc)
    return f"{type(exc).__name__} (network error talking to the provider)"


def _check_result(result: Any, provider: IntensityProvider, method: str, last: bool) -> None:
    """Refuse what no provider should serve: implausible values (any provider), or an empty
    series (unless it comes from the last provider), saying why it was empty."""
    points = (
        result.points
        if isinstance(result, IntensitySeries)
        else [result]
        if isinstance(result, IntensityPoint)
        else []
    )
    check_plausible(points, provider.name, provider.region)
    if isinstance(result, IntensitySeries) and not result.points and not last:
        why = next((n for n in reversed(result.notes) if "no data" in n or "204" in n), "")
        raise ProviderError(
            provider.name,
            f"returned no {method} points for the requested window"
            + (f" ({why.rstrip('.')})." if why else "."),
        )


class FallbackProvider(IntensityProvider):
    """Try ``providers`` in order; see the module docs for warnings, records and labels.

    Args:
        providers: at least one provider; the first is the primary.
        cooldown_s: after a failure, skip that provider for this long (0: always retry).
        clock: epoch-seconds clock for the cooldown (injectable for tests).
    """

    def __init__(
        self,
        providers: Sequence[IntensityProvider],
        *,
        cooldown_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        if not providers:
            raise ValueError("FallbackProvider needs at least one provider.")
        self.providers = list(providers)
        self.cooldown_s = max(0.0, float(cooldown_s))
        self.clock = clock
        self.fallbacks_used: list[dict[str, Any]] = []
        self._index: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        self._once = WarnOnce()  # one warning per failing provider
        self._down_until: dict[int, float] = {}
        self._last_reason: dict[int, str] = {}
        primary = self.providers[0]
        self.name = "fallback(" + " > ".join(p.name for p in self.providers) + ")"
        self.region = primary.region
        self.signal_type = primary.signal_type

    def __repr__(self) -> str:
        return f"FallbackProvider({self.providers!r})"

    @property
    def primary(self) -> IntensityProvider:
        return self.providers[0]

    def close(self) -> None:
        for p in self.providers:
            close = getattr(p, "close", None)
            if callable(close):
                close()

    # ------------------------------------------------------------------ core

    def _record(self, failed: IntensityProvider, method: str, reason: str, replaced_by: str) -> None:
        key = (failed.name, method, reason, replaced_by)
        now = iso_utc(datetime.now(timezone.utc), "seconds")
        entry = self._index.get(key)
        if entry is None:
            entry = {
                "provider": failed.name,
                "method": method,
                "reason": reason,
                "replaced_by": replaced_by,
                "count": 0,
                "first_at": now,
                "last_at": now,
            }
            self._index[key] = entry
            self.fallbacks_used.append(entry)
        entry["count"] += 1
        entry["last_at"] = now

    def _warn_once(self, failed: IntensityProvider, reason: str) -> None:
        if not self._once.first(failed.name):
            log.debug("carbon provider %s failed again: %s", failed.name, reason)
            return
        msg = f"carbon-intensity provider {failed.name!r} failed; using the next one in carbon.fallback. Reason: {reason}"
        log.debug(msg)  # the warning is the one message a person sees
        warnings.warn(msg, ProviderFallbackWarning, stacklevel=4)

    def _call(
        self, method: str, fn: Callable[[IntensityProvider], Any]
    ) -> tuple[Any, int, list[tuple[int, str]]]:
        failures: list[tuple[int, str]] = []
        now = self.clock()
        candidates = [i for i in range(len(self.providers)) if self._down_until.get(i, -1.0) <= now]
        skipped = [i for i in range(len(self.providers)) if i not in candidates]
        for i in skipped:  # cooling down: counts as failed with its last reason
            failures.append(
                (i, f"skipped (failed within the last {self.cooldown_s:g} s): {self._last_reason[i]}")
            )
        if not candidates:  # everything cooling down: try them all anyway rather than fail
            candidates, failures = list(range(len(self.providers))), []
        for i in candidates:
            p = self.providers[i]
            try:
                result = fn(p)
                _check_result(result, p, method, last=i == candidates[-1])
            except _CAUGHT as exc:
                reason = _reason(exc)
                failures.append((i, reason))
                self._last_reason[i] = reason
                if self.cooldown_s:
                    self._down_until[i] = self.clock() + self.cooldown_s
                self._warn_once(p, reason)
                continue
            self._down_until.pop(i, None)
            failures.sort()
            for j, reason in failures:
                if j < i:
                    self._record(self.providers[j], method, reason, p.name)
            return result, i, [(j, r) for j, r in failures if j < i]
        detail = "; ".join(f"{self.providers[j].name}: {r}" for j, r in sorted(failures))
        raise ProviderError(
            self.name,
            f"every provider in the chain failed ({detail}).",
            "fix the first provider's problem above, or add an offline provider (static) to carbon.fallback.",
        )

    def _label(self, series: IntensitySeries, i: int, failures: list[tuple[int, str]]) -> IntensitySeries:
        if i == 0:
            return series
        why = "; ".join(f"{self.providers[j].name} failed: {r}" for j, r in failures)
        note = f"fallback: values from {self.providers[i].name} (its kind: {series.kind}) because {why}"
        return replace(series, kind="fallback", notes=[note, *series.notes])

    # ------------------------------------------------------------------ interface

    def history(self, start: datetime, end: datetime) -> IntensitySeries:
        series, i, failures = self._call("history", lambda p: p.history(start, end))
        return self._label(series, i, failures)

    def forecast(
        self, start: datetime | None = None, horizon: timedelta = timedelta(hours=24)
    ) -> IntensitySeries:
        series, i, failures = self._call("forecast", lambda p: p.forecast(start, horizon))
        return self._label(series, i, failures)

    def current(self) -> IntensityPoint:
        point, _, _ = self._call("current", lambda p: p.current())
        return point

    def served_by(self) -> str:
        """Name of the provider that would be tried first now (the primary unless it is cooling down)."""
        now = self.clock()
        for i, p in enumerate(self.providers):
            if self._down_until.get(i, -1.0) <= now:
                return p.name
        return self.primary.name

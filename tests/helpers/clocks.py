"""Clocks and sleeps for tests: time moves only when a test (or a training step) moves it.

- :class:`ScriptClock`: POSIX seconds, for code that takes a ``clock() -> float`` (HTTP providers'
  token and cache ages, the scripted meters).
- :class:`Sleeps`: an injected ``sleep(seconds)`` that records the waits instead of sleeping.

The Lightning-aware clock that moves on at every training batch is
:class:`scripted.BatchStepClock`. tests/conftest.py offers all three as fixtures.
"""

from __future__ import annotations

T0 = 1_800_000_000.0  # 2027-01-15, POSIX seconds


class ScriptClock:
    """POSIX seconds that advance only when told to."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Sleeps(list):
    """Injected sleep: records the waits instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)

"""Warn once per key: the one way the project keeps a fault from flooding the log.

Faults in measurement, in a carbon API or in a logger never stop training; they are
warned about the first time they happen (per meter, per provider, per logger...) and
recorded where the report shows them. :class:`WarnOnce` remembers the keys already warned
about (thread-safe: the Prometheus exporter warns from its own threads; picklable, as the
meters that hold one travel to spawned processes)::

    self._once = WarnOnce()
    ...
    if self._once.first(provider.name):
        warnings.warn(message, ProviderFallbackWarning, stacklevel=2)

or, for a plain :func:`warnings.warn`, ``self._once.warn(key, message, Category)``.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Hashable

__all__ = ["WarnOnce"]


class WarnOnce:
    """The keys already warned about; :meth:`first` is true once per key."""

    def __init__(self) -> None:
        self._seen: set[Hashable] = set()
        self._lock = threading.Lock()

    def first(self, key: Hashable = None) -> bool:
        """True the first time ``key`` is seen (then remembered), false after."""
        with self._lock:
            if key in self._seen:
                return False
            self._seen.add(key)
            return True

    def warn(
        self,
        key: Hashable,
        message: str,
        category: type[Warning] = UserWarning,
        stacklevel: int = 1,
    ) -> bool:
        """``warnings.warn(message, category)`` the first time ``key`` is seen; true when it warned.

        ``stacklevel`` counts as in :func:`warnings.warn` from the caller of this method.
        """
        if not self.first(key):
            return False
        warnings.warn(message, category, stacklevel=stacklevel + 1)
        return True

    def reset(self) -> None:
        """Forget every key (e.g. at the start of a new fit)."""
        with self._lock:
            self._seen.clear()

    def __contains__(self, key: Hashable) -> bool:
        return key in self._seen

    # picklable (a meter travels to spawned processes): the keys go, the lock is made anew
    def __getstate__(self) -> dict[str, object]:
        with self._lock:
            return {"seen": set(self._seen)}

    def __setstate__(self, state: dict[str, set[Hashable]]) -> None:
        self._seen = set(state["seen"])
        self._lock = threading.Lock()

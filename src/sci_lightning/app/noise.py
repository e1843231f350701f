"""Third-party output that tells the user nothing they can act on, filtered in one place.

:func:`quiet_third_party` is applied by the command lines (``python -m sci_lightning``,
``python -m sci_lightning.plan``) before anything else runs. Each filter names the exact
message and the module that emits it, so any other warning -- ours above all
(``EnergyMeterWarning``, ``CarbonBudgetWarning``, a provider falling back) -- and any new
warning of those packages is still shown. The library itself filters nothing: a user's
own script sees everything.

Filtered:

- Lightning's ``💡 Tip: ... litlogger ...`` (an advertisement, logged at INFO on every run);
- torch's ``isinstance(treespec, LeafSpec)`` FutureWarning, raised from Lightning's own
  ``lightning.pytorch.utilities._pytree`` (Lightning's code, not the user's, uses it).
"""

from __future__ import annotations

import logging
import warnings

__all__ = ["LOG_FILTERS", "WARNING_FILTERS", "quiet_third_party"]

#: ``(category, message regex, module regex)`` for :func:`warnings.filterwarnings`.
WARNING_FILTERS: tuple[tuple[type[Warning], str, str], ...] = (
    (FutureWarning, r"`isinstance\(treespec, LeafSpec\)` is deprecated", r"lightning\.pytorch\.utilities\._pytree"),
)

#: ``logger name -> substrings``: a record of that logger whose message holds one is dropped.
LOG_FILTERS: dict[str, tuple[str, ...]] = {
    "lightning.pytorch.utilities.rank_zero": ("try installing [litlogger]",),
    "pytorch_lightning.utilities.rank_zero": ("try installing [litlogger]",),
}


class _DropMessages(logging.Filter):
    def __init__(self, needles: tuple[str, ...]) -> None:
        super().__init__()
        self.needles = needles

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is not ours to judge
            return True
        return not any(needle in text for needle in self.needles)


_applied = False


def quiet_third_party() -> None:
    """Install the filters above (idempotent); imports none of the packages concerned."""
    global _applied
    if _applied:
        return
    _applied = True
    for category, message, module in WARNING_FILTERS:
        warnings.filterwarnings("ignore", message=message, category=category, module=module)
    for name, needles in LOG_FILTERS.items():
        logging.getLogger(name).addFilter(_DropMessages(needles))

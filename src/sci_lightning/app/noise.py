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
  ``lightning.pytorch.utilities._pytree`` (Lightning's code, not the user's, uses it);
- Lightning's ``The `srun` command is available on your system but is not used`` (a hint
  for SLURM users, printed on every machine that has ``srun``; ``trainer=ddp`` under
  ``srun`` is the documented way, see docs/reliability.md).

:func:`one_handler_per_message` removes the console handler the ``lightning`` package adds
to its own logger when the root logger (Hydra's) already prints every record: without it
each Lightning INFO line (the model summary too) is printed twice. W&B's "Symlinked 1
file" notes are not filtered but avoided: the report files are copied into the W&B run
(:func:`sci_lightning.sci.loggers.log_artifacts`), never symlinked.
"""

from __future__ import annotations

import logging
import warnings

__all__ = ["one_handler_per_message", "quiet_third_party"]

#: ``(category, message regex, module regex)`` for :func:`warnings.filterwarnings`.
WARNING_FILTERS: tuple[tuple[type[Warning], str, str], ...] = (
    (
        FutureWarning,
        r"`isinstance\(treespec, LeafSpec\)` is deprecated",
        r"lightning\.pytorch\.utilities\._pytree",
    ),
    (
        Warning,
        r"The `srun` command is available on your system but is not used",
        r"lightning\.fabric\.plugins\.environments\.slurm",
    ),
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
        except Exception:
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


def one_handler_per_message() -> int:
    """Drop the ``lightning`` logger's own console handler when the root logger has a handler
    (Hydra's), so each record is printed once; returns how many handlers were removed.
    Call it after ``lightning`` is imported (its import adds the handler)."""
    if not logging.getLogger().handlers:
        return 0
    removed = 0
    for name in ("lightning", "pytorch_lightning", "lightning.pytorch", "lightning.fabric"):
        lg = logging.getLogger(name)
        for handler in list(lg.handlers):
            if type(handler) is logging.StreamHandler and lg.propagate:
                lg.removeHandler(handler)
                removed += 1
    return removed

"""SignalGuard, the fit's side of :mod:`~sci_lightning.lightning.signals`, and how a fit ended
(:class:`RunEnd`: completed, interrupted by a signal, failed).

Lightning turns SIGINT into ``KeyboardInterrupt`` (it then calls ``on_exception``, sets
SIGINT to ``SIG_IGN`` and ``sys.exit(1)``), and SIGTERM into ``trainer.received_sigterm``
and a ``SIGTERMException`` at the next step boundary. :class:`SignalGuard` adds:

- the name of the signal that stopped the fit (:func:`run_end` reads it);
- SIGUSR1 (what SLURM sends before preemption) behaving like SIGTERM, unless a handler is
  already installed: Lightning's SLURM auto-requeue handler (it saves ``hpc_ckpt_N.ckpt``
  and runs ``scontrol requeue``; the SIGTERM of the requeue then stops the fit as usual)
  or submitit's. Under SLURM with auto-requeue, Lightning owns SIGUSR1 (docs/scaling.md;
  tests/test_slurm.py runs it against a real SLURM);
- once the fit is being stopped, a second SIGINT or SIGTERM ends the process at once
  (``os._exit(128 + signal)``) instead of being ignored.

Lightning restores every handler it found when the fit ends (``teardown``).

Outside the fit, too, a signal ends the run: the handlers themselves are process-wide, in
:mod:`sci_lightning.lightning.signals` (the one home of signal handling; it imports no
Lightning, so the CLI installs it first thing); this module moves their phase through the
fit and records the end.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities.exceptions import SIGTERMException
from typing_extensions import override

from sci_lightning.lightning.signals import (
    current_phase,
    enter_phase,
    exit_on_next_signal,
    hold_after_signal,
    last_fit_signal,
    watch_fit,
)
from sci_lightning.redaction import redact

if TYPE_CHECKING:
    from lightning.pytorch import LightningModule, Trainer

__all__ = ["RunEnd", "SignalGuard", "run_end"]


@dataclass(frozen=True)
class RunEnd:
    """How one part of a job ended: ``status`` is ``completed``, ``interrupted`` or ``failed``."""

    status: str = "completed"
    signal: str | None = None  # SIGINT | SIGTERM | SIGUSR1, when interrupted
    error: str | None = None  # "<type>: <message>" (redacted), when failed

    @property
    def exit_code(self) -> int:
        """The process exit status for this end: 0, 128 + signal number, or 1."""
        if self.status == "completed":
            return 0
        number = getattr(signal, self.signal, None) if self.signal else None
        return 128 + int(number) if number is not None else 1

    @property
    def ranks_in_step(self) -> bool:
        """Whether every DDP rank stopped at the same point (collectives are safe)."""
        return self.status == "completed" or (self.status == "interrupted" and self.signal != "SIGINT")

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "signal": self.signal, "error": self.error}


def run_end(exception: BaseException | None) -> RunEnd:
    """The :class:`RunEnd` for the exception that stopped ``fit`` (``None``: it completed)."""
    if exception is None:
        return RunEnd()
    if isinstance(exception, KeyboardInterrupt):
        return RunEnd("interrupted", getattr(exception, "signal_name", "SIGINT"))
    if isinstance(exception, SIGTERMException):
        return RunEnd("interrupted", last_fit_signal() or "SIGTERM")
    return RunEnd("failed", error=redact(f"{type(exception).__name__}: {exception}")[:2000])


class SignalGuard(Callback):
    """Moves the run's phase through the fit (:func:`enter_phase`) and records how it ended.

    The signals themselves are handled process-wide
    (:func:`~sci_lightning.lightning.signals.install_process_signals`, which
    ``sci_lightning.app.train.run`` calls): SIGUSR1 stops like SIGTERM, a second signal
    exits at once. ``end`` is the :class:`RunEnd` of the last fit (``None`` while it runs).
    """

    def __init__(self) -> None:
        self.end: RunEnd | None = None

    @override
    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        watch_fit(trainer)
        self.end = None

    @override
    def on_sanity_check_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        enter_phase("sanity check", trainer)

    @override
    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Training begins (Lightning has registered its SIGTERM handler, which calls ours too)."""
        enter_phase("training", trainer)

    @override
    def on_validation_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not trainer.sanity_checking:
            enter_phase("validation", trainer)

    @override
    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not trainer.sanity_checking and current_phase() == "validation":
            enter_phase("training", trainer)

    @override
    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """First of the callbacks: the reports are written from here on (a signal now waits for them)."""
        enter_phase("reporting", trainer)
        self.end = RunEnd()

    @override
    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        """Record the end; while the part's files are written, a second signal exits at once."""
        self.end = run_end(exception)
        if self.end.status == "interrupted":
            exit_on_next_signal()
            hold_after_signal()

"""How a fit ended (completed, interrupted by a signal, failed), and the signal handling around it.

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
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any

from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities.exceptions import SIGTERMException
from typing_extensions import override

from sci_lightning.redaction import redact

if TYPE_CHECKING:
    from lightning.pytorch import LightningModule, Trainer

__all__ = ["RunEnd", "SignalGuard", "run_end"]

_received: list[str] = []  # signal names received by this process while fitting (signals are per process)


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
        return RunEnd("interrupted", "SIGINT")
    if isinstance(exception, SIGTERMException):
        return RunEnd("interrupted", _received[-1] if _received else "SIGTERM")
    return RunEnd("failed", error=redact(f"{type(exception).__name__}: {exception}")[:2000])


def _exit_now(signum: int, frame: FrameType | None) -> None:
    os._exit(128 + signum)


def _set(signum: int, handler: Any) -> bool:
    try:
        signal.signal(signum, handler)
    except (ValueError, OSError):  # not the main thread, or not allowed here
        return False
    return True


class SignalGuard(Callback):
    """Records the stopping signal, maps SIGUSR1 to SIGTERM, makes a second Ctrl-C exit at once.

    ``end`` is the :class:`RunEnd` of the last fit (``None`` while it runs).
    """

    def __init__(self) -> None:
        self.end: RunEnd | None = None

    @override
    def on_train_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        """After Lightning registered its handlers: wrap SIGTERM, add SIGUSR1 if nobody handles it."""
        _received.clear()
        self.end = None
        lightning_sigterm = signal.getsignal(signal.SIGTERM)

        def on_sigterm(signum: int, frame: FrameType | None) -> None:
            _received.append(signal.Signals(signum).name)
            if callable(lightning_sigterm):
                lightning_sigterm(signum, frame)

        if callable(lightning_sigterm):
            _set(signal.SIGTERM, on_sigterm)
        sigusr1 = getattr(signal, "SIGUSR1", None)
        if sigusr1 is not None and signal.getsignal(sigusr1) in (signal.SIG_DFL, None):
            _set(sigusr1, on_sigterm)  # no SLURM requeue handler: stop like SIGTERM

    @override
    def on_fit_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        self.end = RunEnd()

    @override
    def on_exception(self, trainer: "Trainer", pl_module: "LightningModule", exception: BaseException) -> None:
        """Record the end; while the part's files are written, a second signal exits at once."""
        self.end = run_end(exception)
        if self.end.status == "interrupted":
            _set(signal.SIGINT, _exit_now)
            _set(signal.SIGTERM, _exit_now)

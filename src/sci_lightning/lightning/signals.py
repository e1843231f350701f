"""Signal handling, in one place: the process-wide handling of SIGINT, SIGTERM and SIGUSR1
through the phases of a run.

This module imports no Lightning, so the CLI installs it first thing; the fit's side
(the phase moved by the fit's hooks, how the fit ended) is the callback
:class:`~sci_lightning.lightning.signal_guard.SignalGuard`, which calls the functions here.

A signal ends the run in every phase: :func:`install_process_signals` (called by
``python -m sci_lightning`` first thing, and by :func:`sci_lightning.app.train.run`)
handles SIGINT, SIGTERM and SIGUSR1 for the whole process, by :data:`PHASES`:

- ``setup``, ``data``, ``sanity check``: the first signal raises :class:`SignalInterrupt`
  at once (a sanity check is not waited for); nothing has trained, so no checkpoint;
- ``training``, ``validation``: SIGTERM and SIGUSR1 stop the fit at the next batch
  boundary (Lightning's SIGTERM flag; the final ``last.ckpt`` and reports follow), SIGINT
  at once, as Lightning's Ctrl-C;
- ``reporting``: the signal is recorded and the reports are finished first
  (:func:`deferred_signal`), then the process exits 128 + signal;
- any phase: a second SIGINT, SIGTERM or SIGUSR1 ends the process at once
  (``os._exit(128 + signal)``). A signal inherited as ignored (a background job of a
  non-interactive shell ignores SIGINT) is handled all the same.

:func:`enter_phase` moves the phase; with ``SCI_LIGHTNING_TEST_PAUSE_AT=<phase>`` (tests
only) the process writes a marker file (``SCI_LIGHTNING_TEST_PAUSE_FILE``) on entering that
phase and waits there for a signal, so a test can send one exactly in each phase.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lightning.pytorch import Trainer

__all__ = [
    "SignalInterrupt",
    "begin_run",
    "current_phase",
    "deferred_signal",
    "enter_phase",
    "exit_on_next_signal",
    "hold_after_signal",
    "install_process_signals",
    "last_fit_signal",
    "phase_reached",
    "watch_fit",
]

#: The phases of a run, in order (``run_summary.json`` says which one a signal reached).
PHASES = ("setup", "data", "sanity check", "training", "validation", "reporting")
#: Tests only: pause on entering this phase (``sanity_check`` or ``sanity check``) until a signal comes.
PAUSE_AT_ENV = "SCI_LIGHTNING_TEST_PAUSE_AT"
#: Tests only: the marker file written when the pause begins (default ``paused_at_<phase>`` in the cwd).
PAUSE_FILE_ENV = "SCI_LIGHTNING_TEST_PAUSE_FILE"
#: Tests only: after the first signal, wait for a second one (:func:`hold_after_signal`).
HOLD_ENV = "SCI_LIGHTNING_TEST_HOLD_AFTER_SIGNAL"
_PAUSE_MAX_S = 600.0
#: Signals that end a run (SIGUSR1: SLURM's warning before preemption).
_STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGUSR1")


class SignalInterrupt(KeyboardInterrupt):
    """Raised in the main thread by the first SIGINT/SIGTERM/SIGUSR1 outside the training loop.

    A KeyboardInterrupt, so Lightning handles it as Ctrl-C (``on_exception``, teardown).
    """

    def __init__(self, signal_name: str, phase: str) -> None:
        super().__init__(f"{signal_name} during {phase}")
        self.signal_name = signal_name
        self.phase = phase


@dataclass
class _ProcessState:
    """This process's run phase and the stopping signal (signals are per process)."""

    pid: int | None = None  # the process that installed the handlers (forked workers differ)
    phase: str = "setup"
    signal: str | None = None  # the first stopping signal received
    signal_phase: str | None = None  # the phase it arrived in
    trainer: Trainer | None = None  # set while a fit runs (SIGUSR1 raises Lightning's SIGTERM flag)
    paused: set[str] = field(default_factory=set)


_state = _ProcessState()

_received: list[str] = []  # signal names received by this process while fitting (signals are per process)


def _exit_now(signum: int, frame: FrameType | None) -> None:
    os._exit(128 + signum)


def current_phase() -> str:
    """The phase the run is in now (one of :data:`PHASES`)."""
    return _state.phase


def watch_fit(trainer: Trainer) -> None:
    """A fit begins: forget the signals of an earlier fit; SIGUSR1 and SIGTERM now stop ``trainer``."""
    _received.clear()
    _state.trainer = trainer


def last_fit_signal() -> str | None:
    """The name of the last stopping signal received since :func:`watch_fit` (``None``: none)."""
    return _received[-1] if _received else None


def exit_on_next_signal() -> None:
    """From now on, a SIGINT or SIGTERM ends the process at once (``os._exit(128 + signal)``)."""
    _set(signal.SIGINT, _exit_now)
    _set(signal.SIGTERM, _exit_now)


def phase_reached() -> str:
    """The phase the run was in when the stopping signal came (else the current phase)."""
    return _state.signal_phase or _state.phase


def deferred_signal() -> str | None:
    """The name of the stopping signal received so far in this process (``None``: none)."""
    return _state.signal


def enter_phase(phase: str, trainer: Trainer | None = None) -> None:
    """The run is now in ``phase`` (one of :data:`PHASES`); pauses there when a test asks."""
    _state.phase = phase
    if trainer is not None:
        _state.trainer = trainer
    wanted = os.environ.get(PAUSE_AT_ENV, "").replace("_", " ").strip()
    if wanted == phase and phase not in _state.paused and os.getpid() == _state.pid:
        _state.paused.add(phase)
        _pause(phase)


def _pause(phase: str) -> None:
    """Tests only: write the marker file, then wait (up to 10 min) until a stopping signal arrives."""
    marker = Path(os.environ.get(PAUSE_FILE_ENV) or f"paused_at_{phase.replace(' ', '_')}")
    marker.write_text(f"{os.getpid()} {phase}\n")
    deadline = time.monotonic() + _PAUSE_MAX_S
    while _state.signal is None and time.monotonic() < deadline:
        time.sleep(0.02)  # the signal handler runs (and may raise) between these sleeps


def begin_run() -> None:
    """A new run in this process: phase ``setup``, no signal received yet."""
    _state.phase, _state.signal, _state.signal_phase, _state.trainer = "setup", None, None, None
    _state.paused.clear()
    _received.clear()


def hold_after_signal() -> None:
    """Tests only (``SCI_LIGHTNING_TEST_HOLD_AFTER_SIGNAL=1``): once the first signal is being
    handled, write the marker ``<pause file>.stopping`` and wait there; only a second signal
    (which exits at once) ends the wait. Shows that no phase of stopping ignores it."""
    if not os.environ.get(HOLD_ENV) or _state.signal is None or os.getpid() != _state.pid:
        return
    marker = Path(os.environ.get(PAUSE_FILE_ENV) or f"paused_at_{_state.signal_phase or _state.phase}")
    Path(f"{marker}.stopping").write_text(f"{os.getpid()} {_state.signal}\n")
    deadline = time.monotonic() + _PAUSE_MAX_S
    while time.monotonic() < deadline:
        time.sleep(0.02)


def install_process_signals() -> None:
    """Handle SIGINT, SIGTERM and SIGUSR1 in this process from now to its exit (see the module docs).

    Idempotent; does nothing outside the main thread. SIGUSR1 is left alone under SLURM
    (Lightning's auto-requeue handler takes it).
    """
    if _state.pid == os.getpid():
        return
    _state.pid = os.getpid()
    for name in _STOP_SIGNALS:
        number = getattr(signal, name, None)
        if number is None or (name == "SIGUSR1" and _under_slurm()):
            continue
        _set(number, _on_signal)


def _under_slurm() -> bool:
    """A SLURM batch job (not an interactive ``srun bash``), where Lightning may requeue on SIGUSR1."""
    return "SLURM_NTASKS" in os.environ and os.environ.get("SLURM_JOB_NAME") not in ("bash", "interactive")


def _on_signal(signum: int, frame: FrameType | None) -> None:
    """The process-wide handler: record the signal; stop the run as its phase allows."""
    if os.getpid() != _state.pid:  # a forked worker: behave as by default
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        os._exit(128 + signum)
    name = signal.Signals(signum).name
    if _state.signal is not None:  # the second one: no more waiting
        os._exit(128 + signum)
    _state.signal, _state.signal_phase = name, _state.phase
    _received.append(name)
    if _state.phase == "reporting":
        return  # the reports are being written; run() exits 128 + signal after them
    if _state.phase in ("training", "validation") and name != "SIGINT" and _stop_at_next_batch(name):
        return
    raise SignalInterrupt(name, _state.phase)


def _stop_at_next_batch(name: str) -> bool:
    """Ask the running fit to stop at its next batch boundary; False when no fit can be asked."""
    connector = getattr(_state.trainer, "_signal_connector", None)
    if connector is None or not hasattr(connector, "received_sigterm"):
        return False
    connector.received_sigterm = True  # what Lightning's own SIGTERM handler sets (SIGTERM: already set)
    return True


def _set(signum: int, handler: Callable[[int, FrameType | None], None]) -> bool:
    try:
        signal.signal(signum, handler)
    except (ValueError, OSError):  # not the main thread, or not allowed here
        return False
    return True

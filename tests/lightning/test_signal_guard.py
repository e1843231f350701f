"""lightning/signal_guard.py: how a fit ended (:func:`run_end`, :class:`RunEnd`) and SignalGuard in real
(tiny, CPU) fits, with real signals sent to this process: the phases it moves through, what it records
for SIGUSR1, SIGTERM and SIGINT, and every handler back as it was after the fit.

The same in CLI processes, phase by phase: tests/e2e/test_signals_phases.py, tests/e2e/test_interrupt.py.
"""

from __future__ import annotations

import dataclasses
import os
import signal
from pathlib import Path

import pytest
from lightning.pytorch import Callback
from lightning.pytorch.utilities.exceptions import SIGTERMException
from scripted import ScriptClock, ScriptedModule, quiet_trainer

from sci_lightning.lightning import signals
from sci_lightning.lightning.signal_guard import RunEnd, SignalGuard, run_end

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1)


# ------------------------------------------------------------------ run_end and RunEnd
def test_a_fit_without_an_exception_completed():
    end = run_end(None)
    assert end == RunEnd("completed", None, None) and end.exit_code == 0 and end.ranks_in_step
    assert end.to_dict() == {"status": "completed", "signal": None, "error": None}


def test_ctrl_c_is_an_interruption_by_sigint_and_the_ranks_are_not_in_step():
    end = run_end(KeyboardInterrupt())
    assert end == RunEnd("interrupted", "SIGINT") and end.exit_code == 130 and not end.ranks_in_step


def test_the_process_handlers_interrupt_names_its_signal():
    end = run_end(signals.SignalInterrupt("SIGUSR1", "data"))
    assert end == RunEnd("interrupted", "SIGUSR1") and end.exit_code == 128 + signal.SIGUSR1


def test_lightnings_sigterm_stop_is_the_last_signal_of_the_fit():
    signals.watch_fit(trainer=None)  # type: ignore[arg-type]
    try:
        assert run_end(SIGTERMException()) == RunEnd("interrupted", "SIGTERM")  # none recorded: SIGTERM
        signals._received.append("SIGUSR1")  # what the process-wide handler records
        end = run_end(SIGTERMException())
        assert end == RunEnd("interrupted", "SIGUSR1") and end.exit_code == 138 and end.ranks_in_step
    finally:
        signals._received.clear()


def test_a_failure_is_recorded_redacted_and_bounded():
    end = run_end(RuntimeError("bad token=abc123secret in the url"))
    assert end.status == "failed" and end.signal is None and end.exit_code == 1
    assert (
        end.error is not None and end.error.startswith("RuntimeError: ") and "abc123secret" not in end.error
    )
    assert len(run_end(ValueError("x" * 5000)).error or "") == 2000
    assert not end.ranks_in_step


# ------------------------------------------------------------------ SignalGuard in real fits
class _Phases(Callback):
    """Records the run phase at the hooks that show it (placed after the guard), and sends a
    signal to this process after training batch ``send_at`` (1-based)."""

    def __init__(self, send: signal.Signals | None = None, send_at: int = 3) -> None:
        self.send, self.send_at, self.seen, self.batches = send, send_at, [], 0

    def _see(self) -> None:
        if not self.seen or self.seen[-1] != signals.current_phase():
            self.seen.append(signals.current_phase())

    def on_sanity_check_end(self, trainer, pl_module) -> None:
        self._see()

    def on_validation_batch_end(self, trainer, pl_module, *args) -> None:
        self._see()

    def on_train_batch_end(self, trainer, pl_module, *args) -> None:
        self._see()
        self.batches += 1
        if self.send is not None and self.batches == self.send_at:
            os.kill(os.getpid(), self.send)

    def on_fit_end(self, trainer, pl_module) -> None:
        self._see()


def _handlers() -> dict[int, object]:
    return {s: signal.getsignal(s) for s in STOP_SIGNALS}


@pytest.fixture
def process_state(monkeypatch):
    """The process-wide signal state and handlers, put back after the test."""
    for name in (signals.HOLD_ENV, signals.PAUSE_AT_ENV, "SLURM_NTASKS"):
        monkeypatch.delenv(name, raising=False)
    handlers, state = _handlers(), dataclasses.replace(signals._state, paused=set(signals._state.paused))
    signals.begin_run()
    try:
        yield
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)
        signals._state = state
        signals._received.clear()


@pytest.fixture
def installed(process_state):
    """The CLI's process-wide handlers installed (as ``python -m sci_lightning`` does first thing)."""
    signals._state.pid = None
    signals.install_process_signals()
    assert all(signal.getsignal(s) is signals._on_signal for s in STOP_SIGNALS)


def _fit(tmp_path: Path, callbacks: list, **kw) -> ScriptedModule:
    model = ScriptedModule(ScriptClock(), n=32, batch_size=8)  # 4 batches per epoch
    kw.setdefault("max_epochs", 2)
    quiet_trainer(
        tmp_path,
        callbacks,
        limit_val_batches=1,
        **kw,
    ).fit(model)
    return model


def test_a_completed_fit_moves_through_the_phases_and_records_its_end(tmp_path, process_state):
    guard, phases = SignalGuard(), _Phases()
    before = _handlers()
    _fit(tmp_path, [guard, phases], num_sanity_val_steps=1)
    assert phases.seen == ["sanity check", "training", "validation", "training", "validation", "reporting"]
    assert guard.end == RunEnd() and signals.current_phase() == "reporting"
    assert _handlers() == before


def test_sigusr1_stops_the_fit_at_the_batch_boundary_as_sigusr1(tmp_path, installed):
    guard, phases = SignalGuard(), _Phases(signal.SIGUSR1, send_at=3)
    before = _handlers()
    with pytest.raises(SIGTERMException):
        _fit(tmp_path, [guard, phases], num_sanity_val_steps=0)
    assert phases.batches == 3  # stopped at the boundary of the batch it came in
    assert guard.end == RunEnd("interrupted", "SIGUSR1") and guard.end.exit_code == 138
    assert signals.deferred_signal() == "SIGUSR1" and signals.phase_reached() == "training"
    # the guard set "a second signal exits at once" for the stopping; the fit's teardown put back
    # the handlers it found
    assert _handlers() == before


def test_plain_lightning_sigterm_is_recorded_as_sigterm(tmp_path, process_state):
    """No process-wide handlers (a user's own script): Lightning's SIGTERM handling, named by the guard."""
    guard, phases = SignalGuard(), _Phases(signal.SIGTERM, send_at=2)
    before = _handlers()
    signals._received.append("SIGUSR1")  # an earlier fit's signal: forgotten when this fit starts
    with pytest.raises(SIGTERMException):
        _fit(tmp_path, [guard, phases], num_sanity_val_steps=0)
    assert phases.batches == 2 and guard.end == RunEnd("interrupted", "SIGTERM")
    assert _handlers() == before


def test_sigint_stops_the_fit_at_once_and_the_ranks_are_not_in_step(tmp_path, installed):
    guard, phases = SignalGuard(), _Phases(signal.SIGINT, send_at=2)
    before = _handlers()
    with pytest.raises(SystemExit) as stopped:  # Lightning's Ctrl-C: on_exception, teardown, exit 1
        _fit(tmp_path, [guard, phases], num_sanity_val_steps=0)
    assert stopped.value.code == 1 and phases.batches == 2
    assert guard.end == RunEnd("interrupted", "SIGINT") and not guard.end.ranks_in_step
    assert _handlers() == before


def test_a_failure_in_training_is_recorded_and_a_new_fit_starts_clean(tmp_path, process_state):
    guard = SignalGuard()
    model = ScriptedModule(ScriptClock(), n=32, batch_size=8, fail_at_batch=1)
    trainer = quiet_trainer(
        tmp_path,
        [guard],
        max_epochs=1,
        num_sanity_val_steps=0,
    )
    with pytest.raises(RuntimeError, match="scripted failure"):
        trainer.fit(model)
    assert guard.end == RunEnd("failed", error="RuntimeError: scripted failure")
    _fit(tmp_path, [guard], num_sanity_val_steps=0, max_epochs=1)
    assert guard.end == RunEnd()

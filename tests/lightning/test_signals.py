"""lightning/signals.py: the state SignalGuard reaches through its public functions.

The signals themselves, in every phase of a real run, are tests/test_signals_phases.py.
"""

from __future__ import annotations

import signal

from sci_lightning.lightning import signals


def test_phase_and_the_fit_signal_are_per_run():
    signals.begin_run()
    assert signals.current_phase() == "setup" and signals.last_fit_signal() is None
    signals.enter_phase("data")
    assert signals.current_phase() == "data" == signals.phase_reached()
    signals._received.append("SIGUSR1")  # what the process-wide handler records
    assert signals.last_fit_signal() == "SIGUSR1"
    signals.watch_fit(trainer=None)  # a new fit forgets the last one's
    assert signals.last_fit_signal() is None
    signals.begin_run()


def test_exit_on_next_signal_installs_the_immediate_exit_for_sigint_and_sigterm():
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        signals.exit_on_next_signal()
        assert signal.getsignal(signal.SIGINT) is signals._exit_now
        assert signal.getsignal(signal.SIGTERM) is signals._exit_now
    finally:
        for number, handler in before.items():
            signal.signal(number, handler)

"""SIGINT, SIGTERM and SIGUSR1 in every phase of a real CLI run, and a second signal in each.

A test-only hook (``SCI_LIGHTNING_TEST_PAUSE_AT=<phase>``) makes the process write a marker
file on entering that phase and wait there, so the signal lands exactly in the phase; with
``SCI_LIGHTNING_TEST_HOLD_AFTER_SIGNAL=1`` it also waits once the first signal is being
handled, so only a second signal can end it (which must then happen at once). The cases of
one test run as parallel processes: one process per phase, several assertions each.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from tiny_run import SMALL_NET

from tests.e2e.test_resume import saved_energy_state

pytestmark = pytest.mark.slow

TINY = [  # the phases, signals and files do not depend on the network: the small one
    "experiment=quickstart",
    *SMALL_NET,
    "data.batch_size=2",
    "data.num_workers=0",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "trainer.num_sanity_val_steps=1",
    "checkpoint.every_n_steps=1",
]
TRAINED = ("training", "validation", "reporting")  # phases after training began: a checkpoint exists


@dataclass
class Case:
    phase: str
    first: signal.Signals
    second: signal.Signals | None = None  # with a second signal: the process must end on it at once
    ignore_sigint: bool = False  # started with SIGINT ignored (a background job of a script)
    proc: subprocess.Popen | None = None
    run_dir: Path | None = None
    marker: Path | None = None


def _start(case: Case, root: Path, cache: Path) -> None:
    slug = case.phase.replace(" ", "_")
    folder = root / f"{slug}-{case.first.name}-{case.second.name if case.second else 'once'}"
    folder.mkdir()
    case.run_dir, case.marker = folder / "run", folder / "paused"
    env = dict(
        os.environ,
        PYTHONUNBUFFERED="1",
        HYDRA_FULL_ERROR="",
        SCI_LIGHTNING_CACHE=str(cache),
        SCI_LIGHTNING_TEST_PAUSE_AT=slug,
        SCI_LIGHTNING_TEST_PAUSE_FILE=str(case.marker),
    )
    if case.second is not None:
        env["SCI_LIGHTNING_TEST_HOLD_AFTER_SIGNAL"] = "1"

    def ignore_sigint() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    case.proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sci_lightning",
            *TINY,
            f"output_dir={case.run_dir}",
            f"hydra.run.dir={folder / 'hydra'}",
        ],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=ignore_sigint if case.ignore_sigint else None,
    )


def _wait_for(path: Path, proc: subprocess.Popen, timeout_s: float = 600.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.is_file():
        if proc.poll() is not None:
            pytest.fail(f"ended ({proc.returncode}) before {path.name}:\n{proc.stdout.read()[-3000:]}")
        assert time.monotonic() < deadline, f"no {path} after {timeout_s} s"
        time.sleep(0.05)


def _run_cases(cases: list[Case], tmp_path: Path) -> None:
    """Start every case at once, signal each in its phase, collect the exit and output."""
    cache = tmp_path / "cache"
    for case in cases:
        _start(case, tmp_path, cache)
    try:
        for case in cases:
            _wait_for(case.marker, case.proc)
            case.proc.send_signal(case.first)
            if case.second is not None:
                _wait_for(Path(f"{case.marker}.stopping"), case.proc)
                case.proc.send_signal(case.second)
        for case in cases:
            case.output, _ = case.proc.communicate(timeout=300)
    finally:
        for case in cases:
            if case.proc.poll() is None:
                case.proc.kill()


def _summary(case: Case) -> dict:
    return json.loads((case.run_dir / "run_summary.json").read_text())


def test_a_signal_in_every_phase_ends_the_run_with_its_status_and_a_summary_naming_the_phase(tmp_path):
    cases = [
        Case("setup", signal.SIGINT, ignore_sigint=True),  # an inherited SIG_IGN is not obeyed
        Case("data", signal.SIGTERM),
        Case("sanity check", signal.SIGUSR1),
        Case("training", signal.SIGUSR1),
        Case("validation", signal.SIGTERM),
        Case("reporting", signal.SIGINT),
    ]
    _run_cases(cases, tmp_path)
    for case in cases:
        where = f"{case.phase}/{case.first.name}:\n{case.output[-3000:]}"
        assert case.proc.returncode == 128 + case.first, where
        assert "Traceback" not in case.output, where
        summary = _summary(case)
        assert summary["status"] == "interrupted", where
        assert summary["interruption"]["signal"] == case.first.name, where
        assert summary["interruption"]["phase"] == case.phase, where
        ckpt = case.run_dir / "checkpoints" / "last.ckpt"
        assert ckpt.is_file() == (case.phase in TRAINED), where
        assert summary["interruption"]["checkpoint"] == (str(ckpt) if case.phase in TRAINED else None), where
        if case.phase in ("setup", "data"):
            assert summary["measured"].startswith("nothing"), where
        if case.phase in ("training", "validation", "reporting"):
            energy = json.loads((case.run_dir / "energy.json").read_text())
            assert energy["it_energy_j"] > 0, where  # what was measured up to the signal
            assert (case.run_dir / "sci_report.json").is_file(), where
        if case.phase == "training":
            assert energy["status"] == "interrupted" and summary["steps"] >= 1, where
            # SIGUSR1's own marks (test_interrupt runs its signal-then-resume cycle for SIGINT and
            # SIGTERM only): its name in energy.json, the report's warning and the checkpoint's part
            assert energy["interruption"]["signal"] == case.first.name, where
            report = json.loads((case.run_dir / "sci_report.json").read_text())
            assert any(f"interrupted by {case.first.name}" in w for w in report["warnings"]), where
            (saved,) = saved_energy_state(ckpt)["parts"]
            assert saved["status"] == "interrupted" and saved["it_energy_j"] == pytest.approx(
                energy["it_energy_j"]
            ), where


def test_a_second_signal_ends_the_process_at_once_however_the_first_is_being_handled(tmp_path):
    # One process per way of stopping: raised before the fit (data), Lightning's Ctrl-C path
    # inside it (sanity check: the same on_exception as training and validation), deferred
    # while the reports are written (reporting). SIGUSR1 first: a second of any kind ends it.
    cases = [
        Case("data", signal.SIGINT, signal.SIGINT),
        Case("sanity check", signal.SIGUSR1, signal.SIGTERM),
        Case("reporting", signal.SIGTERM, signal.SIGINT),
    ]
    _run_cases(cases, tmp_path)  # each holds after the first signal: only the second can end it
    for case in cases:
        where = f"{case.phase}/{case.first.name}+{case.second.name}:\n{case.output[-3000:]}"
        assert case.proc.returncode == 128 + case.second, where
        assert "Traceback" not in case.output, where

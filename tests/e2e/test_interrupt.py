"""SIGINT / SIGTERM to a running CLI process: partial files marked interrupted, a resumable last.ckpt."""

from __future__ import annotations

import signal

import pytest

from tests.e2e.test_resume import FAST, assert_total_is_sum, cli, read, saved_energy_state, start, wait_for


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_writes_the_part_then_resume_sums_the_parts(tmp_path, sig):
    """A signal in training leaves a part marked interrupted and a resumable ``last.ckpt``; the
    resumed run's report is the sum of the parts.

    The two ways a fit stops: SIGINT through Lightning's Ctrl-C path (``on_exception``), SIGTERM at
    the next batch boundary (Lightning's SIGTERM flag). SIGUSR1 is not run here: in a fit it sets
    that same flag (``signals._stop_at_next_batch``), so its fit ends, checkpoints and resumes as
    SIGTERM's does; what is its own (its name in ``run_summary.json``, ``energy.json``, the report's
    warning and the checkpoint's part) is checked in ``test_signals_phases``' training case, one
    process instead of this test's two DenseNet runs.
    """
    first_run, second_run = tmp_path / "part1", tmp_path / "part2"
    ckpt = first_run / "checkpoints" / "last.ckpt"
    proc = start([*FAST, f"output_dir={first_run}", "trainer.max_epochs=2"], tmp_path)
    wait_for(ckpt, proc)
    proc.send_signal(sig)
    log, _ = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, log[-3000:]
    assert "Traceback" not in log, log[-3000:]

    part1 = read(first_run / "energy.json")
    assert part1["status"] == "interrupted" and part1["interruption"]["signal"] == sig.name
    report = read(first_run / "sci_report.json")
    assert any(f"interrupted by {sig.name}" in w for w in report["warnings"])
    assert (first_run / "sci_report.md").is_file() and (first_run / "impact.yml").is_file()
    summary = read(first_run / "run_summary.json")
    assert summary["status"] == "interrupted" and summary["interruption"]["signal"] == sig.name
    (saved,) = saved_energy_state(ckpt)["parts"]  # the checkpoint holds the part's final state
    assert saved["status"] == "interrupted" and saved["it_energy_j"] == pytest.approx(part1["it_energy_j"])
    assert 1 <= part1["steps"] < 8

    out = cli([*FAST, f"output_dir={second_run}", "trainer.max_epochs=2", f"ckpt_path={ckpt}"], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    total = read(second_run / "energy.json")
    first, second = total["parts"]
    assert (
        first["status"] == "interrupted" and first["signal"] == sig.name and first["checkpoint"] == str(ckpt)
    )
    assert_total_is_sum(total, part1, second)  # part 1's own report + part 2
    assert total["steps"] == 8 and total["unmeasured_s"] == 0
    diff = abs(total["it_energy_j"] - part1["it_energy_j"] - second["it_energy_j"]) / total["it_energy_j"]
    print(
        f"\n{sig.name}: part1 {part1['it_energy_j']:.2f} J + part2 {second['it_energy_j']:.2f} J vs total "
        f"{total['it_energy_j']:.2f} J (rel diff {diff:.2e})"
    )

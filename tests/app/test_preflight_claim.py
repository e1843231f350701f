"""The run folder, claimed before torch (sci_lightning.app.preflight): ``run_folder`` makes and owns
it; ``claim_run_folder`` refuses, in one line, a folder another live process holds, one that cannot
be made, and one holding a finished run's records unless the run resumes; ``resumes_run``: what
counts as resuming (a checkpoint given, a requeued SLURM job)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lock_holder import lock_held_elsewhere

from sci_lightning.app.preflight import RUN_RECORDS, claim_run_folder, hydra_config, resumes_run, run_folder
from sci_lightning.errors import ConfigError
from sci_lightning.settings import Config, coerce


def _finished(folder, status="completed", checkpoint=True):
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "run_summary.json").write_text(json.dumps({"status": status}))
    (folder / "sci_report.json").write_text("{}")
    if checkpoint:
        (folder / "checkpoints" / "last.ckpt").write_bytes(b"weights")


def test_a_folder_with_a_finished_run_is_refused_in_one_line_naming_both_ways_on(tmp_path):
    folder = tmp_path / "run"
    _finished(folder)
    with pytest.raises(ConfigError) as refused:
        claim_run_folder(folder, "hydra.run.dir")
    line = str(refused.value)
    assert "\n" not in line
    assert f"hydra.run.dir='{folder}'" in line
    assert "holds a finished run (run_summary.json, status completed)" in line
    assert "overwrite its reports" in line
    assert "hydra.run.dir=<another folder>" in line and "ckpt_path=last" in line
    assert (folder / "sci_report.json").read_text() == "{}"


def test_the_resume_hint_only_where_there_is_a_checkpoint_to_resume(tmp_path):
    folder = tmp_path / "run"
    _finished(folder, status="interrupted", checkpoint=False)
    with pytest.raises(ConfigError) as refused:
        claim_run_folder(folder)
    assert "status interrupted" in str(refused.value)
    assert "output_dir=<another folder>" in str(refused.value)
    assert "ckpt_path" not in str(refused.value)


@pytest.mark.parametrize("record", RUN_RECORDS)
def test_each_record_of_a_run_marks_its_folder(tmp_path, record):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / record).write_text("{}")
    with pytest.raises(ConfigError, match=f"holds a finished run \\({record}\\)"):
        claim_run_folder(folder)


def test_a_resume_takes_its_own_finished_folder(tmp_path):
    folder = tmp_path / "run"
    _finished(folder)
    claim_run_folder(folder, resuming=True)
    claim_run_folder(folder, resuming=True)  # taken again by the same process: still its own


def test_a_new_or_empty_folder_and_one_with_only_hydra_files_are_taken(tmp_path):
    claim_run_folder(tmp_path / "new" / "run")
    assert (tmp_path / "new" / "run").is_dir()
    refused_before = tmp_path / "hydra"
    (refused_before / ".hydra").mkdir(parents=True)
    (refused_before / "__main__.log").write_text("")
    claim_run_folder(refused_before)


def test_this_process_is_refused_too_once_its_own_run_left_records(tmp_path):
    folder = tmp_path / "run"
    claim_run_folder(folder)
    (folder / "run_summary.json").write_text(json.dumps({"status": "completed"}))
    with pytest.raises(ConfigError, match="finished run"):
        claim_run_folder(folder)  # a second run(cfg) in the same Python process


@pytest.mark.parametrize(
    "ckpt_path, env, resumes",
    [
        (None, {}, False),
        ("", {}, False),
        ("null", {}, False),
        ("last", {}, True),
        ("runs/a/checkpoints/last.ckpt", {}, True),
        (None, {"SLURM_JOB_ID": "7", "SLURM_RESTART_COUNT": "0"}, False),
        (None, {"SLURM_JOB_ID": "7", "SLURM_RESTART_COUNT": "1"}, True),
        (None, {"SLURM_RESTART_COUNT": "1"}, False),  # not in a SLURM job
    ],
)
def test_what_resumes_a_run(monkeypatch, ckpt_path, env, resumes):
    for name in ("SLURM_JOB_ID", "SLURM_RESTART_COUNT", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert resumes_run(ckpt_path) is resumes


def test_outside_hydra_there_is_no_hydra_config():
    assert hydra_config() is None


def test_run_folder_is_output_dir_made_and_owned(tmp_path: Path):
    out = tmp_path / "a" / "b"
    (out / "checkpoints").mkdir(parents=True)
    stale = out / "checkpoints" / ".last.ckpt.k3x9_q2z.tmp"  # mkstemp's 8 random characters
    stale.write_text("a killed write")
    assert run_folder(coerce(Config, {"output_dir": str(out)})) == out
    assert not stale.exists()  # this process owns the folder: a temporary is a dead write's
    claim_run_folder(out)  # this process holds it already: no error


def test_a_folder_another_process_runs_in_is_refused(tmp_path: Path):
    out = tmp_path / "run"
    out.mkdir()
    with lock_held_elsewhere(out / "run") as pid, pytest.raises(ConfigError) as err:
        claim_run_folder(out)
    message = str(err.value)
    assert message.startswith(
        f"Invalid setting output_dir={str(out)!r}: process {pid} is running in this folder"
    )
    assert "\n" not in message and "(output_dir=<another folder>)" in message


def test_a_folder_that_cannot_be_made_is_one_line(tmp_path: Path):
    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(ConfigError) as err:
        claim_run_folder(a_file / "run", key="hydra.run.dir")
    message = str(err.value)
    assert (
        message.startswith(f"Invalid setting hydra.run.dir={str(a_file / 'run')!r}: ") and "\n" not in message
    )
    assert "hydra.run.dir" in message.split(": ", 1)[1]  # the fix names the setting
    too_long = tmp_path / ("x" * 300)
    with pytest.raises(ConfigError, match=r"Invalid setting output_dir=.*set output_dir to another folder"):
        claim_run_folder(too_long)

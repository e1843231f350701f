"""Reading job folders into JobRecords, and why a job failed (sci_lightning.compare.records)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from sweep_jobs import make_report, two_model_sweep, write_job

import sci_lightning.compare as compare_pkg
from sci_lightning.compare import records as R
from sci_lightning.compare import tables as T
from sci_lightning.errors import ConfigError


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """Inception (job 0) vs DenseNet (job 1): tests/helpers/sweep_jobs.py."""
    return two_model_sweep(tmp_path)


def test_job_number_order_not_name_order(tmp_path: Path):
    s = tmp_path / "sw"
    s.mkdir()
    for num in (10, 2):
        write_job(
            s,
            num,
            f"m{num}",
            make_report(f"m{num}", f"model=m{num}", val_acc=0.5, cost_usd=1, energy_kwh=1, duration_s=1),
        )
    assert [j.job_num for j in compare_pkg.collect_jobs([s])] == [2, 10]


def test_failed_jobs_listed_with_reason(sweep: Path):
    write_job(
        sweep, 2, "resnet", None, log_line="[2026-11-28 20:01:00,000][__main__][ERROR] - CUDA out of memory"
    )
    write_job(sweep, 3, "vit", None)
    (sweep / "4").mkdir()  # died before Hydra wrote anything
    (sweep / "model=inception").mkdir()  # a TensorBoard run folder, not a job
    (sweep / "model=inception" / "events.out.tfevents.1.host").write_bytes(b"")
    comp = compare_pkg.compare_runs([sweep], baseline="densenet")
    status = {j.job_num: j.status for j in comp.jobs}
    assert status == {
        0: "ok",
        1: "ok",
        2: "failed: [2026-11-28 20:01:00,000][__main__][ERROR] - CUDA out of memory",
        3: "failed: no sci_report.json",
        4: "failed: no sci_report.json",
    }
    rows = T.table_rows(comp)
    assert len(rows) == 5 and rows[3][4] == "failed: no sci_report.json"
    # a failed job's Run reads like the others' (the swept override), not the whole override string
    assert [r[1] for r in rows[:4]] == ["model=inception", "model=densenet", "model=resnet", "model=vit"]
    assert len(comp.sentences) == 1  # failed jobs are not compared


def test_unreadable_report_and_job_status_file(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("WATTTIME_PASSWORD", "hunter2-secret")
    s = tmp_path / "sw"
    s.mkdir()
    write_job(s, 0, "a", make_report("a_net", "model=a", val_acc=0.5, cost_usd=1, energy_kwh=1, duration_s=1))
    bad = write_job(s, 1, "b", None)
    (bad / "sci_report.json").write_text("{not json")
    failed = write_job(s, 2, "c", None)
    (failed / R.JOB_STATUS_FILE).write_text(
        json.dumps(
            {
                "status": "failed",
                "error_type": "HTTPError",
                "error": "401 for https://x/?token=abc123 pw hunter2-secret",
            }
        )
    )
    cli_failed = write_job(s, 3, "d", None)  # as python -m sci_lightning leaves a failed sweep job
    (cli_failed / "job_failed.json").write_text(
        json.dumps(
            {
                "overrides": ["model=d"],
                "error_type": "DatasetError",
                "error": "Tiny ImageNet not found",
                "traceback": "...",
            }
        )
    )
    good = make_report("e_net", "model=e", val_acc=0.5, cost_usd=1, energy_kwh=1, duration_s=1)
    malformed = write_job(s, 4, "e", {**good, "val_acc": "high"})
    comp = compare_pkg.compare_runs([s])
    assert comp.jobs[4].status == (
        "failed: invalid sci_report.json (field 'val_acc' must be a finite number, got 'high')"
    )
    assert malformed.name == "4" and comp.jobs[3].status == "failed: DatasetError: Tiny ImageNet not found"
    assert comp.jobs[1].status.startswith("failed: unreadable sci_report.json")
    reason = comp.jobs[2].status
    assert reason.startswith("failed: HTTPError: 401")
    assert "abc123" not in reason and "hunter2-secret" not in reason


def test_missing_or_empty_run_dir_is_a_clear_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="does not exist"):
        compare_pkg.collect_jobs([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="No job folder found"):
        compare_pkg.collect_jobs([tmp_path / "empty"])


def test_binary_truncated_and_wrong_schema_reports_are_listed_not_fatal(tmp_path: Path):
    from sci_lightning.compare.tables import compare_runs, markdown_report

    good = make_report(
        "densenet121", "model=densenet", val_acc=0.5, cost_usd=1.0, energy_kwh=1.0, duration_s=10.0
    )
    write_job(tmp_path, 0, "densenet", good)
    bad = {
        1: os.urandom(2048) + b"\xff\xfe",
        2: json.dumps(good)[:120].encode(),
        3: b'{"sci": "no"}',
        4: b"[" * 100_000,
    }  # binary, truncated, wrong schema, nested past the recursion limit
    for num, data in bad.items():
        (write_job(tmp_path, num, "densenet", None) / "sci_report.json").write_bytes(data)
    comp = compare_runs([tmp_path])
    status = {j.job_num: j.status for j in comp.jobs}
    assert status[0] == "ok"
    assert status[1].startswith("failed: unreadable sci_report.json (UnicodeDecodeError")
    assert status[2].startswith("failed: unreadable sci_report.json") and "not valid JSON" in status[2]
    assert status[3].startswith("failed: invalid sci_report.json (field 'sci' must be an object")
    assert status[4].startswith("failed: unreadable sci_report.json")
    assert "unreadable" in markdown_report(comp)


# ------------------------------------------------------------------ the module's own helpers


def test_combine_quality_and_quality_class():
    assert R.combine_quality("measured", "measured") == "measured"
    assert R.combine_quality("estimated", None, "estimated") == "estimated"
    assert R.combine_quality("measured", "estimated") == "mixed"
    assert R.combine_quality(None, "") == "unknown" and R.combine_quality() == "unknown"
    assert [R.quality_class(q) for q in ("measured", "forecast", "static", "fallback", "mixed")] == [
        "measured",
        "estimated",
        "estimated",
        "estimated",
        "mixed",
    ]
    assert R.quality_class("historical") is None and R.quality_class(None) is None
    assert R.quality_class(3) is None  # type: ignore[arg-type]  # a malformed report


def test_one_line_joins_whitespace_and_cuts_with_an_ellipsis():
    assert R.one_line("  a\n\tb   c \n") == "a b c"
    assert R.one_line("x" * 10, limit=10) == "x" * 10
    assert R.one_line("x" * 11, limit=10) == "x" * 9 + "…"


def test_failure_reason_reads_the_status_files_then_the_last_log_error(tmp_path: Path):
    assert R.failure_reason(tmp_path) is None
    (tmp_path / "train.log").write_text(
        "[INFO] - start\nValueError: first\n[ERROR] - the last one\nTraceback (most recent call last):\n"
    )
    assert R.failure_reason(tmp_path) == "[ERROR] - the last one"  # the Traceback header is skipped
    (tmp_path / "job_failed.json").write_text(json.dumps({"error": "  only\nthe error  "}))
    assert R.failure_reason(tmp_path) == "only the error"  # a failure file wins over the log
    (tmp_path / R.JOB_STATUS_FILE).write_text(json.dumps({"status": "ok", "error": "ignored"}))
    assert R.failure_reason(tmp_path) == "only the error"  # a status that is not "failed" says nothing
    (tmp_path / R.JOB_STATUS_FILE).write_text(json.dumps({"error_type": "OSError"}))
    assert R.failure_reason(tmp_path) == "OSError"  # the callback's file comes first
    assert R.FAILURE_FILES == (R.JOB_STATUS_FILE, "job_failed.json")


def test_is_job_dir_and_a_job_folder_without_hydra(tmp_path: Path):
    assert not R.is_job_dir(tmp_path)
    (tmp_path / "job_failed.json").write_text("{}")
    assert R.is_job_dir(tmp_path)
    plain = tmp_path / "plain_run"
    plain.mkdir()
    (plain / "sci_report.json").write_text(
        json.dumps(
            make_report("resnet18", "lr=0.1", val_acc=0.3, cost_usd=0.2, energy_kwh=0.5, duration_s=60)
        )
    )
    rec = R.read_job(plain)
    assert rec.ok and rec.job_num is None and rec.model_choice is None
    assert (rec.model, rec.run_name, rec.status) == ("resnet18", "lr=0.1", "ok")
    assert rec.values["energy_kwh"] == 0.5 and rec.values["sci_quality"] == "measured"
    assert rec.values["inference_stage"] is None and rec.values["carbon_aware_saving_g"] is None


def test_read_job_takes_the_model_and_dataset_from_hydra_when_the_report_is_missing(tmp_path: Path):
    d = write_job(tmp_path, 7, "densenet", None)
    (d / ".hydra" / "config.yaml").write_text("model:\n  name: densenet121\ndata:\n  name: synthetic\n")
    (d / ".hydra" / "hydra.yaml").write_text("hydra: {job: {num: 3}}\n")  # no choices: the override says
    rec = R.read_job(d)
    assert (rec.job_num, rec.model_choice, rec.model, rec.dataset) == (
        3,
        "densenet",
        "densenet121",
        "synthetic",
    )
    assert not rec.ok and rec.status == "failed: no sci_report.json" and rec.values == {}


def test_collect_jobs_refuses_a_file_and_reads_a_folder_given_twice_once(tmp_path: Path):
    sweep = two_model_sweep(tmp_path)
    f = tmp_path / "notes.txt"
    f.write_text("x")
    with pytest.raises(ConfigError, match="is not a folder. Pass a job folder or a sweep folder, not a file"):
        R.collect_jobs([f])
    jobs = R.collect_jobs([sweep / "1", sweep, sweep / "0"])
    assert [j.job_num for j in jobs] == [1, 0]  # argument order first; each job once

"""Tests of the model comparison (sci_lightning.compare and the Hydra callback).

All inputs are hand-made ``sci_report.json`` files in tmp_path; expected differences
are computed by hand in the tests.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

import sci_lightning.compare as compare_pkg
from sci_lightning.app.hydra_callbacks import ComparisonCallback
from sci_lightning.compare import charts as Ch
from sci_lightning.compare import records as R
from sci_lightning.compare import tables as T
from sci_lightning.compare.__main__ import main as compare_main
from sci_lightning.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def make_report(
    model,
    run_name,
    *,
    val_acc,
    cost_usd,
    energy_kwh,
    duration_s,
    sci=1.0,
    energy_quality="measured",
    intensity_quality="measured",
    saving_g=None,
    sci_unit="gCO2e/job",
):
    """A sci_report.json dict with the stable key names."""
    r = {
        "schema_version": 1,
        "model": model,
        "run_name": run_name,
        "val_acc": val_acc,
        "val_acc_top5": None if val_acc is None else min(1.0, val_acc + 0.2),
        "duration_s": duration_s,
        "energy_kwh": {
            "total": energy_kwh,
            "it_total": None if energy_kwh is None else energy_kwh / 1.1,
            "components": [
                {
                    "component": "gpu",
                    "device": "GPU-abc",
                    "energy_kwh": energy_kwh,
                    "method": "nvml_energy_counter",
                    "quality": energy_quality,
                    "status": "ok",
                    "notes": [],
                },
            ],
        },
        "cost_usd": cost_usd,
        "price_per_hour_usd": 1.204,
        "sci": {"value": sci, "unit": sci_unit},
        "operational_g": sci,
        "embodied_g": 0.0,
        "intensity": {
            "mean_g_per_kwh": 250.0,
            "source": "trace",
            "region": "CISO",
            "signal_type": "average",
            "kind": "historical",
            "fallbacks": [],
        },
        "quality": {"energy": energy_quality, "intensity": intensity_quality},
        "started_at": "2026-11-28T20:00:00Z",
        "ended_at": "2026-11-28T21:00:00Z",
    }
    if saving_g is not None:
        r["carbon_aware"] = {
            "saving_g": saving_g,
            "saving_pct": 12.5,
            "best_start": "2026-11-29T03:00:00Z",
            "actual_start": "2026-11-28T20:00:00Z",
        }
    return r


def write_job(
    sweep: Path, num: int, choice: str, report: dict | None, *, log_line: str | None = None
) -> Path:
    """A Hydra-like job folder: .hydra/{overrides,hydra,config}.yaml and optionally the report."""
    d = sweep / str(num)
    (d / ".hydra").mkdir(parents=True)
    (d / ".hydra" / "overrides.yaml").write_text(f"- model={choice}\n- experiment=quickstart\n")
    (d / ".hydra" / "hydra.yaml").write_text(
        f"hydra:\n  job:\n    num: {num}\n  runtime:\n    choices:\n      model: {choice}\n"
    )
    if report is not None:
        (d / "sci_report.json").write_text(json.dumps(report))
    if log_line is not None:
        (d / "__main__.log").write_text(f"[2026-11-28 20:00:00,000][__main__][INFO] - start\n{log_line}\n")
    return d


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """Inception (job 0) vs DenseNet (job 1), numbers picked for easy hand arithmetic."""
    s = tmp_path / "multirun" / "2026-11-28" / "20-00-00"
    s.mkdir(parents=True)
    (s / "multirun.yaml").write_text("hydra:\n  overrides:\n    task: ['model=inception,densenet']\n")
    write_job(
        s,
        0,
        "inception",
        make_report(
            "inception_v3",
            "model=inception",
            val_acc=0.55,
            cost_usd=0.87,
            energy_kwh=0.8,
            duration_s=902.0,
            sci=40.0,
            saving_g=5.0,
        ),
    )
    write_job(
        s,
        1,
        "densenet",
        make_report(
            "densenet121",
            "model=densenet",
            val_acc=0.50,
            cost_usd=1.00,
            energy_kwh=1.0,
            duration_s=1000.0,
            sci=50.0,
            energy_quality="estimated",
            saving_g=6.0,
        ),
    )
    return s


# ------------------------------------------------------------------ arithmetic and phrasing


def test_relative_difference_by_hand():
    assert T.relative_difference_pct(0.55, 0.50) == pytest.approx((0.55 - 0.50) / 0.50 * 100)  # 10 %
    assert T.relative_difference_pct(0.87, 1.00) == pytest.approx(-13.0)
    assert T.relative_difference_pct(-2.0, -4.0) == pytest.approx(50.0)  # divides by |baseline|
    assert T.relative_difference_pct(1.0, None) is None
    assert T.relative_difference_pct(None, 1.0) is None
    assert T.relative_difference_pct(1.0, 0.0) is None  # undefined
    assert T.relative_difference_pct(0.0, 0.0) == 0.0
    assert T.relative_difference_pct(float("nan"), 1.0) is None
    # a quickstart sweep's two jobs on one trace: 114.94 vs 114.93999999999996 read
    # "0.0000000000000371% lower grid intensity" in the Time-of-day line
    assert T.relative_difference_pct(114.93999999999996, 114.94) == 0.0
    assert (
        T.describe_difference("sci", T.relative_difference_pct(114.93999999999996, 114.94))
        == "the same carbon (SCI)"
    )


@pytest.mark.parametrize(
    "pct, text",
    [
        (10.3, "10.3"),
        (-13.0, "13.0"),
        (20.0, "20.0"),
        (9.83, "9.83"),
        (0.5, "0.500"),
        (123.4, "123"),
        (1234.0, "1230"),
        (9.996, "10.0"),
        (-0.01234, "0.0123"),
    ],
)
def test_format_pct_three_significant_figures(pct, text):
    assert T.format_pct(pct) == text


def test_phrases_match_case_study_wording():
    assert T.describe_difference("val_acc", T.relative_difference_pct(0.55, 0.50)) == "10.0% higher accuracy"
    assert T.describe_difference("val_acc", T.relative_difference_pct(0.45, 0.50)) == "10.0% lower accuracy"
    assert T.describe_difference("cost_usd", T.relative_difference_pct(0.87, 1.00)) == "13.0% less $USD"
    assert T.describe_difference("cost_usd", T.relative_difference_pct(1.13, 1.00)) == "13.0% more $USD"
    assert T.describe_difference("energy_kwh", -20.0) == "20.0% less energy"
    assert T.describe_difference("duration_s", -9.83) == "9.83% less time to train"
    assert T.describe_difference("sci", 5.0) == "5.00% more carbon (SCI)"
    assert T.describe_difference("energy_kwh", 0.0) == "the same energy"
    assert T.describe_difference("energy_kwh", None) is None
    s = T.comparison_sentence(
        "InceptionV3",
        "DenseNet",
        {"val_acc": 10.3, "cost_usd": -13.0, "energy_kwh": -20.0, "duration_s": -9.83, "sci": None},
    )
    assert s == (
        "InceptionV3 had 10.3% higher accuracy, 13.0% less $USD, 20.0% less energy "
        "and 9.83% less time to train than DenseNet"
    )
    assert "no figure" in T.comparison_sentence("A", "B", {})


# ------------------------------------------------------------------ comparison of folders


def test_compare_sweep_differences_and_sentence(sweep: Path):
    comp = compare_pkg.compare_runs([sweep], baseline="densenet")
    labels = [j.label for j in comp.jobs]
    assert labels == ["InceptionV3", "DenseNet121"]
    assert comp.baseline.label == "DenseNet121"
    d = comp.diffs[0]
    assert d["val_acc"] == pytest.approx(10.0)
    assert d["cost_usd"] == pytest.approx(-13.0)
    assert d["energy_kwh"] == pytest.approx(-20.0)
    assert d["duration_s"] == pytest.approx((902 - 1000) / 1000 * 100)  # -9.8
    assert d["sci"] == pytest.approx(-20.0)
    assert d["sci_common"] == pytest.approx(-20.0)  # both ran at 250 gCO2e/kWh: the common intensity
    assert comp.diffs[1] == {
        "val_acc": 0.0,
        "cost_usd": 0.0,
        "energy_kwh": 0.0,
        "duration_s": 0.0,
        "sci": 0.0,
        "sci_common": 0.0,
    }
    assert comp.common_intensity_g_per_kwh == 250.0
    assert comp.sentences == [
        "InceptionV3 had 10.0% higher accuracy, 13.0% less $USD, 20.0% less energy, 9.80% less time to train "
        "and 20.0% less carbon (SCI at the common intensity) than DenseNet121"
    ]


def test_jobs_run_at_different_hours_compare_at_a_common_intensity(tmp_path: Path):
    """The quickstart case: DenseNet used more energy but ran at a cleaner hour. As run its SCI is lower;
    at the common (mean) intensity the model's own difference shows: more energy, more carbon."""
    s = tmp_path / "sw"
    s.mkdir()
    (s / "multirun.yaml").write_text("hydra:\n  overrides:\n    task: ['model=inception,densenet']\n")
    jobs = {}
    for num, (choice, model, kwh, g_per_kwh) in enumerate(
        (("inception", "inception_v3", 1.0, 141.0), ("densenet", "densenet121", 1.0556, 129.0))
    ):
        r = make_report(model, f"model={choice}", val_acc=0.5, cost_usd=1.0, energy_kwh=kwh, duration_s=100.0)
        embodied = 2.0
        r["operational_g"] = kwh * g_per_kwh
        r["embodied_g"] = embodied
        r["sci"]["value"] = r["operational_g"] + embodied  # R = 1 job
        r["intensity"]["mean_g_per_kwh"] = g_per_kwh
        r["settings"] = {"dataset": "synthetic"}
        jobs[choice] = r
        write_job(s, num, choice, r)
    comp = compare_pkg.compare_runs([s])
    assert comp.common_intensity_g_per_kwh == pytest.approx(135.0)
    inc, den = (j.values for j in comp.jobs)
    assert inc["sci_common"] == pytest.approx(1.0 * 135.0 + 2.0)
    assert den["sci_common"] == pytest.approx(1.0556 * 135.0 + 2.0)
    d = comp.diffs[1]
    assert d["sci"] < 0 < d["sci_common"]  # as run: less carbon; at the common intensity: more
    assert d["sci_common"] == pytest.approx(((1.0556 * 135 + 2) - (135 + 2)) / (135 + 2) * 100)
    sentence = comp.sentences[0]
    assert sentence.startswith("On synthetic data, DenseNet121 had ")
    assert f"{T.format_pct(d['sci_common'])}% more carbon (SCI at the common intensity)" in sentence
    assert "carbon (SCI) " not in sentence  # the hour's effect is its own line
    assert comp.time_of_day == [
        f"Time of day: DenseNet121 ran at 129 gCO2e/kWh, InceptionV3 at 141 (8.51% lower grid intensity); "
        f"at the hours each ran DenseNet121 had {T.describe_difference('sci', d['sci'])}, at the common 135 "
        f"gCO2e/kWh {T.describe_difference('sci_common', d['sci_common'])}"
    ]
    text = T.text_summary(comp)
    assert "Common intensity: 135 gCO2e/kWh, the mean" in text and "Data: synthetic" in text
    rows = T.table_rows(comp)
    assert T.TABLE_COLUMNS[3] == "Data" and [r[3] for r in rows] == ["synthetic", "synthetic"]
    md = T.markdown_report(comp)
    assert "Time of day: DenseNet121 ran at 129" in md and "SCI at common intensity" in md
    assert T.comparison_dict(comp)["common_intensity_g_per_kwh"] == pytest.approx(135.0)


def test_default_baseline_is_first_job_and_matching_rules(sweep: Path):
    jobs = compare_pkg.collect_jobs([sweep])
    assert [j.job_num for j in jobs] == [0, 1]
    assert compare_pkg.build_comparison(jobs).baseline.model == "inception_v3"
    for name in ("densenet", "densenet121", "model=densenet", "DenseNet121", "dense"):
        assert T.select_baseline(compare_pkg.collect_jobs([sweep]), name).model == "densenet121", name
    with pytest.raises(ConfigError, match="matches no job.*inception"):
        compare_pkg.compare_runs([sweep], baseline="resnet")


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


def test_zero_and_missing_baseline_values(tmp_path: Path):
    s = tmp_path / "sw"
    s.mkdir()
    write_job(
        s, 0, "a", make_report("a_net", "model=a", val_acc=None, cost_usd=0.0, energy_kwh=0.0, duration_s=10)
    )
    write_job(
        s,
        1,
        "b",
        make_report(
            "b_net",
            "model=b",
            val_acc=0.4,
            cost_usd=0.5,
            energy_kwh=0.0,
            duration_s=20,
            sci=2.0,
            sci_unit="gCO2e/epoch",
        ),
    )
    comp = compare_pkg.compare_runs([s])
    d = comp.diffs[1]
    assert d["val_acc"] is None  # baseline accuracy missing
    assert d["cost_usd"] is None  # baseline cost 0, value not 0
    assert d["energy_kwh"] == 0.0  # 0 vs 0
    assert d["duration_s"] == pytest.approx(100.0)
    assert d["sci"] is None  # different functional units
    assert comp.sentences == ["b_net had the same energy and 100% more time to train than a_net"]
    assert any("functional unit" in n for n in comp.notes)
    assert any("$USD is 0" in n for n in comp.notes)


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


# ------------------------------------------------------------------ output files


@pytest.mark.slow
def test_write_comparison_files(sweep: Path):
    write_job(sweep, 2, "resnet", None)
    comp = compare_pkg.compare_runs([sweep], baseline="densenet")
    written = compare_pkg.write_comparison(comp, sweep)
    for name in (
        "comparison.md",
        "comparison.json",
        "comparison.csv",
        "comparison.png",
        *(f"comparison_{c.name}.png" for c in Ch.CHARTS),
    ):
        assert name in written, name
        assert (sweep / name).stat().st_size > 0
    for png in sweep.glob("comparison*.png"):
        assert png.read_bytes()[:8] == PNG_MAGIC

    with open(sweep / "comparison.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["run_name"] for r in rows] == ["model=inception", "model=densenet", "model=resnet"]
    assert float(rows[0]["cost_usd_diff_pct"]) == pytest.approx(-13.0)
    assert rows[1]["is_baseline"] == "True" and rows[1]["energy_quality"] == "estimated"
    assert rows[2]["status"] == "failed: no sci_report.json" and rows[2]["val_acc"] == ""

    data = json.loads((sweep / "comparison.json").read_text())
    assert data["baseline"]["label"] == "DenseNet121"
    assert data["jobs"][0]["phrases"][:2] == ["10.0% higher accuracy", "13.0% less $USD"]
    assert data["jobs"][0]["val_acc_diff_pct"] == pytest.approx(10.0)
    assert data["jobs"][2]["status"] == "failed: no sci_report.json"
    assert "comparison_energy.png" in data["charts"]

    md = (sweep / "comparison.md").read_text()
    assert "InceptionV3 had 10.0% higher accuracy, 13.0% less $USD" in md
    assert "failed: no sci_report.json" in md
    assert "1.00 (est.)" in md  # densenet's estimated energy is marked
    assert "![comparison_sci](comparison_sci.png)" in md
    assert "(value - baseline_value) / |baseline_value|" in md


def test_csv_and_json_without_charts(tmp_path: Path, sweep: Path):
    out = tmp_path / "out"
    written = compare_pkg.write_comparison(compare_pkg.compare_runs([sweep]), out, charts=False)
    assert sorted(written) == ["comparison.csv", "comparison.json", "comparison.md"]
    assert not list(out.glob("*.png"))
    md = (out / "comparison.md").read_text()
    # default baseline = first job (inception): densenet has 9.09% lower accuracy (0.50 vs 0.55)
    assert "DenseNet121 had 9.09% lower accuracy, 14.9% more $USD, 25.0% more energy" in md


# ------------------------------------------------------------------ CLI


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), MPLBACKEND="Agg")
    return subprocess.run(
        [sys.executable, "-m", "sci_lightning.compare", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_cli_on_job_folders(tmp_path: Path, sweep: Path):
    out = tmp_path / "cmp"
    # two job folders given one by one, densenet first: argument order, baseline by name
    p = _cli(
        str(sweep / "1"),
        str(sweep / "0"),
        "--baseline",
        "model=densenet",
        "--out",
        str(out),
        "--no-charts",
        cwd=tmp_path,
    )
    assert p.returncode == 0, p.stderr
    assert "InceptionV3 had 10.0% higher accuracy, 13.0% less $USD, 20.0% less energy" in p.stdout
    with open(out / "comparison.csv", newline="") as f:
        assert [r["label"] for r in csv.DictReader(f)] == ["DenseNet121", "InceptionV3"]


@pytest.mark.slow
def test_cli_on_sweep_folder_writes_into_it(tmp_path: Path, sweep: Path):
    write_job(sweep, 2, "resnet", None)
    p = _cli(str(sweep), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "failed: no sci_report.json" in p.stdout
    assert (sweep / "comparison.md").is_file() and (sweep / "comparison_accuracy.png").is_file()


def test_cli_errors_exit_2_without_traceback(tmp_path: Path, sweep: Path):
    p = _cli(str(tmp_path / "missing"), cwd=tmp_path)
    assert p.returncode == 2 and "does not exist" in p.stderr and "Traceback" not in p.stderr
    assert compare_main([str(sweep), "--baseline", "resnet", "--no-charts", "-q"]) == 2


def test_cli_all_failed_exit_1(tmp_path: Path, capsys):
    s = tmp_path / "sw"
    s.mkdir()
    write_job(s, 0, "a", None)
    assert compare_main([str(s), "--no-charts", "--out", str(tmp_path / "o")]) == 1
    assert "failed: no sci_report.json" in capsys.readouterr().out
    assert (tmp_path / "o" / "comparison.csv").is_file()


# ------------------------------------------------------------------ Hydra callback


def _hydra_cfg(sweep_dir: Path, **compare):
    return OmegaConf.create(
        {
            "hydra": {
                "sweep": {"dir": str(sweep_dir)},
                "mode": "MULTIRUN",
                "runtime": {"output_dir": str(sweep_dir / "2")},
            },
            "compare": {"baseline": None, **compare},
        }
    )


@pytest.mark.slow
def test_callback_on_multirun_end_writes_files_and_prints(sweep: Path, capsys):
    write_job(sweep, 2, "resnet", None)
    cb = ComparisonCallback(baseline="inception")
    cfg = _hydra_cfg(sweep, baseline="densenet")  # the job config's compare.baseline wins
    cb.on_multirun_start(cfg)
    cb.on_multirun_end(cfg)
    out = capsys.readouterr().out
    assert "InceptionV3 had 10.0% higher accuracy" in out and "failed: no sci_report.json" in out
    data = json.loads((sweep / "comparison.json").read_text())
    assert data["baseline"]["label"] == "DenseNet121"
    assert (sweep / "comparison.png").read_bytes()[:8] == PNG_MAGIC


def test_callback_kwarg_baseline_unknown_baseline_and_disabled(sweep: Path, caplog):
    cb = ComparisonCallback(baseline="densenet", charts=False)
    cb.on_multirun_end(_hydra_cfg(sweep))  # compare.baseline None -> kwarg
    assert json.loads((sweep / "comparison.json").read_text())["baseline"]["label"] == "DenseNet121"

    cb.on_multirun_end(_hydra_cfg(sweep, baseline="resnet"))  # unknown: warn, first job, no crash
    assert json.loads((sweep / "comparison.json").read_text())["baseline"]["label"] == "InceptionV3"
    assert "matches no job" in caplog.text

    (sweep / "comparison.json").unlink()
    cb.on_multirun_end(_hydra_cfg(sweep, enabled=False))
    assert not (sweep / "comparison.json").exists()


def test_callback_records_failed_job_and_refreshes(sweep: Path, monkeypatch):
    from hydra.core.utils import JobReturn, JobStatus

    monkeypatch.setenv("ELECTRICITYMAPS_API_KEY", "em-key-123456")
    job_dir = sweep / "2"
    cfg = _hydra_cfg(sweep, charts=False)
    ret = JobReturn(overrides=["model=resnet"], status=JobStatus.FAILED)
    ret.return_value = RuntimeError("provider said no to em-key-123456")
    cb = ComparisonCallback()
    cb.on_multirun_start(cfg)
    cb.on_job_end(cfg, job_return=ret)
    status = json.loads((job_dir / R.JOB_STATUS_FILE).read_text())
    assert status["error_type"] == "RuntimeError" and "em-key-123456" not in status["error"]
    # Hydra skips on_multirun_end after a failed job: the table must already exist
    md = (sweep / "comparison.md").read_text()
    assert "failed: RuntimeError: provider said no to [redacted]" in md
    assert "InceptionV3" in md and "DenseNet121" in md


def test_callback_never_raises_on_missing_sweep_dir(tmp_path: Path):
    cb = ComparisonCallback()
    cb.on_multirun_end(_hydra_cfg(tmp_path / "never-created"))  # logs, does not raise
    assert not (tmp_path / "never-created").exists()


# ------------------------------------------------------------------ a real Hydra multirun (tiny app, no training)

_APP = """
import json, os
import hydra
from hydra.core.hydra_config import HydraConfig

ACC = {"inception": 0.55, "densenet": 0.50}

@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg):
    if cfg.model == "broken":
        raise RuntimeError("boom: bad model")
    out = HydraConfig.get().runtime.output_dir
    report = {"schema_version": 1, "model": cfg.model + "_net", "run_name": "model=" + cfg.model,
              "val_acc": ACC[cfg.model], "duration_s": 100.0, "energy_kwh": {"total": 0.1, "components": []},
              "cost_usd": 0.5, "sci": {"value": 1.0, "unit": "gCO2e/job"},
              "quality": {"energy": "estimated", "intensity": "estimated"}}
    with open(os.path.join(out, "sci_report.json"), "w") as f:
        json.dump(report, f)

if __name__ == "__main__":
    main()
"""

_APP_CONF = """
model: inception
compare:
  baseline: null
  charts: false
hydra:
  sweep:
    dir: SWEEP_DIR
  callbacks:
    comparison:
      _target_: sci_lightning.app.hydra_callbacks.ComparisonCallback
      baseline: densenet
"""


@pytest.mark.slow
def test_real_hydra_multirun_with_a_failed_job(tmp_path: Path):
    """Hydra's sweeper re-raises a failed job and skips on_multirun_end: the table must still be there."""
    (tmp_path / "conf").mkdir()
    sweep = tmp_path / "multirun" / "sweep1"
    (tmp_path / "conf" / "config.yaml").write_text(_APP_CONF.replace("SWEEP_DIR", str(sweep)))
    (tmp_path / "app.py").write_text(_APP)
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), MPLBACKEND="Agg")

    p = subprocess.run(
        [sys.executable, "app.py", "-m", "model=inception,densenet"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert p.returncode == 0, p.stderr
    assert "Model comparison" in p.stdout and "inception_net had 10.0% higher accuracy" in p.stdout
    assert json.loads((sweep / "comparison.json").read_text())["baseline"]["model"] == "densenet_net"

    sweep2 = tmp_path / "multirun" / "sweep2"
    (tmp_path / "conf" / "config.yaml").write_text(_APP_CONF.replace("SWEEP_DIR", str(sweep2)))
    p = subprocess.run(
        [sys.executable, "app.py", "-m", "model=inception,broken,densenet"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert p.returncode != 0  # Hydra reports the failed job
    with open(sweep2 / "comparison.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["status"] for r in rows] == ["ok", "failed: RuntimeError: boom: bad model", "ok"]
    assert "inception_net had 10.0% higher accuracy" in (sweep2 / "comparison.md").read_text()


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

"""The run report: sci_report.json / sci_report.md / impact.yml, atomic writes, secrets, loggers."""

from __future__ import annotations

import json
import warnings
from datetime import datetime, timedelta, timezone

import pytest
import yaml

from sci_lightning import fileio
from sci_lightning.carbon.base import IntensityPoint, IntensitySeries
from sci_lightning.energy.base import ComponentEnergy, EnergyInterval, EnergyResult
from sci_lightning.fileio import atomic_write_text
from sci_lightning.redaction import scrub, secret_values
from sci_lightning.sci import loggers as loggers_mod
from sci_lightning.sci.codec import FormatError
from sci_lightning.sci.compute import compute_sci
from sci_lightning.sci.loggers import log_to_logger
from sci_lightning.sci.manifest import build_impact_manifest
from sci_lightning.sci.markdown import render_markdown
from sci_lightning.sci.report import SciReport, load_report
from sci_lightning.sci.writer import write_run_report
from sci_lightning.settings import SciConfig

UTC = timezone.utc
T0 = datetime(2024, 3, 1, 10, 40, tzinfo=UTC)
KWH = 3.6e6
SECRET = "sk-test-9f8e7d6c5b4a-TOPSECRET"


def make_run(*, embodied=False, fu="job", source="electricity_maps", interval_s=600.0, n=6, pue=1.2):
    tl = [
        EnergyInterval(
            T0 + timedelta(seconds=interval_s * i),
            T0 + timedelta(seconds=interval_s * (i + 1)),
            (0.02 + 0.001 * i) * KWH,
        )
        for i in range(n)
    ]
    it = sum(i.energy_j for i in tl)
    energy = EnergyResult(
        started_at=tl[0].start,
        ended_at=tl[-1].end,
        duration_s=interval_s * n,
        components=[
            ComponentEnergy("gpu", "GPU-abc", it * 0.75, "nvml_energy_counter", "measured"),
            ComponentEnergy(
                "cpu",
                "host",
                it * 0.25,
                "cpu_time_tdp_estimate",
                "estimated",
                notes=["RAPL not readable; estimated"],
            ),
        ],
        timeline=tl,
        pue=pue,
        steps=300,
        epochs=3,
        images=9600,
        warnings=["gpu meter: one NaN sample dropped"],
    )
    pts = [
        IntensityPoint(
            T0.replace(minute=0) + timedelta(hours=h),
            T0.replace(minute=0) + timedelta(hours=h + 1),
            300.0 + 100 * h,
        )
        for h in range(3)
    ]
    ser = IntensitySeries(pts, source=source, region="DE", signal_type="average", kind="measured")
    cfg = SciConfig(
        functional_unit=fu,
        embodied_total_kg=2500.0 if embodied else None,
        lifespan_years=4.0 if embodied else None,
        resources_reserved=1,
        resources_total=8,
        embodied_source="illustrative" if embodied else None,
    )
    return compute_sci(energy, ser, cfg), energy


META = {
    "model": "densenet121",
    "run_name": "run-7",
    "val_acc": 0.41,
    "val_acc_top5": 0.68,
    "hardware": {"gpu": "NVIDIA T4", "cpu_cores": 4},
    "carbon_aware": {"saving_g": 12.5, "saving_pct": 8.1, "best_start": "2024-03-01T03:00:00+00:00"},
}


def test_json_has_the_keys_readers_depend_on(tmp_path):
    result, energy = make_run(embodied=True, fu="epoch")
    returned = write_run_report(tmp_path, result, energy, META)
    data = json.loads((tmp_path / "sci_report.json").read_text())
    assert isinstance(returned, SciReport) and data == returned.to_dict()
    assert data["schema_version"] == 2
    for key in (
        "model",
        "run_name",
        "functional_unit",
        "sci",
        "sci_per",
        "energy_kwh",
        "duration_s",
        "intensity",
        "operational_g",
        "embodied_g",
        "embodied",
        "pue",
        "cost_usd",
        "price_per_hour_usd",
        "val_acc",
        "val_acc_top5",
        "hardware",
        "training",
        "started_at",
        "ended_at",
        "quality",
        "warnings",
        "carbon_aware",
    ):
        assert key in data, key
    assert data["model"] == "densenet121" and data["run_name"] == "run-7" and data["val_acc"] == 0.41
    assert data["sci"] == {"value": pytest.approx(result.sci), "unit": "gCO2e/epoch"}
    assert set(data["sci_per"]) == {"job", "epoch", "1000_images"}
    assert data["energy_kwh"]["total"] == pytest.approx(result.energy_kwh)
    assert data["energy_kwh"]["it_total"] == pytest.approx(result.energy_kwh / 1.2)
    comp = data["energy_kwh"]["components"][1]
    assert set(comp) >= {"component", "device", "energy_kwh", "method", "quality", "status", "notes"}
    assert comp["quality"] == "estimated" and comp["notes"] == ["RAPL not readable; estimated"]
    iv = data["intensity"]["intervals"][0]
    assert set(iv) >= {"start", "end", "energy_kwh", "g_per_kwh", "operational_g"}
    assert len(data["intensity"]["intervals"]) == 6
    assert data["intensity"]["source"] == "electricity_maps" and data["intensity"]["kind"] == "measured"
    assert data["embodied"]["in_scope"] is True and data["embodied"]["te_kg"] == 2500.0
    assert data["quality"] == {"energy": "mixed", "intensity": "measured"}
    assert data["training"] == {
        "epochs": 3.0,
        "steps": 300,
        "images": 9600,
        "world_size": 1,
        "batches": 0,
        "optimizer_steps": 300,
        "samples": 9600,
    }
    assert data["started_at"].endswith("+00:00") and data["ended_at"].endswith("+00:00")
    assert data["carbon_aware"]["saving_g"] == 12.5 and data["carbon_aware"]["saving_pct"] == 8.1
    assert data["hardware"] == {"gpu": "NVIDIA T4", "cpu_cores": 4}
    assert "gpu meter: one NaN sample dropped" in data["warnings"]
    assert data["cost_usd"] == pytest.approx(1.0 * 1.204)
    assert data["operational_g"] + data["embodied_g"] == pytest.approx(data["sci"]["value"] * 3)


def test_hydra_containers_in_meta_become_plain_json(tmp_path):
    from omegaconf import OmegaConf

    result, energy = make_run()
    meta = OmegaConf.create(
        {"model": "inception_v3", "run_name": "r", "hardware": {"gpus": ["T4"], "ram_gb": 15}}
    )
    report = write_run_report(tmp_path, result, energy, {k: meta[k] for k in meta})
    assert report.hardware == {"gpus": ["T4"], "ram_gb": 15}
    assert json.loads((tmp_path / "sci_report.json").read_text())["hardware"]["gpus"] == ["T4"]


def test_markdown_has_the_disclosure_sections(tmp_path):
    result, energy = make_run(embodied=False)
    write_run_report(tmp_path, result, energy, META)
    md = (tmp_path / "sci_report.md").read_text()
    for heading in (
        "## Result",
        "## Software boundary",
        "## Functional unit",
        "## Methodology",
        "### Energy (E)",
        "### Carbon intensity (I)",
        "### Embodied emissions (M)",
        "## Data sources and quality",
        "## Cost",
        "## Carbon-aware scheduling",
        "## Warnings",
    ):
        assert heading in md, heading
    assert f"{result.sci:.6g} gCO2e/job" in md
    assert "nvml_energy_counter" in md and "cpu_time_tdp_estimate" in md and "estimated" in md
    assert "out of scope" in md
    assert "Electricity Maps" in md  # credited: the source is Electricity Maps
    assert "1.204" in md


def test_electricity_maps_credit_only_when_used(tmp_path):
    result, energy = make_run(source="static table (IEA 2022)")
    report = write_run_report(tmp_path, result, energy, {"model": "m", "run_name": "r"})
    assert report.credits == []
    assert "Electricity Maps" not in (tmp_path / "sci_report.md").read_text()
    result, energy = make_run(source="trace:Electricity Maps data portal (DE_2023_hourly.csv)")
    report = write_run_report(tmp_path, result, energy, {"model": "m", "run_name": "r"})
    assert report.credits and "Electricity Maps" in (tmp_path / "sci_report.md").read_text()


def test_writes_are_atomic_and_replace_whole(tmp_path):
    old = tmp_path / "sci_report.json"
    old.write_text("{" + " " * 100_000 + "OLD-CONTENT")
    result, energy = make_run()
    write_run_report(tmp_path, result, energy, META)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["impact.yml", "sci_report.json", "sci_report.md"]
    text = old.read_text()
    assert "OLD-CONTENT" not in text
    json.loads(text)  # whole, valid document


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "sci_report.json"
    target.write_text("previous")

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(fileio.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(target, "new content")
    assert target.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["sci_report.json"]


def test_secret_from_environment_appears_in_no_file(tmp_path, monkeypatch):
    monkeypatch.setenv("WATTTIME_PASSWORD", SECRET)
    monkeypatch.setenv("ELECTRICITY_MAPS_API_KEY", "em-key-0123456789")
    result, energy = make_run()
    energy.warnings.append(f"auth failed with password {SECRET}")
    result.notes.append("token em-key-0123456789 rejected")
    meta = dict(META, run_name=f"run-{SECRET}", hardware={"note": SECRET, SECRET: 1})
    report = write_run_report(tmp_path, result, energy, meta)
    for p in tmp_path.iterdir():
        text = p.read_text()
        assert SECRET not in text, p.name
        assert "em-key-0123456789" not in text, p.name
    assert report.run_name == "run-[redacted]"
    assert any("redacted" in w for w in report.warnings)


def test_secret_values_selects_by_name_and_skips_trivial_values():
    env = {
        "MY_TOKEN": "abcdef123",
        "DB_PASSWORD": "hunter22",
        "AWS_SECRET_ACCESS_KEY": "xyzxyzxyz",
        "SOME_KEY": "no",
        "OTHER_KEY": "1",
        "PATH": "/usr/bin:/bin",
        "HOME": "/home/u",
    }
    vals = secret_values(env)
    assert set(vals) == {"abcdef123", "hunter22", "xyzxyzxyz"}
    scrubbed, n = scrub({"a": "x abcdef123 y", "b": ["hunter22"], "c": 3.5}, vals)
    assert scrubbed == {"a": "x [redacted] y", "b": ["[redacted]"], "c": 3.5} and n == 2
    url, n = scrub("GET https://api.example/v3?region=X&token=abc.def-123 failed; Bearer eyJhbGciOi", [])
    assert "abc.def-123" not in url and "eyJhbGciOi" not in url and "region=X" in url and n == 2


def _evaluate_manifest(manifest: dict) -> dict:
    """A tiny independent evaluator of the builtins used (Multiply, Divide, Sum, Sci), so the
    manifest's arithmetic is checked even where if-run is not installed."""
    plugins = manifest["initialize"]["plugins"]
    node = manifest["tree"]["children"]["training-job"]
    totals: dict[str, float] = {}
    metrics = manifest["aggregation"]["metrics"]
    for obs in node["inputs"]:
        row = {**node["defaults"], **obs}
        for name in node["pipeline"]["compute"]:
            p = plugins[name]
            c = p.get("config", {})
            if p["method"] == "Multiply":
                v = 1.0
                for k in c["input-parameters"]:
                    v *= row[k]
                row[c["output-parameter"]] = v
            elif p["method"] == "Sum":
                row[c["output-parameter"]] = sum(row[k] for k in c["input-parameters"])
            elif p["method"] == "Divide":
                row[c["output"]] = row[c["numerator"]] / row[c["denominator"]]
            elif p["method"] == "Sci":
                assert row["duration"] >= 1
                row["sci"] = row["carbon"] / row[c["functional-unit"]]
            else:  # pragma: no cover
                raise AssertionError(p["method"])
        for m in metrics:
            totals[m] = totals.get(m, 0.0) + row[m]
    return totals


@pytest.mark.parametrize("embodied, fu", [(False, "job"), (True, "epoch"), (True, "1000_images")])
def test_impact_manifest_reproduces_the_sci(tmp_path, embodied, fu):
    result, energy = make_run(embodied=embodied, fu=fu)
    write_run_report(tmp_path, result, energy, META)
    manifest = yaml.safe_load((tmp_path / "impact.yml").read_text())
    node = manifest["tree"]["children"]["training-job"]
    assert len(node["inputs"]) == len(result.intervals)  # one observation per interval
    assert {"timestamp", "duration", "energy-it", "grid/carbon-intensity"} <= set(node["inputs"][0])
    methods = {p["method"] for p in manifest["initialize"]["plugins"].values()}
    assert methods <= {"Multiply", "Divide", "Sum", "Sci"} and "Sci" in methods
    totals = _evaluate_manifest(manifest)
    assert totals["sci"] == pytest.approx(result.sci, rel=1e-9)
    assert totals["carbon-operational"] == pytest.approx(result.operational_g, rel=1e-9)
    assert totals["carbon-embodied"] == pytest.approx(result.embodied_g, rel=1e-9)
    assert totals["sci-per-job"] == pytest.approx(result.sci_per["job"], rel=1e-9)


def test_short_intervals_are_merged_to_one_second_observations_keeping_carbon():
    result, _ = make_run(interval_s=0.25, n=10, embodied=True)
    manifest = build_impact_manifest(result, {})
    obs = manifest["tree"]["children"]["training-job"]["inputs"]
    assert len(obs) == 2 and all(o["duration"] >= 1 for o in obs)
    totals = _evaluate_manifest(manifest)
    assert totals["carbon-operational"] == pytest.approx(result.operational_g, rel=1e-9)
    assert totals["sci"] == pytest.approx(result.sci, rel=1e-9)


def test_impact_manifest_states_the_run_status():
    result, _ = make_run()
    assert "Run status: completed." in build_impact_manifest(result, {})["description"]
    stopped = build_impact_manifest(result, {"status": "interrupted", "interruption": {"signal": "SIGTERM"}})
    assert "Run status: interrupted (SIGTERM); the figures cover the part that ran." in stopped["description"]


class _RecordingExperiment:
    def __init__(self):
        self.texts = []

    def add_text(self, tag, text, step):
        self.texts.append((tag, text, step))


class _RecordingLogger:
    def __init__(self, experiment=None):
        self.metrics = []
        self.experiment = experiment

    def log_metrics(self, metrics, step=None):
        self.metrics.append((dict(metrics), step))


def test_log_to_logger_logs_scalars_and_text():
    result, _ = make_run()
    tb_like = _RecordingLogger(_RecordingExperiment())
    csv_like = _RecordingLogger(object())  # experiment without add_text
    logged = log_to_logger([tb_like, csv_like], result, step=5)
    expected = {
        "sci/score",
        "sci/score_mg",
        "sci/operational_g",
        "sci/operational_mg",
        "sci/embodied_g",
        "sci/embodied_mg",
        "sci/energy_kwh",
        "sci/energy_wh",
        "sci/intensity_g_per_kwh",
        "sci/cost_usd",
    }
    assert set(logged) == expected
    assert logged["sci/score_mg"] == pytest.approx(1000 * result.sci)
    assert logged["sci/energy_wh"] == pytest.approx(1000 * result.energy_kwh)
    assert tb_like.metrics == [(logged, 5)] and csv_like.metrics == [(logged, 5)]
    assert logged["sci/score"] == pytest.approx(result.sci)
    assert tb_like.experiment.texts[0][0] == "sci/summary" and "SCI" in tb_like.experiment.texts[0][1]


def test_log_to_logger_with_lightning_csv_and_tensorboard(tmp_path):
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    result, _ = make_run()
    csv_logger = CSVLogger(tmp_path, name="csv")
    tb_logger = TensorBoardLogger(tmp_path, name="tb")
    log_to_logger([csv_logger, tb_logger], result)
    csv_logger.save()
    tb_logger.experiment.flush()
    metrics_csv = (tmp_path / "csv" / "version_0" / "metrics.csv").read_text()
    assert "sci/score" in metrics_csv
    assert any(p.name.startswith("events.out.tfevents") for p in (tmp_path / "tb" / "version_0").iterdir())


def test_failing_logger_warns_instead_of_raising():
    class Broken:
        def log_metrics(self, metrics, step=None):
            raise RuntimeError("logger down")

    result, _ = make_run()
    loggers_mod._ONCE.reset()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        log_to_logger(Broken(), result)
        log_to_logger(Broken(), result)  # the same logger type and record: not warned again
    (warned,) = [
        w for w in seen if issubclass(w.category, RuntimeWarning) and "logger down" in str(w.message)
    ]
    assert warned.filename == __file__  # attributed to the caller of log_to_logger


# ------------------------------------------------------------------ the SciReport type


def test_report_round_trips_through_its_dict(tmp_path):
    result, energy = make_run(embodied=True, fu="epoch", interval_s=0.25, n=10)
    report = write_run_report(tmp_path, result, energy, META)
    data = report.to_dict()
    assert SciReport.from_dict(data).to_dict() == data
    assert load_report(tmp_path) == report == SciReport.read(tmp_path / "sci_report.json")
    assert report.sci.value == pytest.approx(result.sci) and report.sci.unit == "gCO2e/epoch"
    assert report.energy_kwh.components[0].method == "nvml_energy_counter"
    assert report.intensity.intervals[0].start == result.intervals[0].start
    assert report.embodied.in_scope and report.sci_inputs.r == 3.0
    assert report.carbon_aware.saving_g == 12.5 and report.training.images == 9600


def test_reads_a_hand_written_version_1_dict_with_defaults():
    v1 = {
        "schema_version": 1,
        "model": "densenet121",
        "run_name": "model=densenet",
        "val_acc": 0.5,
        "duration_s": 100,
        "energy_kwh": {"total": 0.1, "components": []},
        "cost_usd": 0.5,
        "sci": {"value": 1, "unit": "gCO2e/job"},
        "quality": {"energy": "estimated"},
        "started_at": "2026-11-28T20:00:00Z",
        "carbon_aware": {"saving_g": 6, "note": "kept"},
        "a_field_from_a_newer_writer": [1, 2],
    }
    report = SciReport.from_dict(v1)
    assert report.sci.value == 1.0 and report.duration_s == 100.0 and report.energy_kwh.it_total is None
    assert report.quality.energy == "estimated" and report.quality.intensity is None
    assert report.started_at.utcoffset().total_seconds() == 0
    assert report.embodied is None and report.intensity.intervals == [] and report.warnings == []
    assert report.carbon_aware.saving_g == 6 and report.carbon_aware.findings["note"] == "kept"
    assert SciReport.from_dict(report.to_dict()).to_dict() == report.to_dict()
    assert report.stages == []


def test_version_1_training_counts_read_under_their_new_names():
    v1 = {
        "schema_version": 1,
        "sci": {"value": 1, "unit": "gCO2e/job"},
        "training": {"epochs": 3, "steps": 300, "images": 9600, "world_size": 1},
    }
    t = SciReport.from_dict(v1).training
    assert (t.epochs, t.optimizer_steps, t.samples, t.steps, t.images, t.batches) == (
        3.0,
        300,
        9600,
        300,
        9600,
        0,
    )


@pytest.mark.parametrize(
    "change, field, problem",
    [
        ({"sci": {"value": "high", "unit": "gCO2e/job"}}, "sci.value", "must be a finite number"),
        ({"sci": {"value": 1.0}}, "sci.unit", "is missing"),
        ({"energy_kwh": 0.3}, "energy_kwh", "must be an object"),
        ({"val_acc": True}, "val_acc", "must be a finite number"),
        ({"intensity": {"intervals": [{"start": "yesterday"}]}}, "intensity.intervals[0].start", "ISO-8601"),
        ({"carbon_aware": {"saving_g": "lots"}}, "carbon_aware.saving_g", "must be a finite number"),
    ],
)
def test_malformed_field_names_the_file_and_the_field(change, field, problem):
    data = {"schema_version": 1, "sci": {"value": 1.0, "unit": "gCO2e/job"}, **change}
    with pytest.raises(FormatError, match=problem) as err:
        SciReport.from_dict(data, "runs/7/sci_report.json")
    assert err.value.path == field and str(err.value).startswith(f"runs/7/sci_report.json: field '{field}'")
    with pytest.raises(FormatError, match="'sci' is missing"):
        SciReport.from_dict({"schema_version": 1})


def test_read_refuses_a_file_that_is_not_json(tmp_path):
    (tmp_path / "sci_report.json").write_text("{not json")
    with pytest.raises(FormatError, match="sci_report.json: the top level is not valid JSON"):
        load_report(tmp_path)


def test_newer_schema_version_is_read_with_a_warning(caplog):
    report = SciReport.from_dict({"schema_version": 3, "sci": {"value": 2.0, "unit": "gCO2e/job"}}, "x.json")
    assert report.sci.value == 2.0 and "x.json has schema_version 3" in caplog.text


def test_markdown_is_rendered_from_the_type(tmp_path):
    result, energy = make_run(embodied=True, fu="epoch")
    report = write_run_report(tmp_path, result, energy, META)
    md = render_markdown(report)
    assert md == (tmp_path / "sci_report.md").read_text()
    assert render_markdown(load_report(tmp_path)) == md
    assert f"**SCI = {result.sci:.6g} gCO2e/epoch**" in md and "RR / ToR = 1 / 8" in md
    assert "Running at the lowest-carbon time would have saved 12.5 gCO2e (8.1 %)." in md
    report.sci.value, report.model = 123.0, "resnet50"
    changed = render_markdown(report)
    assert "**SCI = 123 gCO2e/epoch**" in changed and "resnet50 / run-7" in changed

"""Data preparation inside the boundary (SCI for AI §7.2): the decode-cache build measured as
an EnergyMonitor window, its record beside the cache and in the run folder, amortised when
the cache is reused, and counted once by the campaign (and by if-run on its manifest)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
import warnings

import numpy as np
import pytest
import yaml
from fake_nvml import StepMeter
from PIL import Image

from sci_lightning.campaign import build_campaign, write_campaign
from sci_lightning.data.fast import build_uint8_cache
from sci_lightning.energy import EnergyMeterWarning, EnergyMonitor
from sci_lightning.sci import preparation
from sci_lightning.sci.preparation import (
    PreparationFigures,
    read_build_record,
    read_preparation,
    record_path,
    write_preparation,
)
from sci_lightning.sci.writer import write_run_report
from tests.sci.test_report import META, make_run

IF_RUN = os.environ.get("IF_RUN") or shutil.which("if-run")
KWH = 3.6e6
JOULES_PER_READ = 900.0


def _images(folder, n=5):
    folder.mkdir(parents=True)
    paths = []
    for i in range(n):
        p = folder / f"img{i}.JPEG"
        Image.fromarray(np.full((8, 8, 3), 20 * i, dtype=np.uint8)).save(p)
        paths.append(str(p))
    return paths


class Factory:
    """Builds scripted monitors (a CPU meter adding a known number of joules per reading) and counts them."""

    def __init__(self):
        self.made = []

    def __call__(self, energy):
        meter = StepMeter("cpu", "host", JOULES_PER_READ, method="rapl")
        self.made.append(meter)
        return EnergyMonitor([meter], sync=lambda: None, config=energy)


def test_decode_cache_build_is_measured_then_amortised_on_reuse(tmp_path):
    paths = _images(tmp_path / "src")
    factory, records = Factory(), []
    npy = build_uint8_cache(
        paths,
        tmp_path / "cache",
        key="train",
        source_root=tmp_path / "src",
        image_px=8,
        progress=False,
        records=records,
        pue=1.5,
        monitor_factory=factory,
    )
    [built] = records
    meter = factory.made[0]
    assert built.activity == "decode_cache" and built.items == 5 and not built.reused
    assert (
        built.it_energy_kwh * KWH == pytest.approx(meter.energy_j) and meter.energy_j > 0
    )  # the window's joules
    assert built.energy_kwh == pytest.approx(built.it_energy_kwh * 1.5) and built.pue == 1.5
    assert built.quality == "measured" and "rapl" in built.method and built.cache == str(npy)
    assert record_path(npy).is_file()

    again: list[PreparationFigures] = []
    build_uint8_cache(
        paths,
        tmp_path / "cache",
        key="train",
        source_root=tmp_path / "src",
        image_px=8,
        progress=False,
        records=again,
        monitor_factory=factory,
    )
    [reused] = again
    assert len(factory.made) == 1  # nothing decoded, nothing measured again
    assert reused.reused and reused.build_id == built.build_id and reused.energy_kwh == built.energy_kwh


def _report(run_dir, name):
    result, energy = make_run()
    return write_run_report(run_dir, result, energy, {**META, "run_name": name, "status": "completed"})


BUILD = PreparationFigures(
    activity="decode_cache",
    build_id="build-1",
    energy_kwh=0.05,
    it_energy_kwh=0.05,
    duration_s=30.0,
    items=100_000,
    quality="estimated",
    method="cpu: cpu_time_tdp_estimate",
)
FEATURES = PreparationFigures(
    activity="feature_cache",
    build_id="feat-1",
    energy_kwh=0.01,
    it_energy_kwh=0.01,
    duration_s=5.0,
    items=1000,
    quality="measured",
    method="gpu",
    within_training=True,
)


@pytest.fixture
def campaign_dir(tmp_path):
    root = tmp_path / "sweep"
    a, b = _report(root / "a", "a"), _report(root / "b", "b")
    write_preparation(root / "a", [BUILD, FEATURES])
    write_preparation(root / "b", [PreparationFigures(**{**BUILD.__dict__, "reused": True})])
    return root, a, b


def test_campaign_counts_each_build_once(campaign_dir, tmp_path):
    root, a, b = campaign_dir
    assert [r.build_id for r in read_preparation(root / "b")] == ["build-1"]
    c = build_campaign([root])
    intensity_a = a.operational_g / a.energy_kwh.total
    assert c.preparation_kwh == pytest.approx(0.05)  # once: b reused it, the features are inside a's training
    assert c.energy_kwh == pytest.approx(a.energy_kwh.total + b.energy_kwh.total + 0.05)
    assert c.operational_g == pytest.approx(a.operational_g + b.operational_g + 0.05 * intensity_a)
    assert c.sci == pytest.approx(c.carbon_g)  # per job of the final model
    why = {(p.run, p.record.activity): p.why for p in c.preparation}
    assert why == {
        ("a", "decode_cache"): "counted",
        ("a", "feature_cache"): "inside a's training energy",
        ("b", "decode_cache"): "amortised: counted in a",
    }
    write_campaign(c, tmp_path / "out")
    md = (tmp_path / "out" / "campaign.md").read_text()
    assert "## Data preparation" in md and "amortised: counted in a" in md
    assert "Outside: data collection and preparation" not in md
    data = json.loads((tmp_path / "out" / "campaign.json").read_text())
    assert data["preparation"]["energy_kwh"] == pytest.approx(0.05)
    manifest = yaml.safe_load((tmp_path / "out" / "campaign_impact.yml").read_text())
    prep = [k for k in manifest["tree"]["children"] if k.startswith("prep-")]
    assert prep == ["prep-1-decode_cache"]
    assert manifest["tree"]["children"][prep[0]]["inputs"][0]["energy"] == pytest.approx(0.05)


@pytest.mark.slow
@pytest.mark.skipif(
    not IF_RUN or not os.path.exists(IF_RUN),
    reason="if-run not found (set IF_RUN or put @grnsft/if's if-run on PATH)",
)
def test_if_run_reproduces_the_campaign_with_its_preparation(campaign_dir, tmp_path):
    root, _, _ = campaign_dir
    c = build_campaign([root])
    write_campaign(c, tmp_path)
    proc = subprocess.run(
        [IF_RUN, "--manifest", str(tmp_path / "campaign_impact.yml"), "--output", str(tmp_path / "if-out")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    agg = yaml.safe_load(next(tmp_path.glob("if-out*")).read_text())["tree"]["aggregated"]
    assert agg["energy"] == pytest.approx(c.energy_kwh, rel=1e-6)
    assert agg["carbon"] == pytest.approx(c.carbon_g, rel=1e-6)
    assert agg["sci"] == pytest.approx(c.sci, rel=1e-6)


def test_a_build_whose_run_died_before_training_is_not_counted_as_zero_grams(tmp_path):
    # job 1 of the sweep built the cache and died before its first step (no report, no
    # intensity): the build's emissions use the campaign's mean intensity, not 0 g
    root = tmp_path / "sweep"
    (root).mkdir()
    (root / "multirun.yaml").write_text("hydra: {}\n")
    done = _report(root / "0", "0")
    (root / "1").mkdir()
    write_preparation(root / "1", [BUILD])
    c = build_campaign([root])
    [prep] = c.preparation
    mean = done.operational_g / done.energy_kwh.total  # the only run with an intensity
    assert (
        prep.run.endswith("1")
        and prep.counted
        and prep.operational_g == pytest.approx(0.05 * mean)
        and mean > 0
    )
    assert "campaign's mean intensity" in prep.why


# -------------------------------------------------------------------- a monitor that fails to start
# The build runs, its energy falls back to the CPU-time and RAM estimate of this process, the fault
# is warned once (however many caches are built) and recorded in the build's record, beside the
# cache and in the run's ``preparation.json``.


def _build(tmp_path, paths, key, records, factory):
    return build_uint8_cache(
        paths,
        tmp_path / "cache",
        key=key,
        source_root=tmp_path / "src",
        image_px=8,
        progress=False,
        records=records,
        pue=1.5,
        monitor_factory=factory,
    )


class BrokenAtStart:
    """A monitor factory whose monitor cannot open a window (a meter's driver gone); counts closes."""

    def __init__(self, error: Exception) -> None:
        self.error, self.closed = error, 0

    def __call__(self, energy):
        factory = self

        class Broken(EnergyMonitor):
            def begin_window(self, name):
                raise factory.error

            def close(self):
                factory.closed += 1
                super().close()

        return Broken([], sync=lambda: None, config=energy)


def _fault_warnings(caught) -> list[str]:
    return [
        str(w.message)
        for w in caught
        if issubclass(w.category, EnergyMeterWarning) and "failed to start" in str(w.message)
    ]


@pytest.mark.parametrize("where", ["factory", "begin_window"])
def test_a_monitor_that_fails_to_start_falls_back_to_the_estimate_warns_once_and_is_recorded(tmp_path, where):
    paths = _images(tmp_path / "src")
    error = OSError(5, f"Input/output error {uuid.uuid4().hex[:6]}")

    def raising(_):
        raise error

    factory = raising if where == "factory" else BrokenAtStart(error)
    records: list[PreparationFigures] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train = _build(tmp_path, paths, "train", records, factory)
        val = _build(tmp_path, paths, "val", records, factory)

    assert train.is_file() and val.is_file()
    assert len(records) == 2 and records[0].build_id != records[1].build_id
    for record in records:
        assert record.activity == "decode_cache" and record.items == 5 and not record.reused
        assert record.quality == "estimated" and "cpu_time_tdp_estimate" in record.method
        assert "gpu" not in record.method and record.energy_kwh == pytest.approx(1.5 * record.it_energy_kwh)
        assert record.notes[0].startswith("The decode_cache build's energy monitor failed to start (OSError")
        assert "CPU-time and RAM estimate" in record.notes[0] and str(error.strerror) in record.notes[0]
    (line,) = _fault_warnings(caught)  # two builds, one warning
    assert line == records[0].notes[0] + "."
    beside = read_build_record(train)
    assert beside is not None and beside.build_id == records[0].build_id and beside.notes == records[0].notes
    if where == "begin_window":
        assert factory.closed == 2  # the broken monitor of each build was closed


def test_when_the_estimate_fails_too_the_build_runs_unmeasured_and_says_so_once(tmp_path, monkeypatch):
    paths = _images(tmp_path / "src")
    marker = uuid.uuid4().hex[:6]

    def raising(_):
        raise OSError(f"no meters {marker}")

    def estimate_too(_):
        raise RuntimeError(f"no CPU times {marker}")

    monkeypatch.setattr(preparation, "_estimate_monitor", estimate_too)
    records: list[PreparationFigures] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        npy = _build(tmp_path, paths, "train", records, raising)
        _build(tmp_path, paths, "val", records, raising)
    assert npy.is_file() and records == [] and read_build_record(npy) is None
    (line,) = _fault_warnings(caught)
    assert f"no meters {marker}" in line and f"no CPU times {marker}" in line and "runs unmeasured" in line

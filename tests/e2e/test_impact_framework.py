"""Cross-check against the real GSF Impact Framework: ``if-run`` on the manifest written by
``write_run_report`` must give the same SCI to within 0.1 %.

Runs when ``if-run`` is on PATH or the ``IF_RUN`` environment variable points to it
(install: ``npm install @grnsft/if`` in any folder, then ``IF_RUN=<folder>/node_modules/.bin/if-run``);
skips otherwise. Needs no network.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import datetime, timedelta, timezone

import pytest
import yaml

from sci_lightning.carbon.base import IntensityPoint, IntensitySeries
from sci_lightning.energy.base import ComponentEnergy, EnergyInterval, EnergyResult
from sci_lightning.sci.compute import compute_sci
from sci_lightning.sci.writer import write_run_report
from sci_lightning.settings import SciConfig

UTC = timezone.utc
IF_RUN = os.environ.get("IF_RUN") or shutil.which("if-run")

pytestmark = [
    pytest.mark.skipif(
        not IF_RUN or not os.path.exists(IF_RUN),
        reason="if-run not found (set IF_RUN or put @grnsft/if's if-run on PATH)",
    ),
    pytest.mark.slow,
]


def _run(embodied: bool, fu: str, interval_s: float, n: int, pue: float):
    t0 = datetime(2023, 7, 4, 16, 47, 13, 250000, tzinfo=UTC)
    tl = [
        EnergyInterval(
            t0 + timedelta(seconds=interval_s * i),
            t0 + timedelta(seconds=interval_s * (i + 1)),
            (55_000.0 + 3_000 * (i % 5)) * interval_s / 600,
        )
        for i in range(n)
    ]
    it = sum(i.energy_j for i in tl)
    energy = EnergyResult(
        started_at=tl[0].start,
        ended_at=tl[-1].end,
        duration_s=interval_s * n,
        components=[
            ComponentEnergy("gpu", "GPU-0", it * 0.7, "nvml_energy_counter", "measured"),
            ComponentEnergy("cpu", "host", it * 0.3, "cpu_time_tdp_estimate", "estimated"),
        ],
        timeline=tl,
        pue=pue,
        steps=1000,
        epochs=5,
        images=64_000,
    )
    base = t0.replace(minute=0, second=0, microsecond=0)
    # 30-minute points that change every time; the run straddles several boundaries
    pts = [
        IntensityPoint(
            base + timedelta(minutes=30 * k),
            base + timedelta(minutes=30 * (k + 1)),
            180.0 + 37.5 * ((k * 7) % 5),
        )
        for k in range(12)
    ]
    ser = IntensitySeries(pts, source="test", region="X", signal_type="average", kind="measured")
    cfg = SciConfig(
        functional_unit=fu,
        embodied_total_kg=2500.0 if embodied else None,
        lifespan_years=4.0 if embodied else None,
        resources_reserved=1.0,
        resources_total=8.0 if embodied else 1.0,
    )
    return compute_sci(energy, ser, cfg), energy


@pytest.mark.parametrize(
    "embodied, fu, interval_s, n, pue",
    [
        (False, "job", 600.0, 9, 1.0),
        (True, "epoch", 420.0, 11, 1.2),
        (True, "1000_images", 0.4, 12, 1.1),  # sub-second intervals merged into >= 1 s observations
    ],
)
def test_if_run_reproduces_sci(tmp_path, embodied, fu, interval_s, n, pue):
    result, energy = _run(embodied, fu, interval_s, n, pue)
    write_run_report(tmp_path, result, energy, {"model": "inception_v3", "run_name": f"if-{fu}"})
    out = tmp_path / "if-out"
    proc = subprocess.run(
        [IF_RUN, "--manifest", str(tmp_path / "impact.yml"), "--output", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    produced = sorted(tmp_path.glob("if-out*"))
    assert produced, f"if-run wrote no output file; stdout: {proc.stdout[-2000:]}"
    computed = yaml.safe_load(produced[0].read_text())
    assert computed["execution"]["status"] == "success"
    agg = computed["tree"]["children"]["training-job"]["aggregated"]
    assert agg["sci"] == pytest.approx(result.sci, rel=1e-3)
    assert agg["carbon-operational"] == pytest.approx(result.operational_g, rel=1e-3)
    assert agg["carbon-embodied"] == pytest.approx(result.embodied_g, rel=1e-3, abs=1e-12)
    assert agg["energy"] == pytest.approx(result.energy_kwh, rel=1e-3)
    unit_out = {"job": "sci-per-job", "epoch": "sci-per-epoch", "1000_images": "sci-per-thousand-images"}
    for unit, key in unit_out.items():
        assert agg[key] == pytest.approx(result.sci_per[unit], rel=1e-3)


def _if_run(tmp_path, manifest_path):
    out = tmp_path / "if-out"
    proc = subprocess.run(
        [IF_RUN, "--manifest", str(manifest_path), "--output", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    produced = sorted(tmp_path.glob("if-out*"))
    assert produced, f"if-run wrote no output file; stdout: {proc.stdout[-2000:]}"
    return yaml.safe_load(produced[0].read_text())


def test_if_sci_embodied_reproduces_our_m_to_1e_9(tmp_path):
    """IF's own ``sci-embodied`` plugin, with its DEFAULT lifespan (126,144,000 s = 4 years of
    365 days), over the observations of our impact.yml gives our M to 1e-9.

    sci-embodied computes (baseline-emissions + vCPU/memory/... deltas) x usage-ratio x
    time / lifespan; with vCPUs = 1 and memory = 16 (its baselines) the deltas are 0, so it is
    TE (g) x (RR / ToR) x TiR / 126,144,000 s per observation: our M = TE x (TiR / EL) x (RR / ToR)
    with EL = 4 years.
    """
    result, energy = _run(True, "job", 420.0, 11, 1.2)
    write_run_report(tmp_path, result, energy, {"model": "inception_v3", "run_name": "if-embodied"})
    ours = yaml.safe_load((tmp_path / "impact.yml").read_text())
    node = ours["tree"]["children"]["training-job"]
    defaults = node["defaults"]
    assert defaults["device/expected-lifespan"] == 126_144_000  # EL 4 years x 365 d x 86,400 s
    inputs = [
        {
            "timestamp": o["timestamp"],
            "duration": o["duration"],
            "vCPUs": 1,
            "memory": 16,
            "usage-ratio": defaults["resources-reserved"] / defaults["resources-total"],
            "time": o["time-reserved"],
        }
        for o in node["inputs"]
    ]
    manifest = {
        "name": "sci-embodied cross-check",
        "description": "IF sci-embodied over sci-lightning's observations",
        "initialize": {
            "plugins": {
                "embodied": {
                    "method": "SciEmbodied",
                    "path": "builtin",
                    "config": {"baseline-emissions": defaults["device/emissions-embodied"]},
                }
            }
        },
        "tree": {"children": {"job": {"pipeline": {"compute": ["embodied"]}, "inputs": inputs}}},
    }
    path = tmp_path / "embodied.yml"
    path.write_text(yaml.safe_dump(manifest, sort_keys=False))
    computed = _if_run(tmp_path, path)
    outputs = computed["tree"]["children"]["job"]["outputs"]
    if_m = sum(o["embodied-carbon"] for o in outputs)
    # by hand: TE 2,500 kg = 2.5e6 g, RR/ToR = 1/8, TiR = 11 x 420 s = 4620 s:
    # 2.5e6 / 8 x 4620 / 126,144,000 = 11.44517... g
    assert result.embodied_g == pytest.approx(2.5e6 / 8 * 4620 / 126_144_000, rel=1e-12)
    assert if_m == pytest.approx(result.embodied_g, rel=1e-9, abs=1e-12)


def test_if_run_our_manifest_embodied_to_1e_9(tmp_path):
    """Our impact.yml's own embodied pipeline, run by if-run, gives our M to 1e-9."""
    result, energy = _run(True, "epoch", 420.0, 11, 1.2)
    write_run_report(tmp_path, result, energy, {"model": "inception_v3", "run_name": "if-m"})
    computed = _if_run(tmp_path, tmp_path / "impact.yml")
    agg = computed["tree"]["children"]["training-job"]["aggregated"]
    assert agg["carbon-embodied"] == pytest.approx(result.embodied_g, rel=1e-9)

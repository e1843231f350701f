"""Hand-made sweep folders for the comparison tests: ``sci_report.json`` dicts with the stable key
names (:func:`make_report`), Hydra-like job folders (:func:`write_job`) and a two-model sweep whose
differences are easy to compute by hand (:func:`two_model_sweep`)."""

from __future__ import annotations

import json
from pathlib import Path


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


def two_model_sweep(tmp_path: Path) -> Path:
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

"""A run folder to publish: the report of tests/sci/test_report.py's ``make_run`` (training with
embodied emissions, an inference stage and a reused data-preparation cache), and a reader of the
SPDX document's AI package. Used by tests/publish/."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from sci_lightning.sci.inference import inference_sci
from sci_lightning.sci.preparation import PreparationFigures, write_preparation
from sci_lightning.sci.report import SciReport
from sci_lightning.sci.work import WorkCounts
from sci_lightning.sci.writer import write_run_report
from tests.sci.test_report import META, make_run

#: A fine-tuned model: 200 k of its 8 M parameters trained.
WORK = WorkCounts(
    train_flops=3e15,
    parameters_gross=8_000_000,
    parameters_effective=8_000_000,
    parameters_trainable=200_000,
    images_seen=9600,
)


def write_run(
    tmp_path: Path, *, inference: bool = True, preparation: bool = True, work: WorkCounts | None = None
) -> tuple[Path, SciReport]:
    """``tmp_path/run`` with its reports; returns ``(run folder, SciReport)``."""
    result, energy = make_run(embodied=True)
    if work is not None:
        result = replace(result, work=work)
    meta = dict(META)
    if inference:
        e = result.embodied
        meta["inference"] = [
            inference_sci(
                energy_kwh=0.002,
                duration_s=40.0,
                samples=10_000,
                intensity_g_per_kwh=result.mean_intensity_g_per_kwh,
                stage="predict",
                te_kg=e.te_kg,
                el_years=e.el_years,
                rr=e.rr,
                tor=e.tor,
                quality="measured",
                method="gpu: nvml_energy_counter",
            )
        ]
    run = tmp_path / "run"
    report = write_run_report(run, result, energy, meta)
    if preparation:
        write_preparation(
            run,
            [
                PreparationFigures(
                    activity="decode_cache",
                    build_id="b1",
                    energy_kwh=0.004,
                    it_energy_kwh=0.004,
                    duration_s=12.0,
                    items=1000,
                    quality="estimated",
                    method="cpu: cpu_time_tdp_estimate",
                    reused=True,
                )
            ],
        )
    return run, report


def graph_package(path: Path) -> dict:
    """The ``ai_AIPackage`` element of an SPDX 3 JSON-LD file."""
    doc = json.loads(path.read_text())
    return next(e for e in doc["@graph"] if e["type"] == "ai_AIPackage")

"""End to end: a two-model sweep through the real training CLI (a subprocess) leaves
each job's files and the sweep's comparison."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_run import TINY_FIT

pytestmark = pytest.mark.slow

# two epochs, a point per step: every TensorBoard chart then has a line (>= 2 points) per run
TINY = [a for a in TINY_FIT if not a.startswith("trainer.max_epochs")] + [
    "trainer.max_epochs=2",
    "trainer.log_every_n_steps=1",
]


@pytest.mark.parametrize("launcher", ["basic", "joblib"])
def test_two_model_sweep_writes_comparison_and_named_tensorboard_runs(tmp_path: Path, launcher: str):
    if launcher == "joblib":
        pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    sweep = tmp_path / "sweep"
    env = dict(os.environ, MPLBACKEND="Agg", CUDA_VISIBLE_DEVICES="")
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "sci_lightning",
            "-m",
            "model=inception,densenet",
            "experiment=quickstart",
            *TINY,
            f"hydra.sweep.dir={sweep}",
            "compare.baseline=densenet",
            f"hydra/launcher={launcher}",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "Model comparison" in p.stdout

    for name in ("comparison.md", "comparison.json", "comparison.csv", "comparison.png"):
        assert (sweep / name).is_file(), name
    with open(sweep / "comparison.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["status"] for r in rows] == ["ok", "ok"]
    assert {r["model"] for r in rows} == {"inception_v3", "densenet121"}
    data = json.loads((sweep / "comparison.json").read_text())
    assert data["baseline"]["model"] == "densenet121"
    inception = next(j for j in data["jobs"] if j["model"] == "inception_v3")
    _check_inference_columns(sweep, rows)
    assert inception["sentence"].startswith("On synthetic data, InceptionV3 had ")  # the quickstart data
    assert "(SCI at the common intensity)" in inception["sentence"] and data["common_intensity_g_per_kwh"] > 0
    assert inception["sentence"] and inception["sentence"].endswith(" than DenseNet121")

    from sci_lightning.lightning.tb_layout import list_tensorboard_runs, read_custom_scalars_layout

    runs = list_tensorboard_runs(sweep)
    assert "model=inception" in runs and "model=densenet" in runs, runs
    assert "Energy" in read_custom_scalars_layout(sweep / "model=inception")
    _check_hparams_table(sweep)
    if launcher == "basic":
        _check_every_chart_has_a_line(sweep)

    # each job's own files
    for job, name in (("0", "inception_v3"), ("1", "densenet121")):
        d = sweep / job
        summary = json.loads((d / "run_summary.json").read_text())
        assert summary["model"] == name and summary["steps"] == 4
        report = json.loads((d / "sci_report.json").read_text())
        assert report["model"] == name and report["sci"]["value"] > 0
        energy = json.loads((d / "energy.json").read_text())
        assert {c["method"] for c in energy["components"]} >= {"cpu_time_tdp_estimate"}
        for f in ("sci_report.md", "impact.yml", ".hydra/config.yaml", "checkpoints/last.ckpt"):
            assert (d / f).is_file(), f


def _check_inference_columns(sweep: Path, rows: list[dict[str, str]]) -> None:
    """Each model's training SCI and its measured inference figures per 1,000 images, numbers."""
    from sci_lightning.compare.tables import NOT_MEASURED, TABLE_COLUMNS, compare_runs, table_rows

    for r in rows:
        assert r["inference_stage"] == "predict" and int(r["inference_samples"]) == 4, r
        assert float(r["inference_energy_per_1000_kwh"]) > 0 and float(r["inference_sci_per_1000_g"]) > 0, r
    table = [
        dict(zip(TABLE_COLUMNS, row))
        for row in table_rows(compare_runs([str(sweep / "0"), str(sweep / "1")]))
    ]
    for row in table:
        for column in ("SCI", "Inference energy (kWh/1000 images)", "Inference SCI (gCO2e/1000 images)"):
            assert row[column] != NOT_MEASURED and float(row[column].split()[0]) > 0, (column, row)
    md = (sweep / "comparison.md").read_text()
    assert "Inference SCI (gCO2e/1000 images)" in md


def _check_hparams_table(sweep: Path) -> None:
    """TensorBoard's HParams tab: one row per model, each with its settings and final results."""
    from tensorboard.backend.event_processing.plugin_event_multiplexer import EventMultiplexer
    from tensorboard.plugins.hparams import plugin_data_pb2

    mux = EventMultiplexer().AddRunsFromDirectory(str(sweep))
    mux.Reload()
    rows = {}
    for run, content in mux.PluginRunToTagToContent("hparams").items():
        start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
        rows[run] = start.session_start_info.hparams
        for tag in ("results/val_acc", "results/energy_wh", "results/sci", "results/emissions_mg"):
            assert mux.Tensors(run, tag), (run, tag)  # scalars, as the plugin multiplexer stores them
    assert {rows[r]["model"].string_value for r in rows} == {"inception_v3", "densenet121"}, rows


def _check_every_chart_has_a_line(sweep: Path) -> None:
    """TensorBoard at its default settings: no scalar tag with fewer than two points in any run, and
    every Custom Scalars chart matches a tag (so it has a line) in every run."""
    import re

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from sci_lightning.lightning.tb_layout import list_tensorboard_runs, read_custom_scalars_layout

    runs = list_tensorboard_runs(sweep)
    assert len(runs) == 2, runs
    for run in runs:
        acc = EventAccumulator(str(sweep / run), size_guidance={"scalars": 0})
        acc.Reload()
        tags = acc.Tags()["scalars"]
        short = {t: len(acc.Scalars(t)) for t in tags if len(acc.Scalars(t)) < 2}
        assert not short, (run, short)
        for tag in ("sci/so_far/sci_mg", "sci/projected/sci_mg", "sci/so_far/operational_mg", "results/sci"):
            assert tag in tags, (run, tag)
            # the running series at the per-step rate: more points than the 2 epochs
            assert len(acc.Scalars(tag)) > len(acc.Scalars("energy/epoch_j")), (run, tag)
        layout = read_custom_scalars_layout(sweep / run)
        for category, charts in layout.items():
            for title, regexes in charts.items():
                assert any(re.match(rx, t) for rx in regexes for t in tags), (run, category, title)

"""The comparison's bar charts (sci_lightning.compare.charts): scales, bar labels and styles, and the
PNG files written (one per metric and the combined figure; past MAX_LABELLED_BARS jobs, the combined
figure alone)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sweep_jobs import make_report, two_model_sweep, write_job

import sci_lightning.compare as compare_pkg
from sci_lightning.compare import charts as Ch

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SPECS = {c.name: c for c in Ch.CHARTS}


@pytest.fixture
def comp(tmp_path: Path):
    """Inception vs DenseNet (the baseline), with a failed third job."""
    sweep = two_model_sweep(tmp_path)
    write_job(sweep, 2, "resnet", None)
    return compare_pkg.compare_runs([sweep], baseline="densenet")


def test_one_chart_per_compared_figure():
    assert [c.name for c in Ch.CHARTS] == ["accuracy", "time", "energy", "cost", "sci", "carbon_aware_saving"]
    assert {c.better for c in Ch.CHARTS} == {"higher", "lower"} and SPECS["accuracy"].better == "higher"


@pytest.mark.parametrize(
    "name, values, unit, expected",
    [
        ("accuracy", [0.5], None, (100.0, "%")),
        ("time", [90.0], None, (1.0, "s")),
        ("time", [902.0, None], None, (1 / 60, "min")),
        ("time", [7200.0], None, (1 / 3600, "h")),
        ("energy", [0.05], None, (1000.0, "Wh")),
        ("energy", [0.1], None, (1.0, "kWh")),
        ("energy", [0.8, 1.0], None, (1.0, "kWh")),
        ("cost", [1.0], None, (1.0, "$USD")),
        ("sci", [40.0], "gCO2e/epoch", (1.0, "gCO2e/epoch")),
        ("sci", [40.0], None, (1.0, "gCO2e per functional unit")),
        ("carbon_aware_saving", [5.0], None, (1.0, "gCO2e")),
    ],
)
def test_scale_keeps_the_numbers_readable(name, values, unit, expected):
    assert Ch._scale(SPECS[name], values, unit) == expected


def test_bar_labels_styles_and_ticks(comp):
    inception, densenet, failed = comp.jobs
    colors, hatches, qualities = Ch._bar_styles(comp, SPECS["energy"])
    assert colors == ["#1f77b4", "#7f7f7f", "#1f77b4"]  # the baseline grey
    assert qualities[:2] == ["measured", "estimated"] and hatches[:2] == ["", "//"]
    assert Ch._bar_styles(comp, SPECS["carbon_aware_saving"])[1] == ["//", "//", "//"]  # always an estimate
    energy = SPECS["energy"]
    assert Ch._bar_text(comp, energy, inception, 0.8, comp.diffs[0], "measured") == "0.800\n(-20.0%)"
    assert Ch._bar_text(comp, energy, densenet, 1.0, comp.diffs[1], "estimated") == "1.00 (est.)"
    assert Ch._bar_text(comp, energy, failed, None, comp.diffs[2], None) == "failed"
    assert Ch._bar_text(comp, energy, inception, None, comp.diffs[0], "measured") == "n/a"
    saving = SPECS["carbon_aware_saving"]
    assert Ch._bar_text(comp, saving, inception, 5.0, comp.diffs[0], "estimated") == "5.00 (est.)\n(12.5%)"
    assert Ch._tick_labels(comp) == ["InceptionV3", "DenseNet121\n(baseline)", "resnet"]


def test_long_labels_are_cut_and_wrapped(comp):
    comp.jobs[0].label = "a_very_long_model_name_" * 3
    first = Ch._tick_labels(comp)[0]
    assert first.replace("\n", "").endswith("…") and len(first.replace("\n", "")) == 40
    assert all(len(line) <= 14 for line in first.splitlines())


@pytest.mark.slow  # matplotlib's import and one draw: ~2-4 s
def test_write_charts_writes_pngs(comp, tmp_path: Path):
    out = tmp_path / "charts"
    out.mkdir()
    written = Ch.write_charts(comp, out, per_metric=False)
    assert written == [out / "comparison.png"] and written[0].read_bytes()[:8] == PNG_MAGIC
    assert sorted(p.name for p in out.iterdir()) == ["comparison.png"]  # no temp file left


@pytest.mark.slow
def test_write_charts_one_per_metric_and_the_dense_figure(comp, tmp_path: Path):
    written = Ch.write_charts(comp, tmp_path, combined=False)
    assert [p.name for p in written] == [f"comparison_{c.name}.png" for c in Ch.CHARTS]
    assert all(p.read_bytes()[:8] == PNG_MAGIC for p in written)
    many = tmp_path / "many"
    for num in range(Ch.MAX_LABELLED_BARS + 1):
        report = make_report(f"m{num}", f"model=m{num}", val_acc=0.5, cost_usd=1, energy_kwh=1, duration_s=1)
        write_job(many, num, f"m{num}", report)
    dense = compare_pkg.compare_runs([many])
    assert [p.name for p in Ch.write_charts(dense, many)] == ["comparison.png"]  # past the limit: one figure

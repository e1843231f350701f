"""The one line every CLI run ends with (sci_lightning.app.summary), on a real SciReport read from a
dict: status, model, accuracy, time, energy with its methods, intensity with its source, SCI, cost, path.
The line printed by a real run is checked in tests/e2e/test_cli_ux.py."""

from __future__ import annotations

import pytest

from sci_lightning.app.summary import accuracy_part, format_energy, summary_line
from sci_lightning.sci.report import SciReport


def _report(**change) -> SciReport:
    data = {
        "schema_version": 2,
        "model": "densenet121",
        "status": "completed",
        "val_acc": 0.5,
        "duration_s": 3725.0,
        "cost_usd": 1.2345,
        "price_per_hour_usd": 1.204,
        "energy_kwh": {
            "total": 0.0123,
            "components": [
                {"component": "gpu", "device": "0", "energy_kwh": 0.01, "method": "nvml_energy_counter"},
                {"component": "gpu", "device": "1", "energy_kwh": 0.001, "method": "nvml_power_sampling"},
                {"component": "gpu", "device": "2", "energy_kwh": 0.001, "method": "nvml_energy_counter"},
                {"component": "cpu", "device": "h", "energy_kwh": 0.0003, "method": "my_meter"},
            ],
        },
        "quality": {"energy": "mixed", "intensity": "measured"},
        "intensity": {
            "mean_g_per_kwh": 156.66,
            "source": "trace: DE_2023.csv (Electricity Maps [CC BY-SA 4.0])",
            "region": "DE",
            "kind": "measured",
            "fallbacks": [{"provider": "watttime", "error": "401"}, {"provider": "electricity_maps"}],
        },
        "sci": {"value": 0.07194, "unit": "gCO2e/job"},
    }
    data.update(change)
    return SciReport.from_dict(data)


def test_the_whole_line_by_hand():
    summary = {"model_label": "densenet", "final_val_acc": 0.5, "checkpoints": {"last": False}}
    assert summary_line(summary, _report(), "outputs/r/sci_report.json") == (
        "sci-lightning: completed densenet | val acc 50.0% final | time 1 h 02 min | "
        "energy 12.3 Wh, mixed (gpu: NVML energy counter + NVML power sampling, cpu: my_meter) | "
        "intensity 156.7 gCO2e/kWh, trace: DE_2023.csv (DE, measured), 2 fallback(s) | "
        "SCI 0.0719 gCO2e/job | cost $1.23 at $1.204/h | report outputs/r/sci_report.json"
    )


def test_status_model_and_accuracy_fall_back_to_the_report():
    line = summary_line(None, _report(status="failed", val_acc=0.25))
    assert line.startswith("sci-lightning: failed densenet121 | val acc 25.0% final | ")
    assert summary_line({"status": "interrupted", "model": "m"}, _report()).startswith(
        "sci-lightning: interrupted m | "
    )
    assert summary_line({}, None).startswith("sci-lightning: completed run | val acc n/a | time n/a | ")


def test_missing_figures_read_n_a_and_no_cost_part():
    report = _report(
        sci={"value": None, "unit": "gCO2e/epoch"},
        cost_usd=None,
        intensity={"mean_g_per_kwh": None, "source": None},
        duration_s=None,
        energy_kwh={"total": 2.5, "components": []},
        quality={},
    )
    line = summary_line({"fit_wall_s": 42.0}, report)
    assert line.split(" | ")[2:] == [
        "time 42 s",  # the summary's wall time when the report has none
        "energy 2.5 kWh",
        "intensity n/a, unknown source",
        "SCI n/a (gCO2e/epoch)",
    ]
    assert summary_line({"energy_kwh": 0.5}, None).split(" | ")[3:] == ["energy 500 Wh", "no SCI report"]
    assert "$" not in summary_line({}, _report(price_per_hour_usd=None, cost_usd=0.5)).split("cost ")[0]
    assert summary_line({}, _report(price_per_hour_usd=None, cost_usd=0.5)).endswith("| cost $0.5")


@pytest.mark.parametrize(
    "kwh, text",
    [(1.0, "1 kWh"), (1234.5, "1.23e+03 kWh"), (0.999, "999 Wh"), (0.0, "0 Wh"), (-0.002, "-2 Wh")]
    + [(float("nan"), "n/a"), (True, "n/a"), ("1", "n/a")],
)
def test_format_energy(kwh, text):
    assert format_energy(kwh) == text


def test_accuracy_part_says_where_each_accuracy_is():
    assert (
        accuracy_part({"final_val_acc": 0.8204, "best_val_acc": 0.8196}) == "val acc 82.0% final"
    )  # same 0.1%
    assert accuracy_part({"final_val_acc": 0.8, "best_val_acc": float("nan")}) == "val acc 80.0% final"
    assert accuracy_part({"best_val_acc": 0.9}) == "val acc 90.0% (best epoch)"
    assert accuracy_part({"final_val_acc": None}, _report(val_acc=None)) == "val acc n/a"
    assert (
        accuracy_part({"final_val_acc": 0.7}, _report(val_acc=0.1)) == "val acc 70.0% final"
    )  # summary first


def test_the_source_is_shown_without_its_credits_and_notes():
    report = _report(intensity={"mean_g_per_kwh": 100.0, "source": "static table [Ember 2023] (yearly mean)"})
    assert " | intensity 100.0 gCO2e/kWh, static table | " in summary_line({}, report)


def test_summary_line_without_a_report_and_for_an_interrupted_run():
    line = summary_line(
        {"model_label": "inception", "best_val_acc": 0.5, "energy_kwh": None},
        None,
        "outputs/x/run_summary.json",
        status="interrupted",
    )
    assert line == (
        "sci-lightning: interrupted inception | val acc 50.0% (best epoch) | time n/a | "
        "energy not measured | no SCI report | summary outputs/x/run_summary.json"
    )
    assert (
        format_energy(2.5) == "2.5 kWh"
        and format_energy(0.000842) == "0.842 Wh"
        and format_energy(None) == "n/a"
    )


def test_summary_line_quotes_the_final_accuracy_the_report_holds_with_time_and_cost():
    from types import SimpleNamespace

    report = SimpleNamespace(
        val_acc=0.82,
        duration_s=125.4,
        cost_usd=0.0419,
        price_per_hour_usd=1.204,
        status="completed",
        model="densenet",
        energy_kwh=SimpleNamespace(total=0.00075, components=[]),
        quality=None,
        intensity=SimpleNamespace(
            mean_g_per_kwh=141.0, source="trace: x.csv", region="DE", kind="measured", fallbacks=[]
        ),
        sci=SimpleNamespace(value=0.106, unit="gCO2e/job"),
    )
    summary = {
        "model_label": "densenet",
        "best_val_acc": 0.92,
        "final_val_acc": 0.82,
        "checkpoints": {"last": True, "best_by": None},
    }
    line = summary_line(summary, report, "r.json")
    assert " | val acc 82.0% final, in last.ckpt (best 92.0%, not kept) | time 2 min 05 s | " in line
    assert f"{report.val_acc * 100:.1f}%" in line and "cost $0.0419 at $1.204/h" in line
    summary["checkpoints"] = {"last": True, "best_by": "val/acc"}
    assert "(best 92.0%, in the best-k checkpoints)" in summary_line(summary, report)
    summary["best_val_acc"] = 0.82
    assert "val acc 82.0% final, in last.ckpt | " in summary_line(summary, report)

"""The differences, baseline, sentences and text of a comparison (sci_lightning.compare.tables).

Inputs are hand-made ``sci_report.json`` files (tests/helpers/sweep_jobs.py); expected differences
are computed by hand in the tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sweep_jobs import make_report, two_model_sweep, write_job

import sci_lightning.compare as compare_pkg
from sci_lightning.compare import tables as T
from sci_lightning.errors import ConfigError


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """Inception (job 0) vs DenseNet (job 1): tests/helpers/sweep_jobs.py."""
    return two_model_sweep(tmp_path)


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


# ------------------------------------------------------------------ the module's own helpers


@pytest.mark.parametrize(
    "x, text",
    [
        (None, "n/a"),
        (0, "0"),
        (0.8, "0.800"),
        (902.0, "902"),
        (1234.5, "1234"),
        (2.5e6, "2.50e+06"),
        (-1e-5, "-1.00e-05"),
    ],
)
def test_format_number_three_significant_figures(x, text):
    assert T.format_number(x) == text


def test_signed_pct_quality_marks_joins_and_names():
    assert [T.format_signed_pct(p) for p in (10.0, -13.0, 0.0, None)] == [
        "+10.0%",
        "-13.0%",
        "0.00%",
        "n/a",
    ]
    assert T.quality_mark("measured") == "" and T.quality_mark("estimated") == " (est.)"
    assert T.quality_mark(None) == " (?)" and T.quality_mark("odd") == " (odd)"
    assert [T.join_phrases(p) for p in ([], ["a"], ["a", "b"], ["a", "b", "c"])] == [
        "",
        "a",
        "a and b",
        "a, b and c",
    ]
    assert T.display_model_name("inception_v3") == "InceptionV3" and T.display_model_name("vit_b") == "vit_b"
    assert T.display_model_name(None) == "?" and T.display_model_name("") == "?"
    assert T.data_prefix(["synthetic", "tiny_imagenet"]) == "On synthetic data, " and T.data_prefix([]) == ""


def test_sci_at_intensity_rescales_only_the_operational_part():
    v = {"sci": 12.0, "operational_g": 10.0, "embodied_g": 2.0, "intensity_g_per_kwh": 100.0}
    assert T.sci_at_intensity(v, 200.0) == pytest.approx(22.0)  # 10 g -> 20 g, + 2 g embodied
    assert T.sci_at_intensity({**v, "sci": 6.0}, 200.0) == pytest.approx(11.0)  # R = 2 units
    assert T.sci_at_intensity({**v, "embodied_g": None}, 50.0) == pytest.approx(12.0 * 5 / 10)
    assert T.sci_at_intensity({**v, "intensity_g_per_kwh": 0.0}, 200.0) is None
    assert T.sci_at_intensity({**v, "operational_g": float("nan")}, 200.0) is None
    zero = {"sci": 0.0, "operational_g": 0.0, "embodied_g": 0.0, "intensity_g_per_kwh": 100.0}
    assert T.sci_at_intensity(zero, 200.0) == 0.0


def test_labels_fall_back_to_the_run_name_then_the_job_number(tmp_path: Path):
    s = tmp_path / "sw"
    s.mkdir()
    for num, run_name in ((0, "lr=0.1"), (1, "lr=0.01"), (2, "lr=0.01")):
        write_job(
            s,
            num,
            "densenet",
            make_report("densenet121", run_name, val_acc=0.5, cost_usd=1, energy_kwh=1, duration_s=1),
        )
    comp = compare_pkg.compare_runs([s])
    assert [j.label for j in comp.jobs] == ["lr=0.1", "lr=0.01 (job 1)", "lr=0.01 (job 2)"]


def test_a_baseline_naming_only_a_failed_job_falls_back_to_the_first_good_one(sweep: Path, caplog):
    write_job(sweep, 2, "resnet", None)
    jobs = compare_pkg.collect_jobs([sweep])
    T._assign_labels(jobs)
    assert T.select_baseline(jobs, "resnet").model == "inception_v3"
    assert "matches only failed job(s) (model=resnet); using InceptionV3" in caplog.text
    assert T.select_baseline([jobs[2]], "resnet") is None  # no good job at all
    with pytest.raises(ConfigError) as err:
        T.select_baseline(jobs, "vit")
    assert str(err.value).count("\n") == 0 and "available: densenet, densenet121, inception" in str(err.value)


def test_markdown_table_escapes_pipes():
    assert T.markdown_table(["a", "b|c"], [["1", "x|y"]]).splitlines() == [
        "| a | b\\|c |",
        "|---|---|",
        "| 1 | x\\|y |",
    ]


def test_csv_and_json_text_of_a_comparison(sweep: Path):
    import csv
    import io
    import json

    comp = compare_pkg.compare_runs([sweep], baseline="densenet")
    rows = list(csv.DictReader(io.StringIO(T.csv_text(comp))))
    assert list(rows[0]) == list(T.CSV_COLUMNS)
    assert [r["is_baseline"] for r in rows] == ["False", "True"] and rows[0]["val_acc_diff_pct"].startswith(
        "10.0"
    )
    data = T.comparison_dict(comp, ["comparison_sci.png"])
    assert data["schema_version"] == T.COMPARISON_SCHEMA_VERSION and data["charts"] == ["comparison_sci.png"]
    assert data["formula"] == T.FORMULA and json.loads(json.dumps(data, allow_nan=False)) == data

"""TensorBoard run naming and custom-scalars layout, checked by reading the event files back."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from sci_lightning.lightning import tb_layout as T


def test_run_name_from_overrides_sanitized():
    assert T.run_name_from_overrides(["model=inception"]) == "model=inception"
    assert (
        T.run_name_from_overrides(["model=inception", "trainer.max_epochs=2"])
        == "model=inception,trainer.max_epochs=2"
    )
    assert T.run_name_from_overrides([]) == "default"
    # path separators, spaces, shell variables and quotes never reach the path
    name = T.run_name_from_overrides(["data.root=/tmp/x y", "+tag='$HOME'"])
    assert name == "data.root=_tmp_x_y,+tag=__HOME_"
    assert "/" not in name and "$" not in name
    assert T.run_name_from_overrides([".."]) == "__"
    long = T.run_name_from_overrides([f"k{i}=" + "v" * 30 for i in range(10)])
    assert len(long) == 120 and "~" in long
    assert long != T.run_name_from_overrides(
        [f"k{i}=" + "v" * 30 for i in range(11)]
    )  # hash keeps them apart


def test_keep_and_exclude_keys_and_swept_keys():
    ov = ["model=inception", "experiment=quickstart", "+trainer.max_epochs=2"]
    assert (
        T.run_name_from_overrides(ov, exclude_keys=["experiment"]) == "model=inception,+trainer.max_epochs=2"
    )
    assert T.run_name_from_overrides(ov, keep_keys={"model"}) == "model=inception"
    assert T.swept_keys(
        [
            "model=inception,densenet",
            "experiment=quickstart",
            "lr=range(1,3)",
            "tags=[a,b]",
            "+seed=choice(1,2)",
            "name='a,b'",
        ]
    ) == {"model", "lr", "seed"}


def test_hydra_run_name_and_dir_multirun_uses_swept_keys(tmp_path: Path):
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "multirun.yaml").write_text(
        "hydra:\n  overrides:\n    task:\n    - model=inception,densenet\n    - experiment=quickstart\n"
    )
    hydra_cfg = SimpleNamespace(
        mode=SimpleNamespace(name="MULTIRUN"),
        sweep=SimpleNamespace(dir=str(sweep)),
        runtime=SimpleNamespace(output_dir=str(sweep / "0")),
        overrides=SimpleNamespace(task=["model=inception", "experiment=quickstart"]),
    )
    assert T.hydra_run_name_and_dir(hydra_cfg) == ("model=inception", sweep.absolute())
    hydra_cfg.mode = SimpleNamespace(name="RUN")
    assert T.hydra_run_name_and_dir(hydra_cfg) == (
        "model=inception,experiment=quickstart",
        (sweep / "0").absolute(),
    )


def _log_two_runs(sweep: Path) -> None:
    for ov, acc in ((["model=inception"], 0.55), (["model=densenet"], 0.50)):
        logger = T.make_logger(sweep, ov)
        assert T.write_custom_scalars_layout(logger) is True
        logger.log_metrics({"val/acc": acc, "energy/power_w/gpu0": 70.0, "sci/score": 1.5}, step=0)
        logger.finalize("success")


def test_runs_named_by_overrides_as_tensorboard_lists_them(tmp_path: Path):
    sweep = tmp_path / "multirun" / "2026-11-28" / "20-00-00"
    (sweep / "0").mkdir(parents=True)  # a job folder beside the runs: holds no events, so no run
    _log_two_runs(sweep)
    assert T.list_tensorboard_runs(sweep) == ["model=densenet", "model=inception"]
    # the way `tensorboard --logdir <sweep>` discovers and names runs
    from tensorboard.backend.event_processing.plugin_event_multiplexer import EventMultiplexer

    mux = EventMultiplexer().AddRunsFromDirectory(str(sweep))
    mux.Reload()
    assert sorted(mux.Runs()) == ["model=densenet", "model=inception"]
    acc = EventAccumulator(str(sweep / "model=inception"))
    acc.Reload()
    assert set(acc.Tags()["scalars"]) >= {"val/acc", "energy/power_w/gpu0", "sci/score"}
    assert acc.Scalars("val/acc")[0].value == pytest.approx(0.55)


def test_custom_scalars_layout_read_back(tmp_path: Path):
    _log_two_runs(tmp_path)
    layout = T.read_custom_scalars_layout(tmp_path / "model=densenet")
    assert set(layout) == {"Energy", "Carbon and SCI", "Training"}
    assert layout["Energy"]["Power (W): total and per component"] == ["energy/power_w/.*"]
    assert layout["Carbon and SCI"]["SCI so far and projected at fit end (mgCO2e per functional unit)"] == [
        "sci/so_far/sci_mg$",
        "sci/projected/sci_mg$",
    ]
    all_tags = [t for cat in layout.values() for tags in cat.values() for t in tags]
    for needed in (
        "energy/batch_j$",
        "energy/so_far_wh$",
        "energy/epoch_j$",
        "sci/so_far/operational_mg$",
        "sci/so_far/intensity_g_per_kwh$",
        "results/cost_usd$",
        "train/loss.*",
        "val/acc(_epoch)?$",
        "val/acc_top5(_epoch)?$",
    ):
        assert needed in all_tags, needed
    assert not any(
        t.startswith(("energy/fit/", "sci/score", "sci/energy")) for t in all_tags
    )  # single points


def test_layout_regexes_select_the_intended_tags():
    """TensorBoard matches chart tags with re.match: check each regex against the project's tag names."""
    import re

    tags = [
        "energy/power_w/gpu0",
        "energy/power_w/cpu",
        "energy/power_w/total",
        "energy/batch_j",
        "energy/epoch_j",
        "energy/so_far_wh",
        "sci/so_far/sci_mg",
        "sci/projected/sci_mg",
        "sci/so_far/operational_mg",
        "sci/so_far/intensity_g_per_kwh",
        "results/cost_usd",
        "train/loss",
        "train/loss_step",
        "val/acc",
        "val/acc_top5",
    ]
    layout = T.custom_scalars_layout()

    def matched(chart_tags):
        return {t for t in tags if any(re.match(rx, t) for rx in chart_tags)}

    assert matched(layout["Training"]["Validation accuracy (top-1, top-5)"][1]) == {"val/acc", "val/acc_top5"}
    assert matched(layout["Energy"]["Energy per batch (J)"][1]) == {"energy/batch_j"}
    assert matched(layout["Energy"]["Power (W): total and per component"][1]) == {
        "energy/power_w/gpu0",
        "energy/power_w/cpu",
        "energy/power_w/total",
    }
    assert matched(
        layout["Carbon and SCI"]["SCI so far and projected at fit end (mgCO2e per functional unit)"][1]
    ) == {"sci/so_far/sci_mg", "sci/projected/sci_mg"}
    covered = set().union(*(matched(ch[1]) for cat in layout.values() for ch in cat.values()))
    assert covered == set(tags)


def test_write_layout_to_plain_writer_and_non_tensorboard(tmp_path: Path):
    from torch.utils.tensorboard import SummaryWriter

    w = SummaryWriter(log_dir=str(tmp_path / "plain"))
    extra = {"Extra": {"Throughput": ["Multiline", ["perf/.*"]]}}
    assert T.write_custom_scalars_layout(w, T.custom_scalars_layout(extra)) is True
    w.close()
    layout = T.read_custom_scalars_layout(tmp_path / "plain")
    assert layout["Extra"]["Throughput"] == ["perf/.*"] and "Energy" in layout
    assert T.write_custom_scalars_layout(object()) is False
    assert T.read_custom_scalars_layout(tmp_path / "plain-empty") == {}


def test_callback_writes_layout_on_fit_start(tmp_path: Path):
    logger = T.make_logger(tmp_path, ["model=densenet"])
    trainer = SimpleNamespace(is_global_zero=True, loggers=[logger, object()])
    T.CustomScalarsLayoutCallback().on_fit_start(trainer, None)
    logger.finalize("success")
    assert "Training" in T.read_custom_scalars_layout(tmp_path / "model=densenet")


def _capture_script():
    """docs/screenshots/capture.py, loaded as a module (it is a script, not part of the package)."""
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "capture.py"
    spec = importlib.util.spec_from_file_location("capture_screenshots", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_capture_check_knows_tensorboards_default_outlier_scaling():
    """TensorBoard's default "Ignore outliers" keeps values between the 5th and 95th percentile:
    two points keep none (the chart falls back to 0..1), so a two-epoch series of Wh draws nothing."""
    capture = _capture_script()
    assert capture.y_range_at_defaults([1.68, 2.88]) is None
    assert capture.y_range_at_defaults([1.0, 2.0, 3.0]) == (2.0, 2.0)
    assert capture.y_range_at_defaults([114.9, 114.9]) == (114.9, 114.9)
    assert capture.runs_off_scale({"a": [1.68, 2.88]}) == ["a"]  # one run, two points: off its chart
    assert capture.runs_off_scale({"a": [0.2, 0.3]}) == []  # inside the 0..1 fallback
    assert capture.runs_off_scale({"a": [1.7, 2.9], "b": [1.5, 2.5]}) == []  # lines cross 1.7..2.5
    assert (
        capture.runs_off_scale({"a": [1.0, 2.0], "b": [5.0, 6.0]}) == []
    )  # range 2..5: each ends at an edge
    assert capture.runs_off_scale({"a": [1.0] * 30, "b": [5.0, 6.0]}) == ["b"]  # range 1..1: b above it
    assert capture.runs_off_scale({"a": [float(i) for i in range(32)]}) == []

"""Every energy and SCI metric reaches the loggers users run: a real MLflow file store, CSV,
TensorBoard (read back with its own EventAccumulator, HParams included), several at once;
and Lightning's monitors can use them through ``trainer.callback_metrics``."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
import torch
from fake_nvml import StepMeter, TinyModule
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger

from sci_lightning.carbon.static import lookup_static
from sci_lightning.lightning.callback import EnergyCarbonCallback
from sci_lightning.metric_names import RESULT_NAMES, path_prefix_clashes


class ValidatedModule(TinyModule):
    """TinyModule with a validation loop that logs ``val/acc`` (what the HParams row shows)."""

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        acc = (self.net(x).argmax(1) == y).float().mean()
        self.log("val/acc", acc, on_epoch=True, batch_size=y.shape[0])

    def val_dataloader(self) -> Any:
        return self.train_dataloader()


class RecordingLogger(Logger):
    """Records every metric name and its last value, as the callback sent them."""

    def __init__(self) -> None:
        super().__init__()
        self.last: dict[str, float] = {}
        self.params: dict[str, Any] = {}

    @property
    def name(self) -> str:
        return "recording"

    @property
    def version(self) -> str:
        return "0"

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        self.last.update({k: float(v) for k, v in metrics.items()})

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        self.params.update(dict(params) if isinstance(params, dict) else vars(params))


def _callback(out: Path) -> EnergyCarbonCallback:
    meters = [StepMeter("gpu", "GPU-a", 40.0), StepMeter("cpu", "host", 4.0, "cpu_time_tdp_estimate")]
    return EnergyCarbonCallback(
        meters=meters, output_dir=str(out), log_every_n_steps=3, carbon={"provider": "static", "region": "FR"}
    )


def _fit(
    tmp_path: Path, loggers: list[Any], callbacks: tuple = (), **kw: Any
) -> tuple[Trainer, EnergyCarbonCallback]:
    energy = _callback(tmp_path / "run")
    trainer = Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=2,
        default_root_dir=str(tmp_path),
        callbacks=[energy, *callbacks],
        logger=loggers,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=bool(callbacks),
        log_every_n_steps=3,
        **kw,
    )
    trainer.fit(ValidatedModule(n=64, batch_size=8))
    return trainer, energy


def _ours(names: Any) -> set[str]:
    return {n for n in names if n.split("/")[0] in ("energy", "sci", "results")}


def test_names_are_never_a_folder_of_another():
    assert path_prefix_clashes(["energy/power_w", "energy/power_w/cpu", "sci/score"]) == [
        ("energy/power_w", "energy/power_w/cpu")
    ]
    assert (
        path_prefix_clashes(
            [
                "energy/power_w/total",
                "energy/power_w/cpu",
                "energy/fit/gpu_kwh",
                "energy/fit/gpu/nvml_counter_kwh",
            ]
        )
        == []
    )


@pytest.mark.slow
def test_mlflow_csv_and_tensorboard_at_once_hold_every_metric(tmp_path, monkeypatch):
    # the file store, where a name that is another's folder failed ("Is a directory"); MLflow 3
    # keeps it behind this switch (a database store holds the same metrics)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    mlflow_loggers = pytest.importorskip("lightning.pytorch.loggers")
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    store = f"file:{tmp_path / 'mlruns'}"
    mlflow_logger = mlflow_loggers.MLFlowLogger(experiment_name="sweep", tracking_uri=store)
    csv_logger = CSVLogger(str(tmp_path), name="csv")
    tb_logger = TensorBoardLogger(str(tmp_path), name="tb", version="", default_hp_metric=False)
    recorder = RecordingLogger()
    with pytest.warns() as seen:
        _, energy = _fit(tmp_path, [mlflow_logger, csv_logger, tb_logger, recorder])
    assert not [w for w in seen if "could not log" in str(w.message)], [str(w.message) for w in seen]
    sent = _ours(recorder.last)
    for needed in (
        "energy/power_w/total",
        "energy/power_w/gpu",
        "energy/power_w/cpu",
        "energy/batch_j",
        "energy/so_far_wh",
        "energy/epoch_j",
        "energy/fit/total_wh",
        "energy/fit/gpu_wh",
        "sci/score",
        "sci/score_mg",
        "sci/energy_wh",
        *RESULT_NAMES.values(),
    ):
        assert needed in sent, needed
    assert not path_prefix_clashes(sent)

    # MLflow's file store: every metric, with the value sent last; the report files as artifacts
    client = MlflowClient(tracking_uri=store)
    run = client.get_run(mlflow_logger.run_id)
    for name in sent:
        assert run.data.metrics.get(name) == pytest.approx(recorder.last[name]), name
    artifacts = {a.path for a in client.list_artifacts(mlflow_logger.run_id)}
    assert {"energy.json", "sci_report.json", "sci_report.md", "impact.yml"} <= artifacts
    assert run.data.params["functional_unit"] == "job" and run.data.params["intensity_source"]

    # CSV: a column for each, the last row holding the fit-end values
    with open(Path(csv_logger.log_dir) / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert sent <= set(rows[0])
    for name in sent:
        values = [float(r[name]) for r in rows if r.get(name)]
        assert values and values[-1] == pytest.approx(recorder.last[name]), name

    # TensorBoard, read back as TensorBoard reads it
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    acc = EventAccumulator(str(tmp_path / "tb"), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    from sci_lightning.metric_names import is_fit_end_total

    tb_tags = set(acc.Tags()["scalars"])
    assert {n for n in sent if not is_fit_end_total(n)} <= tb_tags
    assert not {n for n in tb_tags if is_fit_end_total(n)}  # single points: in the text and HParams instead
    assert acc.Scalars("results/sci")[-1].value == pytest.approx(energy.sci_result.sci, rel=1e-6)
    content = acc.PluginTagToContent("hparams")
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    assert {m.name.tag for m in experiment.metric_infos} == set(RESULT_NAMES.values())
    start = plugin_data_pb2.HParamsPluginData.FromString(
        content["_hparams_/session_start_info"]
    ).session_start_info
    assert start.hparams["functional_unit"].string_value == "job"
    assert start.hparams["intensity_source"].string_value == energy.sci_result.intensity_source


def test_energy_metrics_are_callback_metrics_a_checkpoint_can_monitor(tmp_path):
    """``ModelCheckpoint(monitor="energy/epoch_j")`` keeps the epoch that drew the least energy."""
    best = ModelCheckpoint(
        dirpath=str(tmp_path / "ckpt"),
        monitor="energy/epoch_j",
        mode="min",
        save_top_k=1,
        save_on_train_epoch_end=True,
        filename="least-energy-{epoch}",
    )
    trainer, energy = _fit(tmp_path, [RecordingLogger()], callbacks=(best,))
    metrics = trainer.callback_metrics
    for name in (
        "energy/epoch_j",
        "energy/power_w/total",
        "energy/so_far_kwh",
        "energy/fit/total_kwh",
        "sci/score",
        "results/sci",
    ):
        assert name in metrics, name
    assert best.best_model_score is not None and Path(best.best_model_path).is_file()
    # the StepMeters draw the same joules per read, so both epochs tie within a read; the best is the minimum seen
    assert float(best.best_model_score) <= float(metrics["energy/epoch_j"]) + 1e-9
    assert float(metrics["energy/fit/total_kwh"]) == pytest.approx(energy.result.energy_kwh)
    assert isinstance(metrics["sci/score"], torch.Tensor)


def test_report_files_are_copied_into_the_wandb_run_not_symlinked(tmp_path):
    """W&B's own ``run.save`` symlinks a file from outside its files folder; the report files are copied
    into ``run.dir`` first, so the run holds the files (W&B is not installed here: its run's two
    members the code uses, ``dir`` and ``save``, stand in)."""
    from sci_lightning.sci.loggers import log_artifacts

    files_dir = tmp_path / "wandb" / "files"
    files_dir.mkdir(parents=True)
    saved = []

    class Run:
        dir = str(files_dir)

        def save(self, path, base_path=None, policy="live"):
            saved.append((path, base_path, policy))

    class WandbLogger:  # the type name is what log_artifacts dispatches on
        experiment = Run()

    report = tmp_path / "run" / "sci_report.json"
    report.parent.mkdir()
    report.write_text('{"sci": 1}')
    assert log_artifacts(WandbLogger(), [str(report)]) == [str(report)]
    copy = files_dir / "sci_report.json"
    assert copy.is_file() and not copy.is_symlink() and copy.read_text() == '{"sci": 1}'
    assert saved == [(str(copy), str(files_dir), "now")]


def test_running_series_carry_the_carbon_story_as_lines(tmp_path):
    """RunningSciSeries: emissions, SCI so far and projected SCI at the per-step rate (beside
    ``energy/so_far_wh``) and after each epoch, read back with TensorBoard's own reader; the
    HParams metrics' last point is the report's figure."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from sci_lightning.lightning.running_series import RunningSciSeries

    energy = _callback(tmp_path / "out")
    tb = TensorBoardLogger(str(tmp_path), name="tb", version="", default_hp_metric=False)
    trainer = Trainer(
        accelerator="cpu",
        devices=1,
        default_root_dir=str(tmp_path),
        max_epochs=3,
        callbacks=[energy, RunningSciSeries({"functional_unit": "epoch"})],
        logger=[tb],
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        log_every_n_steps=1,
    )
    trainer.fit(ValidatedModule(n=32, batch_size=8))  # 4 batches per epoch, 12 in all
    acc = EventAccumulator(str(tmp_path / "tb"), size_guidance={"scalars": 0})
    acc.Reload()
    tags = acc.Tags()["scalars"]
    short = {t: len(acc.Scalars(t)) for t in tags if len(acc.Scalars(t)) < 2}
    assert not short, short
    # the energy callback's rate (3): batches 1, 3, 6, 9 (12 ends its epoch) and the 3 epoch ends
    so_far = [e.value for e in acc.Scalars("sci/so_far/operational_mg")]
    assert len(so_far) == 7 and so_far == sorted(so_far) and so_far[0] > 0  # emissions only grow
    steps = [e.step for e in acc.Scalars("sci/so_far/operational_mg")]
    assert steps == sorted(steps), steps  # an epoch's end and the next batch share a step, as in Lightning
    intensity = acc.Scalars("sci/so_far/intensity_g_per_kwh")[-1].value
    assert intensity == pytest.approx(lookup_static("FR").g_per_kwh)  # the static table's FR value
    energy_wh = [e.value for e in acc.Scalars("results/energy_wh")]
    assert len(energy_wh) == 8 and energy_wh[-1] == pytest.approx(energy.result.energy_kwh * 1000.0)
    per_epoch = [e.value for e in acc.Scalars("sci/so_far/sci_mg")]
    assert per_epoch[0] == pytest.approx(so_far[0] * 4)  # R = 1/4 epoch after the first batch
    assert per_epoch[2] == pytest.approx(so_far[2])  # R = 1 after the first epoch
    assert per_epoch[-1] == pytest.approx(so_far[-1] / 3)
    projected = acc.Scalars("sci/projected/sci_mg")[-1].value
    assert projected == pytest.approx(so_far[-1] / 3, rel=1e-6)  # after the last epoch nothing is left
    assert acc.Scalars("results/sci")[-1].value == pytest.approx(energy.sci_result.sci, rel=1e-6)
    val_acc = acc.Scalars("results/val_acc")
    assert len(val_acc) >= 3 and val_acc[0].step > steps[0]  # from the first validation on

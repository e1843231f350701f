"""Where the callback's figures go (sci_lightning.lightning.publish): ``trainer.callback_metrics`` and the
Trainer's loggers (TensorBoard without the fit-end totals; a failing logger warns once per class), and
the run's HParams-table results (:func:`run_results`)."""

from __future__ import annotations

import warnings
from datetime import datetime, timedelta, timezone

import pytest
import torch
from fake_nvml import TinyModule
from lightning.pytorch import Trainer
from lightning.pytorch.loggers import Logger, TensorBoardLogger

from sci_lightning.carbon.base import IntensityPoint, IntensitySeries
from sci_lightning.energy.base import ComponentEnergy, EnergyInterval, EnergyResult
from sci_lightning.lightning import publish as P
from sci_lightning.metric_names import RESULT_NAMES
from sci_lightning.sci.compute import compute_sci
from sci_lightning.settings import SciConfig

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


class RecordingLogger(Logger):
    """A Lightning logger that keeps what it was sent."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.logged: list[tuple[dict[str, float], int | None]] = []
        self.fail = fail

    @property
    def name(self) -> str:
        return "recording"

    @property
    def version(self) -> int:
        return 0

    def log_hyperparams(self, params, *args, **kwargs) -> None:
        pass

    def log_metrics(self, metrics, step=None) -> None:
        if self.fail:
            raise RuntimeError("logger down")
        self.logged.append((dict(metrics), step))


class FailingLogger(RecordingLogger):
    def __init__(self) -> None:
        super().__init__(fail=True)


def _trainer(tmp_path, loggers) -> Trainer:
    return Trainer(
        accelerator="cpu",
        logger=loggers,
        default_root_dir=str(tmp_path),
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )


def test_metrics_reach_callback_metrics_and_every_logger(tmp_path):
    rec = RecordingLogger()
    trainer = _trainer(tmp_path, [rec])
    P.publish(trainer, {"energy/epoch_j": 12.5, "sci/score": 3.0, "energy/power_w/gpu": None}, step=7)
    assert rec.logged == [({"energy/epoch_j": 12.5, "sci/score": 3.0}, 7)]  # None values left out
    assert trainer.callback_metrics["energy/epoch_j"] == torch.tensor(12.5)
    assert "energy/power_w/gpu" not in trainer.callback_metrics
    P.publish(trainer, {"energy/epoch_j": 1.0})  # step defaults to the global step
    assert rec.logged[-1] == ({"energy/epoch_j": 1.0}, trainer.global_step)
    P.publish(trainer, {"energy/epoch_j": 2.0}, to_loggers=False)
    assert len(rec.logged) == 2 and float(trainer.callback_metrics["energy/epoch_j"]) == 2.0


def test_tensorboard_gets_no_fit_end_totals(tmp_path):
    tb = TensorBoardLogger(tmp_path, name="tb")
    sent: list[dict[str, float]] = []
    tb.log_metrics = lambda metrics, step=None: sent.append(dict(metrics))  # type: ignore[method-assign]
    rec = RecordingLogger()
    trainer = _trainer(tmp_path, [tb, rec])
    P.publish(trainer, {"energy/fit/energy_j": 9.0, "sci/score": 1.0, "sci/so_far/score": 0.5})
    assert sent == [{"sci/so_far/score": 0.5}]
    assert rec.logged[0][0] == {"energy/fit/energy_j": 9.0, "sci/score": 1.0, "sci/so_far/score": 0.5}
    P.publish(trainer, {"sci/score": 2.0})  # only totals: TensorBoard is not called at all
    assert len(sent) == 1 and len(rec.logged) == 2
    assert P.is_tensorboard(tb) and not P.is_tensorboard(rec)

    class Renamed(TensorBoardLogger):
        pass

    assert P.is_tensorboard(Renamed(tmp_path))


def test_a_failing_logger_warns_once_and_the_others_still_log(tmp_path, monkeypatch):
    monkeypatch.setattr(P, "_ONCE", P.WarnOnce())
    rec = RecordingLogger()
    trainer = _trainer(tmp_path, [FailingLogger(), rec])
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        P.publish(trainer, {"energy/epoch_j": 1.0})
        P.publish(trainer, {"energy/epoch_j": 2.0})
    messages = [str(w.message) for w in seen if "could not log" in str(w.message)]
    assert messages == ["could not log energy metrics to FailingLogger: RuntimeError('logger down')"]
    assert [m for m, _ in rec.logged] == [{"energy/epoch_j": 1.0}, {"energy/epoch_j": 2.0}]


def _energy_and_sci():
    energy = EnergyResult(
        started_at=T0,
        ended_at=T0 + timedelta(minutes=30),
        duration_s=1800,
        components=[ComponentEnergy("gpu", "g", 3.6e6, "nvml_energy_counter", "measured")],
        timeline=[EnergyInterval(T0, T0 + timedelta(minutes=30), 3.6e6)],
        epochs=2,
        images=4000,
    )
    series = IntensitySeries(
        [IntensityPoint(T0, T0 + timedelta(hours=1), 200.0)], "s", "DE", "average", "measured"
    )
    return energy, compute_sci(energy, series, SciConfig(functional_unit="epoch"))


class HparamsModule(TinyModule):
    def __init__(self, lr: float = 0.1, layers: tuple = (32, 4), name: str = "mlp") -> None:
        super().__init__()
        self.save_hyperparameters()


def test_run_results_by_hand(tmp_path):
    energy, sci = _energy_and_sci()
    trainer = _trainer(tmp_path, False)
    trainer.callback_metrics["val/acc"] = torch.tensor(0.25)
    meta = {"settings": {"dataset": "synthetic", "lr": 0.5}}
    params, results = P.run_results(trainer, HparamsModule(layers=[32, 4]), energy, sci, meta)
    # the module's scalar hyperparameters (not lists or dicts), then the app's settings (which win)
    assert params == {
        "lr": 0.5,
        "name": "mlp",
        "dataset": "synthetic",
        "functional_unit": "epoch",
        "intensity_source": "s",
    }
    assert results[RESULT_NAMES["val_acc"]] == 0.25
    assert results[RESULT_NAMES["energy_wh"]] == pytest.approx(1000.0)  # 1 kWh
    assert results[RESULT_NAMES["fit_time_s"]] == 1800
    assert results[RESULT_NAMES["emissions_mg"]] == pytest.approx(200.0 * 1000)  # 200 g, no embodied
    assert results[RESULT_NAMES["sci"]] == pytest.approx(100.0)  # per epoch, 2 epochs
    assert set(results) == set(RESULT_NAMES.values())


def test_run_results_without_an_sci_or_an_accuracy(tmp_path):
    energy, _ = _energy_and_sci()
    trainer = _trainer(tmp_path, False)
    trainer.callback_metrics["val/acc"] = "n/a"  # type: ignore[assignment]  # not a number: no figure
    params, results = P.run_results(trainer, TinyModule(), energy, None, {})
    assert params == {}
    assert results[RESULT_NAMES["val_acc"]] is None and results[RESULT_NAMES["sci"]] is None
    assert results[RESULT_NAMES["emissions_mg"]] is None and results[RESULT_NAMES["cost_usd"]] is None
    assert results[RESULT_NAMES["energy_wh"]] == pytest.approx(1000.0)

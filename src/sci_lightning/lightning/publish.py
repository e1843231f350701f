"""Where the energy callback's figures go: the Trainer's loggers and ``trainer.callback_metrics``.

:func:`publish` sends a dict of metrics to every logger (rank 0; a failing logger warns
once) and puts them in ``trainer.callback_metrics`` on every rank, so Lightning's monitors
(``ModelCheckpoint(monitor="energy/epoch_j")``, ``EarlyStopping``) and code after ``fit``
can read them. :func:`run_results` gathers the run's settings and final results for the
HParams table (:func:`sci_lightning.sci.loggers.log_run_results`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch
from lightning.pytorch.utilities import rank_zero_warn

from sci_lightning.metric_names import RESULT_NAMES, is_fit_end_total
from sci_lightning.warn_once import WarnOnce

if TYPE_CHECKING:
    from lightning.pytorch import LightningModule, Trainer
    from lightning.pytorch.loggers import Logger

    from sci_lightning.energy.base import EnergyResult
    from sci_lightning.sci.compute import SciResult

__all__ = ["publish", "run_results"]

_ONCE = WarnOnce()  # one warning per logger class


def publish(
    trainer: Trainer, metrics: Mapping[str, float | None], to_loggers: bool = True, step: int | None = None
) -> None:
    """Make ``metrics`` ``trainer.callback_metrics`` and (``to_loggers``) log them at ``step``
    (default ``trainer.global_step``). ``None`` values are left out. TensorBoard loggers do not get the
    fit-end totals (:func:`~sci_lightning.metric_names.is_fit_end_total`): one point is no
    chart; they are in its Text summary and HParams table."""
    metrics = {key: float(value) for key, value in metrics.items() if value is not None}
    for key, value in metrics.items():
        trainer.callback_metrics[key] = torch.tensor(value)
    if not to_loggers or not trainer.is_global_zero:
        return
    for logger in trainer.loggers:
        sent = (
            {k: v for k, v in metrics.items() if not is_fit_end_total(k)}
            if is_tensorboard(logger)
            else metrics
        )
        if not sent:
            continue
        try:
            logger.log_metrics(sent, step=trainer.global_step if step is None else step)
        except Exception as err:
            name = type(logger).__name__
            if _ONCE.first(name):
                rank_zero_warn(f"could not log energy metrics to {name}: {err!r}")


def is_tensorboard(logger: Logger) -> bool:
    """A TensorBoard logger (Lightning's, or one of that name)."""
    return any(cls.__name__ == "TensorBoardLogger" for cls in type(logger).__mro__)


def _float_metric(trainer: Trainer, key: str) -> float | None:
    value = trainer.callback_metrics.get(key)
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _params(pl_module: LightningModule, report_meta: dict[str, Any], sci_result: Any) -> dict[str, Any]:
    """The model's hyperparameters, the app's comparable settings and how the SCI was scored."""
    hparams = getattr(pl_module, "hparams", None)
    params: dict[str, Any] = {k: v for k, v in dict(hparams or {}).items() if not isinstance(v, (dict, list))}
    params.update(report_meta.get("settings") or {})
    if sci_result is not None:
        params["functional_unit"] = sci_result.functional_unit
        params["intensity_source"] = sci_result.intensity_source
    return params


def run_results(
    trainer: Trainer,
    pl_module: LightningModule,
    energy: EnergyResult,
    sci_result: SciResult | None,
    report_meta: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, float | None]]:
    """``(params, results)`` of the finished run, results keyed by :data:`RESULT_NAMES`."""
    results: dict[str, float | None] = {
        RESULT_NAMES["val_acc"]: _float_metric(trainer, "val/acc"),
        RESULT_NAMES["energy_wh"]: energy.energy_kwh * 1000.0,
        RESULT_NAMES["fit_time_s"]: energy.duration_s,
        RESULT_NAMES["emissions_mg"]: None,
        RESULT_NAMES["sci"]: None,
        RESULT_NAMES["cost_usd"]: None,
    }
    if sci_result is not None:
        results[RESULT_NAMES["emissions_mg"]] = (sci_result.operational_g + sci_result.embodied_g) * 1000.0
        results[RESULT_NAMES["sci"]] = sci_result.sci
        results[RESULT_NAMES["cost_usd"]] = sci_result.cost_usd
    return _params(pl_module, report_meta, sci_result), results

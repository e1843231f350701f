"""What the SCI step sends to Lightning loggers (TensorBoard, CSV, MLflow, W&B, any ``log_metrics`` logger).

- :func:`log_to_logger`: the ``sci/*`` scalars (names in :mod:`sci_lightning.metric_names`)
  and, for loggers that show text (TensorBoard), the summary table.
- :func:`log_run_results`: the run's settings and final results as hyperparameters, so
  TensorBoard's HParams tab (or MLflow's run table) shows a sweep as one sortable table.
- :func:`log_artifacts`: the report files, to loggers that store files (MLflow, W&B).

A failing logger only warns, once per logger type and kind of record; nothing here raises.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sci_lightning.metric_names import sci_metrics
from sci_lightning.sci.compute import SciResult
from sci_lightning.sci.markdown import summary_markdown
from sci_lightning.warn_once import WarnOnce

if TYPE_CHECKING:
    from lightning.pytorch.loggers import Logger

    #: One Lightning logger, several (``list(trainer.loggers)``) or none.
    Loggers = Logger | list[Logger] | tuple[Logger, ...] | None

__all__ = ["log_artifacts", "log_run_results", "log_to_logger"]

#: (logger type, kind of record) pairs already warned about.
_ONCE = WarnOnce()


def _as_list(logger: Loggers) -> list[Any]:
    """The loggers one by one, duck-typed: each is told apart by what it has (``experiment``,
    its class name), as the loggers' base class declares neither."""
    if isinstance(logger, (list, tuple)):
        return list(logger)
    return [] if logger is None else [logger]


def _warn_once(logger: Any, what: str, exc: BaseException) -> None:
    kind = type(logger).__name__
    _ONCE.warn((kind, what), f"could not log {what} to {kind}: {exc!r}", RuntimeWarning, stacklevel=3)


def _tensorboard_writer(logger: Any) -> Any:
    """The SummaryWriter of a TensorBoard logger, else ``None`` (CSV, MLflow, a rank>0 dummy)."""
    experiment = getattr(logger, "experiment", None)
    if experiment is None or not callable(getattr(experiment, "add_text", None)):
        return None
    return experiment if callable(getattr(experiment, "_get_file_writer", None)) else None


def log_to_logger(logger: Loggers, result: SciResult, step: int | None = None) -> dict[str, float]:
    """Log the SCI scalars to a Lightning logger (or a list of loggers) and return them.

    Scalars: :func:`sci_lightning.metric_names.sci_metrics` via ``logger.log_metrics(metrics, step)``,
    to every logger but TensorBoard (a single fit-end point is no chart there: its HParams
    table and the text hold them). Loggers whose ``experiment`` has ``add_text`` (TensorBoard)
    get a Markdown summary under ``sci/summary``; others (CSVLogger) skip it.
    """
    metrics = sci_metrics(result)
    step = result.steps if step is None else step
    for lg in _as_list(logger):
        try:
            if (
                _tensorboard_writer(lg) is None
            ):  # TensorBoard: one point is no chart; the text and HParams hold them
                lg.log_metrics(metrics, step)
            experiment = getattr(lg, "experiment", None)
            if experiment is not None and callable(getattr(experiment, "add_text", None)):
                experiment.add_text("sci/summary", summary_markdown(result), step)
        except Exception as exc:  # never let reporting kill training
            _warn_once(lg, "SCI metrics", exc)
    return metrics


def _hparam_value(value: Any) -> int | float | str | bool:
    """A value every tracker stores as a hyperparameter (None and lists become text)."""
    if isinstance(value, (bool, int, float, str)):
        return value
    return "None" if value is None else str(value)


def log_run_results(
    logger: Loggers, params: dict[str, Any], results: dict[str, float | None], step: int
) -> None:
    """The run's settings (``params``) and final results (``results``, metric name -> value).

    The results are logged as metrics at ``step``; TensorBoard also gets the HParams
    plugin's records (written with ``torch.utils.tensorboard.summary.hparams``) naming them,
    so its HParams tab has one row per run. Other loggers get ``log_hyperparams(params)``.
    Results that are ``None`` (no validation ran, no SCI) are left out.
    """
    clean_params = {key: _hparam_value(value) for key, value in params.items()}
    clean_results = {key: float(value) for key, value in results.items() if value is not None}
    for lg in _as_list(logger):
        try:
            lg.log_metrics(clean_results, step)
            writer = _tensorboard_writer(lg)
            if writer is not None:
                _write_tensorboard_hparams(writer, clean_params, clean_results)
            else:
                lg.log_hyperparams(clean_params)
        except Exception as exc:
            _warn_once(lg, "run results", exc)


def _write_tensorboard_hparams(writer: Any, params: dict[str, Any], results: dict[str, float]) -> None:
    """The three HParams plugin summaries (experiment, session start, session end) in this run.

    Written directly rather than through ``TensorBoardLogger.log_hyperparams``, which would
    also log every result a second time at step 0.
    """
    from torch.utils.tensorboard.summary import hparams

    file_writer = writer._get_file_writer()
    for summary in hparams(params, results):
        file_writer.add_summary(summary)
    writer.flush()


def log_artifacts(logger: Loggers, paths: Iterable[str]) -> list[str]:
    """Send the files in ``paths`` that exist to every logger that stores files; return them.

    MLflow (``MLFlowLogger``): ``MlflowClient.log_artifact(run_id, path)``. W&B
    (``WandbLogger``): the file is *copied* into the run's files folder (``run.dir``) and saved
    from there (``run.save(copy, base_path=run.dir, policy="now")``), so the W&B run holds the
    file itself, not a symlink to a folder that may be gone when it syncs (and W&B prints no
    "Symlinked" note). Other loggers are skipped.
    """
    files = [p for p in paths if p and os.path.isfile(p)]
    for lg in _as_list(logger):
        kind = type(lg).__name__
        if kind not in ("MLFlowLogger", "WandbLogger"):
            continue
        try:
            for path in files:
                if kind == "MLFlowLogger":
                    lg.experiment.log_artifact(lg.run_id, path)
                else:
                    _save_copy_to_wandb(lg.experiment, path)
        except Exception as exc:
            _warn_once(lg, "report files", exc)
    return files


def _save_copy_to_wandb(run: Any, path: str) -> None:
    """Copy ``path`` into the W&B run's files folder and save the copy (no symlink)."""
    import shutil

    files_dir = getattr(run, "dir", None)
    if not files_dir:
        run.save(path, base_path=os.path.dirname(path), policy="now")
        return
    target = os.path.join(files_dir, os.path.basename(path))
    if os.path.abspath(target) != os.path.abspath(path):
        shutil.copyfile(path, target)
    run.save(target, base_path=files_dir, policy="now")

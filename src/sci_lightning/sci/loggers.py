"""The SCI headline sent to Lightning loggers (TensorBoard, CSV, any ``log_metrics`` logger).

:func:`log_to_logger` logs the ``sci/*`` scalars and, for loggers that can show text
(TensorBoard), the :func:`~sci_lightning.sci.markdown.summary_markdown` table.
"""

from __future__ import annotations

import warnings
from typing import Any

from sci_lightning.sci.compute import SciResult
from sci_lightning.sci.markdown import summary_markdown

__all__ = ["log_to_logger"]

_warned_loggers: set[str] = set()


def log_to_logger(logger: Any, result: SciResult, step: int | None = None) -> dict[str, float]:
    """Log the SCI scalars to a Lightning logger (or a list of loggers) and return them.

    Scalars: ``sci/score``, ``sci/operational_g``, ``sci/embodied_g``, ``sci/energy_kwh``,
    ``sci/intensity_g_per_kwh``, ``sci/cost_usd`` via ``logger.log_metrics(metrics, step)``.
    Loggers whose ``experiment`` has ``add_text`` (TensorBoard) also get a Markdown summary
    under ``sci/summary``; others (CSVLogger) skip it. A failing logger only warns (once).
    """
    metrics = {
        "sci/score": float(result.sci),
        "sci/operational_g": float(result.operational_g),
        "sci/embodied_g": float(result.embodied_g),
        "sci/energy_kwh": float(result.energy_kwh),
        "sci/intensity_g_per_kwh": float(result.mean_intensity_g_per_kwh),
        "sci/cost_usd": float(result.cost_usd),
    }
    step = result.steps if step is None else step
    loggers = logger if isinstance(logger, (list, tuple)) else ([] if logger is None else [logger])
    for lg in loggers:
        name = type(lg).__name__
        try:
            lg.log_metrics(metrics, step)
            experiment = getattr(lg, "experiment", None)
            if experiment is not None and callable(getattr(experiment, "add_text", None)):
                experiment.add_text("sci/summary", summary_markdown(result), step)
        except Exception as exc:  # never let reporting kill training
            if name not in _warned_loggers:
                _warned_loggers.add(name)
                warnings.warn(f"could not log SCI metrics to {name}: {exc!r}", RuntimeWarning, stacklevel=2)
    return metrics

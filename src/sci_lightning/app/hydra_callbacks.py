"""Hydra callbacks: the model comparison written at the end of a multirun.

Registered in the primary config::

    hydra:
      callbacks:
        comparison:
          _target_: sci_lightning.app.hydra_callbacks.ComparisonCallback
          baseline: null      # or e.g. densenet; compare.baseline in the job config wins when set

Then ``python -m sci_lightning -m model=inception,densenet compare.baseline=densenet``
leaves ``comparison.md``, ``comparison.json``, ``comparison.csv`` and the
``comparison*.png`` charts in the sweep folder and prints the table.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from sci_lightning.compare import build_comparison, collect_jobs, write_comparison
from sci_lightning.compare.records import (
    FAILURE_FILES,
    JOB_STATUS_FILE,
    failure_reason,
)
from sci_lightning.compare.records import (
    one_line as _one_line,
)
from sci_lightning.compare.tables import text_summary
from sci_lightning.errors import ConfigError
from sci_lightning.fileio import atomic_write_text as _atomic_write_text
from sci_lightning.redaction import redact

if TYPE_CHECKING:
    from hydra.core.utils import JobReturn

log = logging.getLogger(__name__)


#: The failed jobs of the last sweep that ended in this process (``python -m sci_lightning``
#: exits non-zero when it is not empty). Read from the job folders, so it holds under every
#: launcher (basic, joblib, submitit), whichever process ran the jobs.
FAILED_JOBS: list[str] = []


def failed_jobs(sweep_dir: Path) -> list[str]:
    """``"<job folder>: <reason>"`` for every job of ``sweep_dir`` that left a failure file."""
    out = []
    for job_dir in sorted(p for p in sweep_dir.iterdir() if p.is_dir()):
        if any((job_dir / name).is_file() for name in FAILURE_FILES):
            out.append(f"{job_dir.name}: {failure_reason(job_dir) or 'failed'}")
    return out


def _select(config: DictConfig, key: str) -> Any:
    """``OmegaConf.select`` that returns None instead of raising on a broken interpolation."""
    try:
        return OmegaConf.select(config, key, default=None)
    except Exception:
        return None


class ComparisonCallback(Callback):
    """Compares every job of a multirun from its ``sci_report.json``.

    What it does:

    * ``on_multirun_start``: remembers the sweep folder (``hydra.sweep.dir``).
    * ``on_job_end``: if the job raised, writes ``job_status.json`` (status, exception
      type and redacted message) into the job folder, so the comparison can say why.
      Hydra's basic sweeper re-raises a failed job's exception after the batch and then
      skips ``on_multirun_end``; so once a job of the sweep has failed, the comparison is
      refreshed after every job end, and the last one leaves a complete table.
    * ``on_multirun_end``: writes ``comparison.md/.json/.csv`` and the charts into the
      sweep folder and prints the table.

    Nothing here stops the sweep: every error is logged as a warning.

    Args:
        baseline: model config name (``densenet``), timm name (``densenet121``) or part
            of a run name (``model=densenet``) of the baseline job. ``compare.baseline``
            in the composed config wins when it is set. ``None``: the first job.
        charts: write the PNG bar charts (``compare.charts`` in the config wins when set).
        enabled: set False to turn the comparison off (or ``compare.enabled=false``).
        print_table: print the table at the end of the sweep.

    Example::

        python -m sci_lightning -m model=inception,densenet compare.baseline=densenet
    """

    def __init__(
        self, baseline: str | None = None, charts: bool = True, enabled: bool = True, print_table: bool = True
    ) -> None:
        self.baseline = baseline
        self.charts = charts
        self.enabled = enabled
        self.print_table = print_table
        self._sweep_dir: Path | None = None
        self._failure_seen = False

    # ---------------------------------------------------------------- settings

    def _setting(self, config: DictConfig, name: str, default: Any) -> Any:
        value = _select(config, f"compare.{name}")
        return default if value is None else value

    def _sweep_dir_of(self, config: DictConfig) -> Path | None:
        d = _select(config, "hydra.sweep.dir")
        if d is None:
            return self._sweep_dir
        return Path(str(d)).absolute()

    # ---------------------------------------------------------------- hooks

    def on_multirun_start(self, config: DictConfig, **kwargs: object) -> None:
        """Remember the sweep folder (``${now:}`` resolves once; this pins it)."""
        self._sweep_dir = self._sweep_dir_of(config)
        self._failure_seen = False

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: object) -> None:
        """Record a failed job's reason in its folder; refresh the comparison after a failure."""
        try:
            status = getattr(getattr(job_return, "status", None), "name", None)
            if status != "FAILED":
                if self._failure_seen and self._is_multirun(config):
                    self._refresh(config, final=False)
                return
            self._failure_seen = True
            job_dir = _select(config, "hydra.runtime.output_dir")
            exc = getattr(job_return, "_return_value", None)
            if job_dir:
                record = {
                    "status": "failed",
                    "error_type": type(exc).__name__ if isinstance(exc, BaseException) else None,
                    "error": redact(_one_line(str(exc), 500)) if exc is not None else None,
                    "overrides": list(getattr(job_return, "overrides", None) or []),
                }
                path = Path(str(job_dir)) / JOB_STATUS_FILE
                path.parent.mkdir(parents=True, exist_ok=True)
                _atomic_write_text(path, json.dumps(record, indent=2) + "\n")
            if self._is_multirun(config):
                self._refresh(config, final=False)
        except Exception as e:  # never let the comparison break a job
            log.warning("Comparison: could not record the job's status (%s: %s).", type(e).__name__, e)

    def on_multirun_end(self, config: DictConfig, **kwargs: object) -> None:
        """Write the comparison files into the sweep folder and print the table; remember
        the failed jobs (read from the files they wrote) for the exit status."""
        self._refresh(config, final=True)
        sweep_dir = self._sweep_dir or self._sweep_dir_of(config)
        if sweep_dir is not None and sweep_dir.is_dir():
            FAILED_JOBS[:] = failed_jobs(sweep_dir)

    # ---------------------------------------------------------------- work

    @staticmethod
    def _is_multirun(config: DictConfig) -> bool:
        mode = _select(config, "hydra.mode")
        return str(getattr(mode, "name", mode)) == "MULTIRUN"

    def _refresh(self, config: DictConfig, final: bool) -> dict[str, Path] | None:
        if not bool(self._setting(config, "enabled", self.enabled)):
            return None
        sweep_dir = self._sweep_dir or self._sweep_dir_of(config)
        if sweep_dir is None:
            log.warning("Comparison skipped: hydra.sweep.dir is not set.")
            return None
        if not sweep_dir.is_dir():
            log.warning("Comparison skipped: sweep folder %s does not exist (no job ran?).", sweep_dir)
            return None
        baseline = self._setting(config, "baseline", self.baseline)
        charts = bool(self._setting(config, "charts", self.charts))
        try:
            jobs = collect_jobs([sweep_dir])
        except ConfigError as e:
            log.warning("Comparison skipped: %s", e)
            return None
        try:
            comp = build_comparison(jobs, baseline=baseline)
        except ConfigError as e:
            log.warning("%s Comparing against the first job instead.", e)
            comp = build_comparison(jobs, baseline=None)
        try:
            written = write_comparison(comp, sweep_dir, charts=charts, source=str(sweep_dir))
        except OSError as e:
            log.warning("Comparison not written to %s: %s", sweep_dir, e)
            return None
        if final and self.print_table:
            print(f"\nModel comparison ({sweep_dir}):\n\n{text_summary(comp)}\n", flush=True)
        log.info("Comparison written: %s", ", ".join(str(p) for p in written.values()))
        return written

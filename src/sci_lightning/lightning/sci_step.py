"""The carbon/SCI step of :class:`~sci_lightning.lightning.callback.EnergyCarbonCallback` (rank 0, fit end).

Fetches the grid intensity over the run, falling back to the static table through one
:class:`~sci_lightning.carbon.chain.FallbackProvider` (which warns once and records the
fallback), computes the SCI, writes ``sci_report.json`` / ``.md`` / ``impact.yml`` and
logs the ``sci/*`` scalars.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from typing_extensions import override

from sci_lightning.carbon.base import IntensityPoint, IntensityProvider, IntensitySeries, ProviderError
from sci_lightning.carbon.chain import FallbackProvider
from sci_lightning.carbon.static import StaticProvider
from sci_lightning.energy import EnergyResult
from sci_lightning.redaction import redact
from sci_lightning.settings import CarbonConfig, SciConfig

if TYPE_CHECKING:
    from lightning.pytorch import LightningModule, Trainer

    from sci_lightning.sci.compute import SciResult
    from sci_lightning.sci.report import SciReport
    from sci_lightning.sci.work import WorkCounts

__all__ = ["run_sci_step", "stage_intensity"]


class _Guarded(IntensityProvider):
    """A provider whose every failure is a redacted :class:`ProviderError` (so the chain falls back on it)."""

    def __init__(self, inner: IntensityProvider) -> None:
        self.inner = inner
        self.name = getattr(inner, "name", type(inner).__name__)
        self.region = getattr(inner, "region", "") or ""
        self.signal_type = getattr(inner, "signal_type", "average")

    def _call(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except ProviderError as err:
            err.args = (redact(str(err)),)  # the chain quotes the reason in its warning and record
            raise
        except Exception as err:
            raise ProviderError(self.name, redact(f"{type(err).__name__}: {err}")) from err

    @override
    def history(self, start: datetime, end: datetime) -> IntensitySeries:
        return self._call(lambda: self.inner.history(start, end))

    @override
    def forecast(
        self, start: datetime | None = None, horizon: timedelta = timedelta(hours=24)
    ) -> IntensitySeries:
        return self._call(lambda: self.inner.forecast(start, horizon))

    @override
    def current(self) -> IntensityPoint:
        return self._call(self.inner.current)


def _static_last(provider: IntensityProvider, carbon: object) -> FallbackProvider:
    """``provider`` (its chain flattened) followed by the static table for its region (and
    ``carbon``'s ``static_g_per_kwh`` when ``carbon`` is a CarbonConfig; the callback may hold a provider)."""
    chain = list(provider.providers) if isinstance(provider, FallbackProvider) else [provider]
    if not isinstance(chain[-1], StaticProvider):
        cfg = carbon if isinstance(carbon, CarbonConfig) else None
        region = getattr(provider, "region", None) or (cfg.region if cfg else "world")
        chain.append(StaticProvider(region, g_per_kwh=cfg.static_g_per_kwh if cfg else None))
    guarded = [p if isinstance(p, StaticProvider) else _Guarded(p) for p in chain]
    return FallbackProvider(guarded, cooldown_s=0.0)


def intensity_over(
    provider: IntensityProvider, carbon: object, result: EnergyResult
) -> tuple[IntensitySeries, list[dict[str, Any]]]:
    """The intensity over the run and every fallback recorded (the provider's earlier ones first)."""
    chain = _static_last(provider, carbon)
    series = chain.history(result.started_at, result.ended_at)
    earlier = list(getattr(provider, "fallbacks_used", None) or [])
    return series, earlier + chain.fallbacks_used


def stage_intensity(
    provider: IntensityProvider,
    carbon: object,
    sci: SciConfig,
    started_at: datetime,
    ended_at: datetime,
) -> tuple[float, str]:
    """The grid intensity over one stage's window (the fit's provider and static fallback) and
    where it came from, in words: ``(g_per_kwh, source)``."""
    from sci_lightning.sci.inference import window_intensity_g_per_kwh

    chain = _static_last(provider, carbon)
    series = chain.history(started_at, ended_at)
    g_per_kwh, fill = window_intensity_g_per_kwh(
        series.points, started_at, ended_at, sci.default_intensity_g_per_kwh
    )
    source = (
        f"{series.source} ({series.kind}, {series.signal_type} signal) for {series.region or 'its region'}, "
        f"time-weighted over the stage's window {started_at.isoformat()} to {ended_at.isoformat()}"
    )
    if fill:
        source += f"; seconds no point covered took the {fill} value"
    for f in chain.fallbacks_used:
        source += f"; {f.get('provider')} failed ({f.get('reason')}), replaced by {f.get('replaced_by')}"
    return g_per_kwh, redact(source)


def _metric(trainer: Trainer, key: str) -> float | None:
    value = trainer.callback_metrics.get(key)
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _report_meta(trainer: Trainer, pl_module: LightningModule, extra: dict[str, Any]) -> dict[str, Any]:
    hparams = getattr(pl_module, "hparams", None)
    model = hparams.get("model_name") if isinstance(hparams, Mapping) else None
    meta: dict[str, Any] = {
        "model": model or type(pl_module).__name__,
        "val_acc": _metric(trainer, "val/acc"),
        "val_acc_top5": _metric(trainer, "val/acc_top5"),
    }
    meta.update(extra)
    slots = meta.get("slots")
    if isinstance(slots, dict) and slots.get("status") == "paused" and meta.get("status") == "completed":
        meta["status"] = (
            "paused"  # schedule=interrupt, pause=exit: the fit ended at a slot's end, work remains
        )
    return meta


def _findings(carbon_aware: Callable[[float], Any] | None, energy_kwh: float) -> Any:
    if carbon_aware is None:
        return None
    try:
        return carbon_aware(energy_kwh)
    except Exception as err:
        from lightning.pytorch.utilities import rank_zero_warn

        rank_zero_warn(f"carbon-aware findings could not be computed ({err}); left out of the report")
        return None


def run_sci_step(
    trainer: Trainer,
    pl_module: LightningModule,
    result: EnergyResult,
    *,
    provider: IntensityProvider,
    carbon: object,
    sci: SciConfig,
    out_dir: str,
    report_meta: dict[str, Any],
    carbon_aware: Callable[[float], Any] | None,
    work: WorkCounts | None = None,
) -> tuple[SciResult, SciReport]:
    """Score ``result``: intensity, SCI, report files and ``sci/*`` scalars; returns ``(sci_result, report)``.

    ``work``: the job's :class:`~sci_lightning.sci.work.WorkCounts` (from a WorkCounter), or ``None``."""
    from sci_lightning.sci import compute_sci, write_run_report
    from sci_lightning.sci.loggers import log_to_logger

    series, fallbacks = intensity_over(provider, carbon, result)
    sci_result = compute_sci(result, series, sci, fallbacks_used=fallbacks, work=work)
    meta = _report_meta(trainer, pl_module, report_meta)
    findings = _findings(carbon_aware, result.energy_kwh)
    if findings:
        meta["carbon_aware"] = findings
    report = write_run_report(out_dir, sci_result, result, meta)
    log_to_logger(list(trainer.loggers), sci_result, step=trainer.global_step)
    return sci_result, report

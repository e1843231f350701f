"""EnergyCarbonCallback: measure the energy of ``Trainer.fit`` and hand it to the SCI report."""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities.rank_zero import rank_zero_warn
from typing_extensions import override

from sci_lightning.energy import (
    EnergyConfig,
    EnergyMeter,
    EnergyResult,
    NullMeter,
    Timeline,
    build_meters,
    coerce_energy_config,
    merge_parts,
    reduce_ranks,
    validate_energy_config,
)
from sci_lightning.energy._common import hostname
from sci_lightning.energy.reduce import to_component, to_record
from sci_lightning.errors import ConfigError
from sci_lightning.fileio import atomic_write_json
from sci_lightning.redaction import redact

if TYPE_CHECKING:
    from lightning.pytorch import LightningModule, Trainer

_STATE_VERSION = 1


def _batch_size(batch: Any) -> int:
    """Samples in a batch: first dimension of the first tensor found (0 if none)."""
    for _ in range(4):
        if isinstance(batch, torch.Tensor):
            return int(batch.shape[0]) if batch.dim() else 1
        if isinstance(batch, (list, tuple)) and batch:
            batch = batch[0]
        elif isinstance(batch, dict) and batch:
            batch = next(iter(batch.values()))
        else:
            return 0
    return 0


def _metric(trainer: "Trainer", key: str) -> float | None:
    value = trainer.callback_metrics.get(key)
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _dist_ready(trainer: "Trainer") -> bool:
    return (
        getattr(trainer, "world_size", 1) > 1 and torch.distributed.is_available() and torch.distributed.is_initialized()
    )


def _gather(trainer: "Trainer", payload: Any) -> list[Any]:
    """``payload`` from every rank (all_gather_object), or ``[payload]`` when not distributed."""
    if not _dist_ready(trainer):
        return [payload]
    out: list[Any] = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(out, payload)
    return out


class EnergyCarbonCallback(Callback):
    r"""Measures the energy of ``Trainer.fit``, then scores it: grid intensity, SCI and a report.

    Each component is metered by the best available method (see
    :func:`sci_lightning.energy.build_meters`): NVML energy counter or power sampling for
    the GPUs this process trains on, RAPL or a CPU-time estimate for the CPU, an RSS
    estimate for RAM. Every figure says whether it was *measured* or *estimated* and how.

    Logged through ``trainer.loggers`` (any Lightning logger):

    - every ``log_every_n_steps`` training batches (default: the Trainer's):
      ``energy/power_w`` and ``energy/power_w/<component>`` (mean IT power since the last
      log, W), ``energy/step_j`` (mean IT energy per batch since the last log, J) and
      ``energy/total_kwh`` (energy so far, PUE applied, kWh). Under DDP these per-step
      figures are rank 0's own devices.
    - every training epoch: ``energy/epoch_j`` (IT energy of the epoch, J).
    - at fit end, the SCI (rank 0): ``sci/score``, ``sci/operational_g``,
      ``sci/embodied_g``, ``sci/energy_kwh``, ``sci/intensity_g_per_kwh``,
      ``sci/cost_usd`` and, on TensorBoard, the text ``sci/summary``; the files
      ``sci_report.json``, ``sci_report.md`` and ``impact.yml`` beside ``energy.json``.
    - at fit end (job total over all ranks and resumed parts):
      ``energy/fit/total_kwh`` (PUE applied), ``energy/fit/it_kwh``,
      ``energy/fit/<component>_kwh``, ``energy/fit/<component>/<method>_kwh``,
      ``energy/fit/duration_s``, ``energy/fit/mean_power_w``, ``energy/fit/pue``.

    The result is :attr:`result` (an :class:`~sci_lightning.energy.base.EnergyResult`) and
    ``energy.json`` in ``output_dir``, written atomically by rank 0. Under DDP, totals are
    gathered from all ranks: a GPU shared by several ranks is counted once (by UUID),
    host-level counters (RAPL) once per host, per-process estimates summed per host.

    Resume: energy, elapsed time, images, the timeline and counter baselines are saved in
    the checkpoint; a run resumed with ``ckpt_path`` reports the sum of its parts. Energy
    drawn after the last checkpoint of a killed run is not in that checkpoint and so is
    not counted.

    Measurement faults never stop training: the meter warns once, falls back to the next
    method and the result is flagged (``status="partial"``, reasons in notes/warnings).

    Args:
        energy: meter settings (:class:`~sci_lightning.energy.config.EnergyConfig`, a dict
            or an OmegaConf node); default ``EnergyConfig()``.
        meters: explicit meters to use instead of building them from ``energy``.
        output_dir: folder for ``energy.json``; default ``trainer.log_dir`` or
            ``trainer.default_root_dir``.
        carbon: where the grid intensity comes from: an
            :class:`~sci_lightning.carbon.base.IntensityProvider`, a
            :class:`~sci_lightning.carbon.config.CarbonConfig` (or dict / OmegaConf node,
            built with :func:`sci_lightning.carbon.build_provider`, fallback chain
            included), or ``None`` for the offline static table.
        sci: SCI settings (:class:`~sci_lightning.sci_config.SciConfig`: functional unit,
            embodied emissions, price per hour); default ``SciConfig()``.
        log_every_n_steps: per-step logging period in training batches; default the
            Trainer's ``log_every_n_steps``.
        compute_sci: ``False`` measures energy only (no intensity, no SCI report).
        report_meta: extra fields for ``sci_report.json`` (``model``, ``run_name``,
            ``hardware``, ``boundary``, ...).
        carbon_aware: optional ``callable(energy_kwh) -> dict`` returning the
            time-shifting findings stored as ``carbon_aware`` in the report.

    Example::

        from lightning.pytorch import Trainer
        from sci_lightning.callback import EnergyCarbonCallback

        energy = EnergyCarbonCallback(output_dir="outputs/run1")
        trainer = Trainer(max_epochs=2, callbacks=[energy])
        trainer.fit(model, datamodule=dm)
        print(energy.result.energy_kwh, [(c.component, c.method) for c in energy.result.components])
    """

    def __init__(
        self,
        energy: EnergyConfig | Any | None = None,
        meters: list[EnergyMeter] | None = None,
        output_dir: str | None = None,
        carbon: Any = None,
        sci: Any = None,
        log_every_n_steps: int | None = None,
        compute_sci: bool = True,
        report_meta: dict[str, Any] | None = None,
        carbon_aware: Any = None,
    ) -> None:
        super().__init__()
        self._energy_arg = energy
        self.energy_config: EnergyConfig | None = None
        self._user_meters = list(meters) if meters is not None else None
        self.output_dir = output_dir
        self.carbon = carbon
        self.sci = sci
        self.log_every_n_steps = log_every_n_steps
        self.compute_sci = compute_sci
        self.report_meta = dict(report_meta or {})
        self.carbon_aware = carbon_aware
        self._provider: Any = None
        #: The SCI result and the report dict (as written to sci_report.json), after ``fit``.
        self.sci_result: Any = None
        self.report: dict[str, Any] | None = None
        #: The job's :class:`EnergyResult` after ``fit`` (``None`` before).
        self.result: EnergyResult | None = None
        #: Path of the written ``energy.json`` (rank 0), after ``fit``.
        self.energy_json_path: str | None = None
        self._meters: list[EnergyMeter] = []
        self._prior: dict[str, Any] | None = None
        self._running = False
        self._log_n = 1
        self._trainer: Trainer | None = None
        self._final_state: dict[str, Any] | None = None
        self._reset_run_state()

    # ------------------------------------------------------------------ run state
    def _reset_run_state(self) -> None:
        self._meter_j: list[float] = []
        self._total_j = 0.0
        self._t0_mono = 0.0
        self._t0_wall = 0.0
        self._last_wall = 0.0
        self._batches = 0
        self._images = 0
        self._log_t = 0.0
        self._log_batches = 0
        self._log_comp_j: dict[str, float] = {}
        self._epoch_start_j = 0.0
        self._timeline = Timeline(self.energy_config.timeline_max_intervals if self.energy_config else 512)
        self._warnings: list[str] = []

    @property
    def meters(self) -> list[EnergyMeter]:
        """The meters in use (built in ``setup``)."""
        return list(self._meters)

    # ------------------------------------------------------------------ hooks
    @override
    def setup(self, trainer: "Trainer", pl_module: "LightningModule", stage: str) -> None:
        """Validate settings once and build the meters for this rank's devices."""
        if stage != "fit":
            return
        self._trainer = trainer
        cfg = coerce_energy_config(self._energy_arg)
        validate_energy_config(cfg)
        self.energy_config = cfg
        n = self.log_every_n_steps if self.log_every_n_steps is not None else trainer.log_every_n_steps
        if not isinstance(n, int) or n < 1:
            raise ConfigError(f"EnergyCarbonCallback(log_every_n_steps={n!r}) must be an integer >= 1")
        self._log_n = n
        if self.compute_sci:
            from sci_lightning.sci import validate_sci_config

            validate_sci_config(self._sci_settings)
            self._provider = self._build_provider()  # config mistakes surface here, before training
        if self._user_meters is not None:
            self._meters = list(self._user_meters)
        else:
            self._meters = build_meters(cfg, self._gpu_indices(trainer))
        if _dist_ready(trainer):
            # Other ranks can be child processes of this one (Lightning's DDP launcher):
            # each rank meters itself, so no rank counts another's CPU time as its child's.
            pids = [int(p) for p in _gather(trainer, os.getpid())]
            for m in self._meters:
                exclude = getattr(m, "exclude_pids", None)
                if exclude is not None:
                    exclude(pids)
            if cfg.enabled and cfg.gpu != "off" and trainer.strategy.root_device.type not in ("cuda", "cpu"):
                rank_zero_warn(
                    f"EnergyCarbonCallback: no energy meter for accelerator {trainer.strategy.root_device.type!r};"
                    " its energy is not measured"
                )
                self._meters.append(NullMeter("accelerator", str(trainer.strategy.root_device), "no meter for this accelerator"))

    @staticmethod
    def _gpu_indices(trainer: "Trainer") -> list[int] | None:
        dev = trainer.strategy.root_device
        if dev.type != "cuda":
            return None
        return [dev.index if dev.index is not None else torch.cuda.current_device()]

    def _sync(self, trainer: "Trainer") -> None:
        dev = trainer.strategy.root_device
        if dev.type == "cuda" and torch.cuda.is_available():
            torch.cuda.synchronize(dev)

    @override
    def on_fit_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        """Synchronize the device, start the meters, take the first reading."""
        self._trainer = trainer
        self._reset_run_state()
        self._final_state = None
        self._sync(trainer)
        started: list[EnergyMeter] = []
        for m in self._meters:
            try:
                m.start()
                started.append(m)
            except Exception as err:  # noqa: BLE001 - a meter must never stop training
                msg = f"energy meter {type(m).__name__} failed to start ({err!r}); its component is not measured"
                rank_zero_warn(msg)
                self._warnings.append(msg)
                started.append(NullMeter(getattr(m, "component", "?"), type(m).__name__, msg))
        self._meters = started
        self._meter_j = [0.0] * len(self._meters)
        self._t0_mono = self._log_t = time.perf_counter()
        self._t0_wall = self._last_wall = time.time()
        self._total_j = self._read()
        self._running = True

    def _read(self) -> float:
        """Read every meter once; returns the summed IT joules of this run part."""
        total = 0.0
        mj = self._meter_j
        for i, m in enumerate(self._meters):
            try:
                v = sum(m.read_j().values())
            except Exception as err:  # noqa: BLE001 - meters should not raise; be safe anyway
                msg = f"energy meter {type(m).__name__} raised {err!r}; keeping its last reading"
                if msg not in self._warnings:
                    rank_zero_warn(msg)
                    self._warnings.append(msg)
                v = mj[i]
            if v > mj[i]:
                mj[i] = v
            total += mj[i]
        return total

    def _advance(self) -> None:
        """Read the meters and add the energy since the last reading to the timeline."""
        now_wall = time.time()
        total = self._read()
        self._timeline.add(self._last_wall, now_wall, total - self._total_j)
        self._total_j, self._last_wall = total, now_wall

    def _component_j(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for m, j in zip(self._meters, self._meter_j):
            out[m.component] = out.get(m.component, 0.0) + j
        return out

    @override
    def on_train_batch_end(
        self, trainer: "Trainer", pl_module: "LightningModule", outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        """One reading per meter; timeline update; log every ``log_every_n_steps`` batches."""
        if not self._running:
            return
        self._advance()
        self._batches += 1
        self._images += _batch_size(batch)
        if self._batches % self._log_n == 0 and trainer.is_global_zero:
            self._log_step(trainer)

    def _log_step(self, trainer: "Trainer") -> None:
        now = time.perf_counter()
        dt = now - self._log_t
        comp = self._component_j()
        metrics: dict[str, float] = {}
        window_j = 0.0
        for name, j in comp.items():
            d = j - self._log_comp_j.get(name, 0.0)
            window_j += d
            if dt > 0:
                metrics[f"energy/power_w/{name}"] = d / dt
        if dt > 0:
            metrics["energy/power_w"] = window_j / dt
        nb = self._batches - self._log_batches
        if nb > 0:
            metrics["energy/step_j"] = window_j / nb
        metrics["energy/total_kwh"] = (self._prior_it_j() + self._total_j) * self._pue() / 3.6e6
        self._log(trainer, metrics)
        self._log_t, self._log_batches, self._log_comp_j = now, self._batches, comp

    def _log(self, trainer: "Trainer", metrics: dict[str, float]) -> None:
        for logger in trainer.loggers:
            try:
                logger.log_metrics(metrics, step=trainer.global_step)
            except Exception as err:  # noqa: BLE001 - logging must not stop training
                msg = f"could not log energy metrics to {type(logger).__name__}: {err!r}"
                if msg not in self._warnings:
                    rank_zero_warn(msg)
                    self._warnings.append(msg)

    @override
    def on_train_epoch_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        if self._running:
            self._epoch_start_j = self._total_j

    @override
    def on_train_epoch_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        """Log the epoch's IT energy (``energy/epoch_j``)."""
        if not self._running:
            return
        self._advance()
        if trainer.is_global_zero:
            self._log(trainer, {"energy/epoch_j": self._total_j - self._epoch_start_j})

    @override
    def on_fit_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        """Stop the meters, combine ranks and resumed parts, write ``energy.json``, log totals."""
        if not self._running:
            return
        self._sync(trainer)
        local = self._snapshot(final=True)
        self._running = False
        try:
            payloads = _gather(trainer, local)
        except Exception as err:  # noqa: BLE001 - report this rank's part rather than nothing
            msg = f"could not gather energy from the other ranks ({err!r}); this is rank {trainer.global_rank}'s share only"
            rank_zero_warn(msg)
            local["warnings"].append(msg)
            payloads = [local]
        current = reduce_ranks([p["records"] for p in payloads])
        prior = self._prior or {}
        records = merge_parts(prior.get("records", []), current)
        own_j = local["own_j"]
        cur_job_j = sum(r["energy_j"] for r in current)
        scale = cur_job_j / own_j if own_j > 0 else 1.0
        timeline = Timeline(self.energy_config.timeline_max_intervals if self.energy_config else 512)
        timeline.extend(prior.get("timeline", []))
        rows = local["timeline"]
        if own_j <= 0 and cur_job_j > 0:
            rows = [[local["t0_wall"], local["t1_wall"], 1.0]]
            scale = cur_job_j
        timeline.extend([[s, e, j * scale] for s, e, j in rows])
        warnings: list[str] = list(prior.get("warnings", []))
        for p in payloads:
            for w in p["warnings"]:
                if w not in warnings:
                    warnings.append(w)
        if len(payloads) > 1:
            note = "timeline shape from rank 0's devices, scaled to the job total"
            if note not in warnings:
                warnings.append(note)
        started = prior.get("started_at_ts", local["t0_wall"])
        ended = local["t1_wall"]
        result = EnergyResult(
            started_at=datetime.fromtimestamp(started, timezone.utc),
            ended_at=datetime.fromtimestamp(ended, timezone.utc),
            duration_s=float(prior.get("elapsed_s", 0.0)) + local["elapsed_s"],
            components=[to_component(r) for r in records],
            timeline=timeline.intervals(),
            pue=self._pue(),
            steps=int(trainer.global_step),
            epochs=int(trainer.current_epoch),
            images=int(prior.get("images", 0)) + sum(int(p["images"]) for p in payloads),
            world_size=len(payloads),
            warnings=warnings,
        )
        self.result = result
        baselines = dict(prior.get("counter_baselines_mj", {}))
        for p in payloads:
            baselines.update(p["counter_baselines_mj"])
        self._final_state = {
            "records": records,
            "elapsed_s": result.duration_s,
            "started_at_ts": started,
            "images": result.images,
            "timeline": timeline.rows(),
            "warnings": warnings,
            "counter_baselines_mj": baselines,
            "parts": int(prior.get("parts", 0)) + 1,
        }
        self._prior = None
        if trainer.is_global_zero:
            self._write(trainer, result)
            self._log_fit(trainer, result)
            self._after_energy(trainer, pl_module, result)

    def _after_energy(self, trainer: "Trainer", pl_module: "LightningModule", result: EnergyResult) -> None:
        """The carbon/SCI step, on rank 0 at fit end after ``energy.json``.

        Fetches the grid intensity over the run from the provider (history covering
        ``result.started_at`` .. ``result.ended_at``; a fallback chain records what it fell
        back to), integrates E x I over the energy timeline, adds M, divides by R, logs the
        ``sci/*`` scalars and a text summary, and writes ``sci_report.json``,
        ``sci_report.md`` and ``impact.yml``. A fault here is a warning, never a crash:
        the energy result is already on disk.
        """
        if not self.compute_sci:
            return
        try:
            from sci_lightning.carbon.base import IntensitySeries
            from sci_lightning.report import log_to_logger, write_run_report
            from sci_lightning.sci import compute_sci

            provider = self._provider
            fallbacks: list[dict[str, Any]] = []
            try:
                series = provider.history(result.started_at, result.ended_at)
            except Exception as err:  # noqa: BLE001 - a carbon API must not lose the run
                from sci_lightning.carbon.static import StaticProvider

                name = getattr(provider, "name", type(provider).__name__)
                reason = redact(f"{type(err).__name__}: {err}")
                rank_zero_warn(f"carbon intensity from {name!r} failed ({reason}); using the static table instead")
                static_value = getattr(self.carbon, "static_g_per_kwh", None) if self.carbon is not None else None
                fallback = StaticProvider(getattr(provider, "region", None) or "world", g_per_kwh=static_value)
                series = fallback.history(result.started_at, result.ended_at)
                series.kind = "fallback"
                series.notes.insert(0, f"{name} failed ({reason}); static table used instead")
                fallbacks.append({"provider": name, "reason": reason, "replaced_by": "static"})
            fallbacks = list(getattr(provider, "fallbacks_used", None) or []) + fallbacks
            sci_result = compute_sci(result, series, self._sci_settings, fallbacks_used=fallbacks)
            meta: dict[str, Any] = {
                "model": getattr(getattr(pl_module, "hparams", None), "get", lambda *_: None)("model_name")
                or type(pl_module).__name__,
                "val_acc": _metric(trainer, "val/acc"),
                "val_acc_top5": _metric(trainer, "val/acc_top5"),
            }
            meta.update(self.report_meta or {})
            if self.carbon_aware is not None:
                try:
                    findings = self.carbon_aware(result.energy_kwh)
                except Exception as err:  # noqa: BLE001
                    findings = None
                    rank_zero_warn(f"carbon-aware findings could not be computed ({err}); left out of the report")
                if findings:
                    meta["carbon_aware"] = findings
            out_dir = self._output_dir(trainer)
            self.report = write_run_report(out_dir, sci_result, result, meta)
            self.sci_result = sci_result
            log_to_logger(list(trainer.loggers), sci_result, step=trainer.global_step)
        except Exception as err:  # noqa: BLE001 - the SCI report must never kill training
            msg = redact(f"EnergyCarbonCallback: the SCI report could not be produced ({type(err).__name__}: {err})")
            rank_zero_warn(msg)
            self._warnings.append(msg)

    @property
    def _sci_settings(self) -> Any:
        if self.sci is not None:
            return self.sci
        from sci_lightning.sci_config import SciConfig

        return SciConfig()

    def _build_provider(self) -> Any:
        """The intensity provider from ``carbon`` (a provider, a CarbonConfig/dict, or None: static table)."""
        from sci_lightning.carbon.base import IntensityProvider

        if isinstance(self.carbon, IntensityProvider):
            return self.carbon
        if self.carbon is None:
            from sci_lightning.carbon.static import StaticProvider

            return StaticProvider()
        from sci_lightning.carbon import build_provider

        return build_provider(self.carbon)

    @override
    def on_exception(self, trainer: "Trainer", pl_module: "LightningModule", exception: BaseException) -> None:
        """Stop meter threads on a crash (nothing is written; the checkpoint keeps the totals)."""
        self._stop_meters()

    @override
    def teardown(self, trainer: "Trainer", pl_module: "LightningModule", stage: str) -> None:
        if stage == "fit":
            self._stop_meters()

    def _stop_meters(self) -> None:
        if not self._running:
            return
        self._running = False
        for m in self._meters:
            try:
                m.stop()
            except Exception:  # noqa: BLE001 - best effort on the way out
                pass

    # ------------------------------------------------------------------ results
    def _pue(self) -> float:
        return float(self.energy_config.pue) if self.energy_config else 1.0

    def _prior_it_j(self) -> float:
        return sum(r["energy_j"] for r in (self._prior or {}).get("records", []))

    def _snapshot(self, final: bool) -> dict[str, Any]:
        """This rank's records for the current run part (``final``: stop the meters first)."""
        now_wall = time.time()
        if final:
            for m in self._meters:
                try:
                    m.stop()
                except Exception as err:  # noqa: BLE001
                    self._warnings.append(f"energy meter {type(m).__name__} failed to stop cleanly ({err!r})")
        total = self._read() if not final else None
        host = hostname()
        records: list[dict[str, Any]] = []
        baselines: dict[str, int] = {}
        for m in self._meters:
            try:
                records.extend(to_record(c, host) for c in m.components())
            except Exception as err:  # noqa: BLE001
                self._warnings.append(f"energy meter {type(m).__name__} could not report ({err!r})")
            fn = getattr(m, "counter_baselines_mj", None)
            if fn is not None:
                try:
                    baselines.update(fn())
                except Exception:  # noqa: BLE001 - informational only
                    pass
        own_j = sum(r["energy_j"] for r in records)
        if total is None:
            total = own_j
        # close the timeline at this instant with whatever the meters report now
        rows = self._timeline.rows()
        tail = max(0.0, own_j - self._timeline.total_j) if final else max(0.0, total - self._timeline.total_j)
        if tail > 0 or not rows:
            rows.append([self._last_wall, now_wall, tail])
        warnings = list(self._warnings)
        for m in self._meters:
            for n in getattr(m, "notes", []) or []:
                if n not in warnings:
                    warnings.append(n)
        return {
            "records": records,
            "own_j": own_j,
            "timeline": rows,
            "t0_wall": self._t0_wall,
            "t1_wall": now_wall,
            "elapsed_s": time.perf_counter() - self._t0_mono,
            "images": self._images,
            "warnings": warnings,
            "counter_baselines_mj": baselines,
        }

    def _output_dir(self, trainer: "Trainer") -> str:
        if self.output_dir:
            return self.output_dir
        return trainer.log_dir or trainer.default_root_dir

    def _write(self, trainer: "Trainer", result: EnergyResult) -> None:
        path = os.path.join(self._output_dir(trainer), "energy.json")
        try:
            atomic_write_json(path, result.to_dict())
            self.energy_json_path = path
        except OSError as err:
            rank_zero_warn(f"EnergyCarbonCallback: could not write {path} ({err}); the result is in callback.result")

    def _log_fit(self, trainer: "Trainer", result: EnergyResult) -> None:
        metrics: dict[str, float] = {
            "energy/fit/total_kwh": result.energy_kwh,
            "energy/fit/it_kwh": result.it_energy_j / 3.6e6,
            "energy/fit/duration_s": result.duration_s,
            "energy/fit/pue": result.pue,
        }
        if result.duration_s > 0:
            metrics["energy/fit/mean_power_w"] = result.it_energy_j / result.duration_s
        for c in result.components:
            for key in (f"energy/fit/{c.component}_kwh", f"energy/fit/{c.component}/{c.method}_kwh"):
                metrics[key] = metrics.get(key, 0.0) + c.energy_kwh
        self._log(trainer, metrics)
        for logger in trainer.loggers:
            try:
                logger.save()
            except Exception:  # noqa: BLE001 - the logger finalizes itself later anyway
                pass

    # ------------------------------------------------------------------ checkpoint
    @override
    def state_dict(self) -> dict[str, Any]:
        """Energy so far (previous parts + this part, all ranks), for resuming.

        While fitting under DDP this gathers from every rank, so it must be called on all
        ranks together, as ``Trainer.save_checkpoint`` does.
        """
        if not self._running or self._trainer is None:
            done = self._final_state if self._prior is None else self._prior
            return {"version": _STATE_VERSION, **(done or {})}
        prior = self._prior or {}
        trainer = self._trainer
        local = self._snapshot(final=False)
        payloads = _gather(trainer, local)
        current = reduce_ranks([p["records"] for p in payloads])
        cur_job_j = sum(r["energy_j"] for r in current)
        scale = cur_job_j / local["own_j"] if local["own_j"] > 0 else 1.0
        tl = Timeline(self.energy_config.timeline_max_intervals if self.energy_config else 512)
        tl.extend(prior.get("timeline", []))
        tl.extend([[s, e, j * scale] for s, e, j in local["timeline"]])
        warnings = list(prior.get("warnings", []))
        for p in payloads:
            for w in p["warnings"]:
                if w not in warnings:
                    warnings.append(w)
        baselines = dict(prior.get("counter_baselines_mj", {}))
        for p in payloads:
            baselines.update(p["counter_baselines_mj"])
        return {
            "version": _STATE_VERSION,
            "records": merge_parts(prior.get("records", []), current),
            "elapsed_s": float(prior.get("elapsed_s", 0.0)) + local["elapsed_s"],
            "started_at_ts": prior.get("started_at_ts", self._t0_wall),
            "images": int(prior.get("images", 0)) + sum(int(p["images"]) for p in payloads),
            "timeline": tl.rows(),
            "warnings": warnings,
            # NVML counter values at the start of each part, per GPU UUID. Informational:
            # the gap between a kill and the resume is not bridged with them, since the GPU
            # may have done other work meanwhile.
            "counter_baselines_mj": baselines,
            "parts": int(prior.get("parts", 0)) + 1,
        }

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the totals of the previous run parts (added to this run's at fit end)."""
        version = state_dict.get("version")
        if version != _STATE_VERSION:
            rank_zero_warn(
                f"EnergyCarbonCallback: checkpoint energy state has version {version!r}, expected"
                f" {_STATE_VERSION}; previous parts' energy is not included"
            )
            return
        self._prior = {k: v for k, v in state_dict.items() if k != "version"} or None

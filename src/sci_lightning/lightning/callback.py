"""EnergyCarbonCallback: the Lightning adapter over :class:`~sci_lightning.energy.monitor.EnergyMonitor`."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable

import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities.rank_zero import rank_zero_warn
from typing_extensions import override

from sci_lightning.carbon.base import IntensityProvider
from sci_lightning.energy import EnergyMeter, EnergyMonitor, EnergyResult, Measurement, NullMeter, build_meters
from sci_lightning.energy.reduce import reduce_measurements
from sci_lightning.errors import ConfigError
from sci_lightning.fileio import atomic_write_json
from sci_lightning.lightning.interruption import RunEnd, run_end
from sci_lightning.lightning.parts import adopt_previous, part_notes, part_record
from sci_lightning.lightning.publish import publish, run_results
from sci_lightning.metric_names import (
    EPOCH_J, POWER_TOTAL_W, SO_FAR_KWH, SO_FAR_WH, STEP_J, fit_energy_metrics, power_w, sci_metrics,
)
from sci_lightning.redaction import redact
from sci_lightning.settings import CarbonConfig, EnergyConfig, SciConfig, coerce

if TYPE_CHECKING:
    from lightning.pytorch import LightningModule, Trainer

__all__ = ["EnergyCarbonCallback"]

_STATE_VERSION = 2
_FIT = "fit"


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


def _dist_ready(trainer: "Trainer") -> bool:
    dist = torch.distributed
    return getattr(trainer, "world_size", 1) > 1 and dist.is_available() and dist.is_initialized()


def _gather(trainer: "Trainer", payload: Any) -> list[Any]:
    """``payload`` from every rank (all_gather_object), or ``[payload]`` when not distributed."""
    if not _dist_ready(trainer):
        return [payload]
    out: list[Any] = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(out, payload)
    return out


def _job_of(states: list[dict[str, Any]]) -> Measurement | None:
    """The job total (all ranks) of per-rank monitor states, ``None`` when they hold no ``fit`` window."""
    found = [Measurement.from_dict(s["windows"][_FIT]) for s in states if _FIT in s.get("windows", {})]
    return reduce_measurements(found) if found else None


def _last_ckpt(trainer: "Trainer") -> str | None:
    """Where this fit writes ``last.ckpt`` (the first checkpoint callback that keeps one)."""
    for cb in getattr(trainer, "checkpoint_callbacks", []):
        if getattr(cb, "save_last", False) and getattr(cb, "dirpath", None):
            return os.path.join(str(cb.dirpath), f"{cb.CHECKPOINT_NAME_LAST}{cb.FILE_EXTENSION}")
    return None


class EnergyCarbonCallback(Callback):
    r"""Measures the energy of ``Trainer.fit``, then scores it: grid intensity, SCI and a report.

    Each component is metered by the best available method (see
    :func:`sci_lightning.energy.build_meters`): NVML energy counter or power sampling for
    the GPUs this process trains on, RAPL or a CPU-time estimate for the CPU, an RSS
    estimate for RAM. Every figure says whether it was *measured* or *estimated* and how.
    The measuring is done by an :class:`~sci_lightning.energy.monitor.EnergyMonitor`
    window ``"fit"`` (:attr:`monitor`); this class only connects it to Lightning.

    Logged through ``trainer.loggers`` (any Lightning logger) and put in
    ``trainer.callback_metrics`` (so ``ModelCheckpoint(monitor=...)`` and ``EarlyStopping``
    can use them); the names are in :mod:`sci_lightning.metric_names`:

    - the first training batch, every ``log_every_n_steps`` batches (default: the
      Trainer's) and every epoch end: ``energy/power_w/total`` and
      ``energy/power_w/<component>`` (mean IT power since the last log, W),
      ``energy/step_j`` (mean IT energy per batch since the last log, J) and
      ``energy/so_far_kwh`` / ``energy/so_far_wh`` (energy so far, PUE applied). Under DDP
      each rank's per-step figures are its own devices; the loggers get rank 0's.
    - every training epoch: ``energy/epoch_j`` (IT energy of the epoch, J).
    - at fit end, the SCI (rank 0): ``sci/score`` (and ``sci/score_mg``),
      ``sci/operational_g``, ``sci/embodied_g`` (and ``_mg``), ``sci/energy_kwh`` (and
      ``_wh``), ``sci/intensity_g_per_kwh``, ``sci/cost_usd`` and, on TensorBoard, the text
      ``sci/summary``; the files ``sci_report.json``, ``sci_report.md`` and ``impact.yml``
      beside ``energy.json``, also sent to loggers that store files (MLflow, W&B).
    - at fit end (job total over all ranks and resumed parts):
      ``energy/fit/total_kwh`` / ``_wh`` (PUE applied), ``energy/fit/it_kwh`` / ``_wh``,
      ``energy/fit/<component>_kwh`` / ``_wh``, ``energy/fit/<component>/<method>_kwh``,
      ``energy/fit/duration_s``, ``energy/fit/mean_power_w``, ``energy/fit/pue``.
    - at fit end, the run's settings and results (``results/val_acc``, ``results/energy_wh``,
      ``results/emissions_mg``, ``results/sci``, ``results/cost_usd``,
      ``results/fit_time_s``) as hyperparameters: one row per run in TensorBoard's HParams tab.

    The result is :attr:`result` (an :class:`~sci_lightning.energy.base.EnergyResult`) and
    ``energy.json`` in ``output_dir``, written atomically by rank 0. Under DDP, totals are
    gathered from all ranks: a GPU shared by several ranks is counted once (by UUID),
    host-level counters (RAPL) once per host, per-process estimates summed per host; the
    ranks exchange PIDs so that none counts another as its child process.

    Resume: each rank's energy, elapsed time, images, timeline and counter baselines are
    saved in the checkpoint, with one record per part of the job (start, end, energy,
    status, checkpoint; :mod:`.parts`); a run resumed with ``ckpt_path`` reports the sum of
    its parts and lists them. Energy drawn after the last checkpoint of a killed (SIGKILL)
    part is not in that checkpoint and so is not counted: the wall time from that
    checkpoint to the next part's start is stated as ``unmeasured_s``.

    Interruption: when the fit is stopped (SIGINT, SIGTERM, SIGUSR1, see
    :mod:`.interruption`) or fails, ``on_exception`` closes the window and writes
    ``energy.json`` and the SCI report for the part that ran, marked ``status``
    ``interrupted`` (with the signal) or ``failed`` (with the redacted error); a completed
    fit is ``completed``. These are in ``energy.json`` (``status``, ``interruption``,
    ``parts``, ``unmeasured_s``) and, as notes, in the report's ``warnings``.

    Measurement faults never stop training: the meter warns once, falls back to the next
    method and the result is flagged (``status="partial"``, reasons in notes/warnings).
    A carbon provider failing at fit end falls back to the static table for its region,
    recorded in the report.

    Args:
        energy: meter settings (:class:`~sci_lightning.settings.EnergyConfig`, a dict
            or an OmegaConf node); default ``EnergyConfig()``.
        meters: explicit meters to use instead of building them from ``energy``.
        output_dir: folder for ``energy.json``; default ``trainer.log_dir`` or
            ``trainer.default_root_dir``.
        carbon: where the grid intensity comes from: an
            :class:`~sci_lightning.carbon.base.IntensityProvider`, a
            :class:`~sci_lightning.settings.CarbonConfig` (or dict / OmegaConf node,
            built with :func:`sci_lightning.carbon.build_provider`, fallback chain
            included), or ``None`` for the offline static table.
        sci: SCI settings (:class:`~sci_lightning.settings.SciConfig`, a dict or an
            OmegaConf node: functional unit, embodied emissions, price per hour).
        log_every_n_steps: per-step logging period in training batches; default the
            Trainer's ``log_every_n_steps``.
        compute_sci: ``False`` measures energy only (no intensity, no SCI report).
        report_meta: extra fields for ``sci_report.json`` (``model``, ``run_name``,
            ``hardware``, ``boundary``, ...).
        carbon_aware: optional ``callable(energy_kwh) -> dict`` returning the
            time-shifting findings stored as ``carbon_aware`` in the report.

    Raises:
        ConfigError: at construction, for a misspelt or invalid ``energy`` / ``sci`` /
            ``carbon`` setting or ``log_every_n_steps < 1``.

    Example::

        from lightning.pytorch import Trainer
        from sci_lightning.lightning.callback import EnergyCarbonCallback

        energy = EnergyCarbonCallback(output_dir="outputs/run1", carbon={"provider": "static", "region": "FR"})
        trainer = Trainer(max_epochs=2, callbacks=[energy])
        trainer.fit(model, datamodule=dm)
        print(energy.result.energy_kwh, [(c.component, c.method) for c in energy.result.components])
    """

    def __init__(
        self,
        energy: EnergyConfig | dict[str, Any] | None = None,
        meters: list[EnergyMeter] | None = None,
        output_dir: str | None = None,
        carbon: CarbonConfig | dict[str, Any] | IntensityProvider | None = None,
        sci: SciConfig | dict[str, Any] | None = None,
        log_every_n_steps: int | None = None,
        compute_sci: bool = True,
        report_meta: dict[str, Any] | None = None,
        carbon_aware: Callable[[float], Any] | None = None,
    ) -> None:
        super().__init__()
        if log_every_n_steps is not None and (not isinstance(log_every_n_steps, int) or log_every_n_steps < 1):
            raise ConfigError(f"EnergyCarbonCallback(log_every_n_steps={log_every_n_steps!r}) must be an integer >= 1")
        self.energy_config = coerce(EnergyConfig, energy, "energy")
        self.sci = coerce(SciConfig, sci, "sci")
        keep = carbon is None or isinstance(carbon, IntensityProvider)
        self.carbon = carbon if keep else coerce(CarbonConfig, carbon, "carbon")
        self._user_meters = list(meters) if meters is not None else None
        self.output_dir = output_dir
        self.log_every_n_steps = log_every_n_steps
        self.compute_sci = compute_sci
        self.report_meta = dict(report_meta or {})
        self.carbon_aware = carbon_aware
        #: The SCI result and the report (as written to sci_report.json), after ``fit``.
        self.sci_result: Any = None
        self.report: Any = None
        #: The job's :class:`EnergyResult` after ``fit`` (``None`` before).
        self.result: EnergyResult | None = None
        #: Path of the written ``energy.json`` (rank 0), after ``fit``.
        self.energy_json_path: str | None = None
        self._monitor: EnergyMonitor | None = None
        self._provider: IntensityProvider | None = None
        self._states: list[dict[str, Any]] | None = None  # per-rank monitor states: loaded, or final
        self._log_n = 1
        self._trainer: Trainer | None = None
        self._batches = 0
        self._log_t, self._log_steps, self._log_j, self._epoch_start_j = 0.0, 0, {}, 0.0
        self._saved_parts: list[dict[str, Any]] = []  # part records loaded from a checkpoint
        self._previous: list[dict[str, Any]] = []  # the previous parts, as this part sees them
        self._prior: Measurement | None = None  # the previous parts' job total
        self._part_started = datetime.now(timezone.utc)
        self._resumed_from: str | None = None
        #: The parts of the job (after ``fit``), seconds not measured between them, how this part ended.
        self.parts: list[dict[str, Any]] = []
        self.unmeasured_s = 0.0
        self.end: RunEnd | None = None

    @property
    def monitor(self) -> EnergyMonitor | None:
        """The energy monitor of the current fit (built in ``setup``)."""
        return self._monitor

    @property
    def meters(self) -> list[EnergyMeter]:
        """The meters in use (built in ``setup``)."""
        return self._monitor.meters if self._monitor else []

    @property
    def _running(self) -> bool:
        return self._monitor is not None and _FIT in self._monitor.open_windows

    # ------------------------------------------------------------------ hooks
    @override
    def setup(self, trainer: "Trainer", pl_module: "LightningModule", stage: str) -> None:
        """Build the provider and this rank's meters; exchange PIDs between DDP ranks."""
        if stage != "fit":
            return
        self._trainer = trainer
        self._log_n = self.log_every_n_steps or trainer.log_every_n_steps
        if self.compute_sci:
            self._provider = self._build_provider()  # config mistakes surface here, before training
        device = trainer.strategy.root_device
        indices = None
        if device.type == "cuda":
            indices = [torch.cuda.current_device() if device.index is None else device.index]
        cfg = self.energy_config
        meters = self._user_meters if self._user_meters is not None else build_meters(cfg, indices)
        if cfg.enabled and cfg.gpu != "off" and device.type not in ("cuda", "cpu"):
            rank_zero_warn(f"EnergyCarbonCallback: no energy meter for accelerator {device.type!r}; not measured")
            meters = [*meters, NullMeter("accelerator", str(device), "no meter for this accelerator")]
        self._monitor = EnergyMonitor(meters, config=self.energy_config, device_indices=indices)
        if _dist_ready(trainer):
            self._monitor.exclude_pids(_gather(trainer, os.getpid()))

    def _build_provider(self) -> IntensityProvider:
        if isinstance(self.carbon, IntensityProvider):
            return self.carbon
        from sci_lightning.carbon import build_provider  # noqa: PLC0415 - providers load lazily

        return build_provider(self.carbon)

    @override
    def on_fit_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        """Add the checkpoint's previous parts for this rank, open the ``fit`` window."""
        self._trainer = trainer
        assert self._monitor is not None, "setup(stage='fit') builds the monitor"
        self._begin_part(trainer, self._states or [])
        self._load_previous_parts(trainer)
        self._monitor.begin_window(_FIT)
        self._batches = 0
        self._mark_logged()
        self._epoch_start_j = 0.0

    def _begin_part(self, trainer: "Trainer", states: list[dict[str, Any]]) -> None:
        """The previous parts' records and job total; the killed one's unmeasured time."""
        self._part_started, self.end = datetime.now(timezone.utc), None
        self._resumed_from = getattr(trainer, "ckpt_path", None)
        self._prior = _job_of(states)
        self._previous, self.unmeasured_s = adopt_previous(
            self._saved_parts, self._prior, resumed_from=self._resumed_from, started_at=self._part_started,
            pue=self.energy_config.pue,
        )
        self.parts = list(self._previous)

    def _part(self, trainer: "Trainer", job: Measurement, end: RunEnd | None) -> dict[str, Any]:
        """This part's record: ``running`` (a checkpoint while training) or its end."""
        return part_record(
            job, self._prior, number=len(self._previous) + 1, started_at=self._part_started,
            now=datetime.now(timezone.utc), pue=self.energy_config.pue,
            status=end.status if end else "running", signal=end.signal if end else None,
            error=end.error if end else None, resumed_from=self._resumed_from, checkpoint=_last_ckpt(trainer),
        )

    def _load_previous_parts(self, trainer: "Trainer") -> None:
        """Give this rank its share of the checkpoint: old rank r's parts go to rank r mod world size."""
        states, self._states = self._states or [], None
        rank, world = getattr(trainer, "global_rank", 0), getattr(trainer, "world_size", 1)
        if states and len(states) != world:
            rank_zero_warn(
                f"EnergyCarbonCallback: resuming a {len(states)}-rank checkpoint on {world} ranks; a device that"
                " several old ranks shared may be counted once per old rank"
            )
        if states[rank::world]:
            self._monitor.load_state_dict(*states[rank::world])

    @override
    def on_train_batch_end(
        self, trainer: "Trainer", pl_module: "LightningModule", outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        """One reading per meter; log every ``log_every_n_steps`` batches."""
        if not self._running:
            return
        self._monitor.record_step(images=_batch_size(batch))
        self._batches += 1
        if self._batches == 1 or self._batches % self._log_n == 0:
            self._log_step(trainer)

    def _mark_logged(self) -> None:
        """Remember the reading the last per-step log was computed from."""
        monitor = self._monitor
        self._log_t, self._log_steps, self._log_j = monitor.last_read_ts, monitor.steps_read, monitor.latest_j()

    def _log_step(self, trainer: "Trainer") -> None:
        """Power and energy per step between the last two logged readings (the monitor reads
        at most every ``energy.min_read_interval_s``, so a reading covers several steps; a log
        with no reading since the previous one takes one, so no logged point is empty)."""
        monitor = self._monitor
        if monitor.steps_read == self._log_steps:
            monitor.advance()
        latest = monitor.latest_j()
        duration_s, steps = monitor.last_read_ts - self._log_t, monitor.steps_read - self._log_steps
        delta_j = {name: j - self._log_j.get(name, 0.0) for name, j in latest.items()}
        window_j = sum(delta_j.values())
        metrics = {power_w(name): j / duration_s for name, j in delta_j.items()} if duration_s > 0 else {}
        if duration_s > 0:
            metrics[POWER_TOTAL_W] = window_j / duration_s
        if steps > 0:
            metrics[STEP_J] = window_j / steps
        so_far_j = self._monitor.energy_so_far_j(_FIT) * self.energy_config.pue
        metrics[SO_FAR_KWH], metrics[SO_FAR_WH] = so_far_j / 3.6e6, so_far_j / 3600.0
        publish(trainer, metrics)
        self._mark_logged()

    @override
    def on_train_epoch_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        if self._running:
            self._epoch_start_j = self._monitor.energy_so_far_j(_FIT)

    @override
    def on_train_epoch_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        """A per-step point at the epoch's end and the epoch's IT energy (``energy/epoch_j``)."""
        if not self._running:
            return
        self._monitor.advance()
        if self._monitor.steps_read > self._log_steps:  # steps since the last per-step point
            self._log_step(trainer)
        publish(trainer, {EPOCH_J: self._monitor.energy_so_far_j(_FIT) - self._epoch_start_j})

    @override
    def on_fit_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        """Close the window, combine the ranks, write ``energy.json``, log totals, run the SCI step."""
        if self._running:
            self._finish(trainer, pl_module, RunEnd())

    def _finish(self, trainer: "Trainer", pl_module: "LightningModule", end: RunEnd) -> None:
        """End the part: final per-rank states (for the last checkpoint), the job result and its files."""
        local = self._monitor.end_window(_FIT)
        self._monitor.close()
        per_rank = self._per_rank(trainer, local, end)
        self._states = [EnergyMonitor.state_of({_FIT: m}) for m in per_rank]
        job = reduce_measurements(per_rank)
        self.end = end
        self.parts = [*self._previous, self._part(trainer, job, end)]
        self.result = job.to_result(
            pue=self.energy_config.pue,
            steps=trainer.global_step,
            epochs=trainer.current_epoch,
            world_size=len(per_rank),
        )
        self.result.warnings.extend(self._end_notes())
        if trainer.is_global_zero:
            self._write(trainer, self.result)
            publish(trainer, fit_energy_metrics(self.result))
            self._after_energy(trainer, pl_module, self.result)
            self._send_results(trainer, pl_module, self.result)

    def _per_rank(self, trainer: "Trainer", local: Measurement, end: RunEnd) -> list[Measurement]:
        """Every rank's measurement; this rank's only when the ranks are not in step (e.g. after Ctrl-C)."""
        if not end.ranks_in_step and _dist_ready(trainer):
            local.warnings.append(f"{end.signal or end.status}: rank {trainer.global_rank}'s energy only")
            return [local]
        try:
            return _gather(trainer, local)
        except Exception as err:  # noqa: BLE001 - report this rank's part rather than nothing
            msg = f"could not gather energy from the other ranks ({err!r}); this is rank {trainer.global_rank}'s only"
            rank_zero_warn(msg)
            local.warnings.append(msg)
            return [local]

    def _end_notes(self) -> list[str]:
        """Report lines: how this part ended, the parts of a resumed job, the time not measured."""
        notes = part_notes(self.parts, self.unmeasured_s)
        end = self.end
        if end is not None and end.status == "interrupted":
            notes.insert(0, f"Run status: interrupted by {end.signal}; the figures cover the part that ran.")
        elif end is not None and end.status == "failed":
            notes.insert(0, f"Run status: failed ({end.error}); the figures cover the part that ran.")
        return notes

    def run_record(self) -> dict[str, Any]:
        """``status``, ``interruption``, ``parts`` and ``unmeasured_s`` (in energy.json and the report meta)."""
        end = self.end or RunEnd("running")
        interruption = None if end.status in ("completed", "running") else {"signal": end.signal, "error": end.error}
        return {"status": end.status, "interruption": interruption, "parts": self.parts,
                "unmeasured_s": round(self.unmeasured_s, 3)}

    def _after_energy(self, trainer: "Trainer", pl_module: "LightningModule", result: EnergyResult) -> None:
        """The carbon/SCI step on rank 0 (:func:`.sci_step.run_sci_step`); a fault only warns."""
        if not self.compute_sci or self._provider is None:
            return
        from sci_lightning.lightning.sci_step import run_sci_step  # noqa: PLC0415 - loads the SCI modules

        try:
            self.sci_result, self.report = run_sci_step(
                trainer, pl_module, result, provider=self._provider, carbon=self.carbon, sci=self.sci,
                out_dir=self._output_dir(trainer), report_meta={**self.report_meta, **self.run_record()},
                carbon_aware=self.carbon_aware,
            )
        except Exception as err:  # noqa: BLE001 - the SCI report must never kill training
            msg = redact(f"EnergyCarbonCallback: the SCI report could not be produced ({type(err).__name__}: {err})")
            rank_zero_warn(msg)
            result.warnings.append(msg)

    @override
    def on_exception(self, trainer: "Trainer", pl_module: "LightningModule", exception: BaseException) -> None:
        """Interrupted or failed: the part's files, marked so (the last checkpoint follows, see
        :mod:`.checkpointing`); then stop the meter threads."""
        try:
            if self._running:
                self._finish(trainer, pl_module, run_end(exception))
        finally:
            if self._monitor is not None:
                self._monitor.close()

    @override
    def teardown(self, trainer: "Trainer", pl_module: "LightningModule", stage: str) -> None:
        if stage == "fit" and self._monitor is not None:
            self._monitor.close()

    # ------------------------------------------------------------------ results
    def _output_dir(self, trainer: "Trainer") -> str:
        return self.output_dir or trainer.log_dir or trainer.default_root_dir

    def _write(self, trainer: "Trainer", result: EnergyResult) -> None:
        path = os.path.join(self._output_dir(trainer), "energy.json")
        try:
            atomic_write_json(path, {**result.to_dict(), **self.run_record()})
            self.energy_json_path = path
        except OSError as err:
            rank_zero_warn(f"EnergyCarbonCallback: could not write {path} ({err}); the result is in callback.result")

    def _send_results(self, trainer: "Trainer", pl_module: "LightningModule", result: EnergyResult) -> None:
        """The run's settings and results (HParams), the report files (MLflow, W&B); flush the loggers."""
        from sci_lightning.sci.loggers import log_artifacts, log_run_results  # noqa: PLC0415

        if self.sci_result is not None:  # logged by the SCI step; here for Lightning's monitors
            publish(trainer, sci_metrics(self.sci_result), to_loggers=False)
        params, results = run_results(trainer, pl_module, result, self.sci_result, self.report_meta)
        publish(trainer, results, to_loggers=False)
        log_run_results(list(trainer.loggers), params, results, step=trainer.global_step)
        out = self._output_dir(trainer)
        names = ("energy.json", "sci_report.json", "sci_report.md", "impact.yml")
        log_artifacts(list(trainer.loggers), [os.path.join(out, name) for name in names])
        for logger in trainer.loggers:
            try:
                logger.save()
            except Exception:  # noqa: BLE001 - the logger finalizes itself later anyway
                pass

    # ------------------------------------------------------------------ checkpoint
    @override
    def state_dict(self) -> dict[str, Any]:
        """Every rank's monitor state (previous parts + this part), for resuming.

        While fitting under DDP this gathers from every rank, so it must be called on all
        ranks together, as ``Trainer.save_checkpoint`` does.
        """
        if self._running and self._trainer is not None:
            ranks = _gather(self._trainer, self._monitor.state_dict())
            parts = [*self._previous, self._part(self._trainer, _job_of(ranks), None)]
            return {"version": _STATE_VERSION, "ranks": ranks, "parts": parts}
        state: dict[str, Any] = {"version": _STATE_VERSION}
        if self._states:
            state["ranks"] = self._states
        if self.parts:
            state["parts"] = self.parts
        return state

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Keep the previous parts; each rank adds its share when the fit starts."""
        version = state_dict.get("version")
        if version != _STATE_VERSION:
            rank_zero_warn(
                f"EnergyCarbonCallback: checkpoint energy state has version {version!r}, expected"
                f" {_STATE_VERSION}; previous parts' energy is not included"
            )
            return
        self._states = list(state_dict.get("ranks", [])) or None
        self._saved_parts = list(state_dict.get("parts", []))

"""EnergyCarbonCallback: the Lightning adapter over :class:`~sci_lightning.energy.monitor.EnergyMonitor`.

What it counts follows :mod:`sci_lightning.accounting` (docs/accounting.md): parts of a
job, stages, batches, optimizer steps, fractional epochs and samples.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from typing_extensions import override

from sci_lightning.accounting import FIT, EpochTally, StageRecord, WorkDone, part_work, sum_work
from sci_lightning.carbon.base import IntensityProvider
from sci_lightning.energy import (
    EnergyMeter,
    EnergyMonitor,
    EnergyResult,
    Measurement,
    NullMeter,
    build_meters,
)
from sci_lightning.energy.reduce import reduce_measurements
from sci_lightning.errors import ConfigError
from sci_lightning.fileio import atomic_write_json
from sci_lightning.lightning.parts import adopt_previous, part_notes, part_record, unknown_part
from sci_lightning.lightning.publish import publish, run_results
from sci_lightning.lightning.signal_guard import RunEnd, run_end
from sci_lightning.lightning.spawn_results import register, send_home
from sci_lightning.lightning.trainer_counts import (
    batch_size,
    batches_per_epoch,
    is_last_batch,
    log_step,
    training_done,
    tuner_method,
)
from sci_lightning.metric_names import (
    BATCH_J,
    EPOCH_J,
    POWER_TOTAL_W,
    SO_FAR_KWH,
    SO_FAR_WH,
    fit_energy_metrics,
    inference_metrics,
    power_w,
    sci_metrics,
    stage_energy_metrics,
)
from sci_lightning.redaction import redact
from sci_lightning.settings import CarbonConfig, EnergyConfig, SciConfig, coerce

if TYPE_CHECKING:
    from lightning.pytorch import LightningModule, Trainer
    from lightning.pytorch.utilities.types import STEP_OUTPUT

    from sci_lightning.lightning.work_counter import WorkCounter

__all__ = ["EnergyCarbonCallback"]

_STATE_VERSION = 3
_INFERENCE_STAGES = ("test", "predict")  # stages that get a Consumer SCI (sci.inference)
_READABLE_STATES = (2, 3)  # 2: parts counted batches as "steps" and samples as "images"


def _dist_ready(trainer: Trainer) -> bool:
    dist = torch.distributed
    return getattr(trainer, "world_size", 1) > 1 and dist.is_available() and dist.is_initialized()


def _gather(trainer: Trainer, payload: Any) -> list[Any]:
    """``payload`` from every rank (all_gather_object), or ``[payload]`` when not distributed."""
    if not _dist_ready(trainer):
        return [payload]
    out: list[Any] = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(out, payload)
    return out


def _job_of(states: list[dict[str, Any]]) -> Measurement | None:
    """The job total (all ranks) of per-rank monitor states, ``None`` when they hold no ``fit`` window."""
    found = [Measurement.from_dict(s["windows"][FIT]) for s in states if FIT in s.get("windows", {})]
    return reduce_measurements(found) if found else None


def _last_ckpt(trainer: Trainer) -> str | None:
    """Where this fit writes ``last.ckpt`` (the first checkpoint callback that keeps one)."""
    for cb in getattr(trainer, "checkpoint_callbacks", []):
        if getattr(cb, "save_last", False) and getattr(cb, "dirpath", None):
            return os.path.join(str(cb.dirpath), f"{cb.CHECKPOINT_NAME_LAST}{cb.FILE_EXTENSION}")
    return None


def _stage_of(trainer: Trainer) -> str:
    fn = getattr(getattr(trainer, "state", None), "fn", None)
    return str(getattr(fn, "value", fn))


def _scores_mid_epoch(cb: Callback, trainer: Trainer) -> bool:
    """Whether a ModelCheckpoint / EarlyStopping reads its monitor at validations inside an epoch."""
    if isinstance(cb, ModelCheckpoint):
        at_epoch_end = cb._save_on_train_epoch_end
    else:  # EarlyStopping
        at_epoch_end = getattr(cb, "_check_on_train_epoch_end", None)
    if at_epoch_end:
        return False
    interval = trainer.val_check_interval
    return not (isinstance(interval, float) and interval == 1.0)


def _check_epoch_monitors(trainer: Trainer) -> None:
    """Refuse a monitor of ``energy/epoch_j`` that would be read before an epoch's energy exists."""
    for cb in getattr(trainer, "callbacks", []):
        if (
            isinstance(cb, (ModelCheckpoint, EarlyStopping))
            and cb.monitor == EPOCH_J
            and _scores_mid_epoch(cb, trainer)
        ):
            fix = (
                "save_on_train_epoch_end=True"
                if isinstance(cb, ModelCheckpoint)
                else "check_on_train_epoch_end=True"
            )
            raise ConfigError(
                f"{type(cb).__name__}(monitor={EPOCH_J!r}) would be checked at validations inside an epoch"
                f" (val_check_interval={trainer.val_check_interval!r}), before the epoch's energy is known;"
                f" pass {type(cb).__name__}(..., {fix}) to score it at epoch ends"
            )


#: The files of a fit's results in its output folder (another fit there would replace them).
_FIT_RESULT_FILES = ("sci_report.json", "energy.json")


def _refuse_another_runs_reports(trainer: Trainer, out: str, own_dirs: set[str]) -> None:
    """Refuse, before training, a fit whose output folder holds another run's results: it would
    overwrite them. A resume (``ckpt_path``) adds its part to them, and the same callback's own
    earlier fit there is replaced (each fit starts clean), so both go on. Rank 0 looks; all agree.
    A strategy that restores the checkpoint only after ``on_fit_start`` cannot tell a resume yet: not checked."""
    if getattr(trainer, "ckpt_path", None) or getattr(trainer.strategy, "restore_checkpoint_after_setup", 0):
        return
    found = None
    if out and trainer.is_global_zero and os.path.abspath(out) not in own_dirs:
        found = next((n for n in _FIT_RESULT_FILES if os.path.isfile(os.path.join(out, n))), None)
    if _dist_ready(trainer):
        found = trainer.strategy.broadcast(found, src=0)
    if found:
        raise ConfigError(
            f"EnergyCarbonCallback: {out} holds the results of another run ({found}), and this fit would "
            "overwrite them; give this Trainer its own folder (EnergyCarbonCallback(output_dir=...), a logger "
            "with its own version, or another default_root_dir), or resume that run with "
            "trainer.fit(..., ckpt_path=...)"
        )


def _tuner_hooks_after(callback: Callback, trainer: Trainer) -> bool:
    """Whether a tuner callback (``LearningRateFinder``, ``BatchSizeFinder``, which search in their
    ``on_fit_start``) comes after ``callback`` in the Trainer's hook order: its search is then still
    to come when ``callback.on_fit_start`` runs. Lightning puts tuners first unless
    ``trainer.callbacks`` is assigned directly."""
    from lightning.pytorch.callbacks import BatchSizeFinder, LearningRateFinder

    order = list(getattr(trainer, "callbacks", []))
    tuners = [i for i, c in enumerate(order) if isinstance(c, (BatchSizeFinder, LearningRateFinder))]
    return callback in order and bool(tuners) and order.index(callback) < max(tuners)


def _work_counter_in(trainer: Trainer) -> Any:
    """The trainer's WorkCounter, when the user did not pass one (``None``: no SCI-for-AI units)."""
    from sci_lightning.lightning.work_counter import WorkCounter

    return next((c for c in getattr(trainer, "callbacks", []) if isinstance(c, WorkCounter)), None)


@dataclass
class _OpenStage:
    """A stage window (validate, test, predict, tune) being measured."""

    name: str
    method: str | None = None
    batches: int = 0
    samples: int = 0


class EnergyCarbonCallback(Callback):
    r"""Measures the energy of ``Trainer.fit`` (and of validate, test, predict and tuning, each in
    its own window), then scores the fit: grid intensity, SCI and a report.

    Each component is metered by the best available method (see
    :func:`sci_lightning.energy.build_meters`): NVML energy counter or power sampling for
    the GPUs this process trains on, RAPL or a CPU-time estimate for the CPU, an RSS
    estimate for RAM. Every figure says whether it was *measured* or *estimated* and how.
    The measuring is done by an :class:`~sci_lightning.energy.monitor.EnergyMonitor`
    window ``"fit"`` (:attr:`monitor`); this class only connects it to Lightning.

    What is counted (docs/accounting.md, :mod:`sci_lightning.accounting`): ``batches``
    (training_step calls), ``optimizer_steps`` (``trainer.global_step``: one per 4 batches with
    ``accumulate_grad_batches=4``, one per optimizer stepped under manual optimization),
    fractional ``epochs`` (batches / batches per epoch; ``None`` for iterable data) and
    ``samples`` (batch sizes as Lightning's ``extract_batch_size`` finds them, or
    ``batch_size_fn``). A callback instance starts clean on every ``fit`` unless Lightning
    restores its state from a checkpoint.

    Logged through ``trainer.loggers`` at the step Lightning logs its own training metrics,
    and put in ``trainer.callback_metrics`` (so ``ModelCheckpoint(monitor=...)`` and
    ``EarlyStopping`` can use them); the names are in :mod:`sci_lightning.metric_names`:

    - the first training batch, every ``log_every_n_steps`` batches (default: the
      Trainer's; 0 or ``barebones``: none) and every epoch end: ``energy/power_w/total`` and
      ``energy/power_w/<component>`` (mean IT power since the last log, W),
      ``energy/batch_j`` (mean IT energy per training batch since the last log, J) and
      ``energy/so_far_kwh`` / ``energy/so_far_wh`` (energy so far, PUE applied). Under DDP
      each rank's per-step figures are its own devices; the loggers get rank 0's.
    - every training epoch, at its last training batch (so a validation at the epoch's end
      can score it): ``energy/epoch_j`` (IT energy of the epoch's training, J). A
      ``ModelCheckpoint``/``EarlyStopping`` monitoring it at mid-epoch validations
      (``val_check_interval`` other than 1.0) is refused in ``setup`` with the fix.
    - at fit end, the SCI (rank 0): ``sci/score`` (and ``sci/score_mg``),
      ``sci/operational_g``, ``sci/embodied_g`` (and ``_mg``), ``sci/energy_kwh`` (and
      ``_wh``), ``sci/intensity_g_per_kwh``, ``sci/cost_usd`` and, on TensorBoard, the text
      ``sci/summary``; the files ``sci_report.json``, ``sci_report.md`` and ``impact.yml``
      beside ``energy.json``, also sent to loggers that store files (MLflow, W&B).
    - at fit end (job total over all ranks and resumed parts):
      ``energy/fit/total_kwh`` / ``_wh`` (PUE applied), ``energy/fit/it_kwh`` / ``_wh``,
      ``energy/fit/<component>_kwh`` / ``_wh``, ``energy/fit/<component>/<method>_kwh``,
      ``energy/fit/duration_s``, ``energy/fit/mean_power_w``, ``energy/fit/pue``.
    - at the end of ``validate``, ``test``, ``predict`` and tuning (``Tuner.lr_find`` /
      ``scale_batch_size``): ``energy/<stage>/total_kwh`` / ``_wh``, ``energy/<stage>/it_wh``,
      ``energy/<stage>/duration_s``; the record (:class:`~sci_lightning.accounting.StageRecord`)
      goes to :attr:`stages`, ``stages.json``, and the ``stages`` of ``energy.json`` and the
      report. They are not in the fit's SCI.
    - at the end of ``test`` and ``predict`` (rank 0), the stage's Consumer SCI
      (:func:`sci_lightning.sci.inference.inference_for_stage`: energy per sample and SCI per 1,000
      inferences, I the provider's intensity over the stage's own window, M from ``sci``):
      ``inference/<stage>/energy_j_per_sample``, ``inference/<stage>/sci_g_per_1000`` (and
      ``_mg``), ``inference/<stage>/operational_g_per_1000``, ``embodied_g_per_1000``,
      ``intensity_g_per_kwh``; the record goes to :attr:`inference`, ``stages.json`` and the
      ``inference`` list of the fit's report (``sci_report.json`` / ``.md`` rewritten in place).
    - at fit end, the run's settings and results (``results/val_acc``, ``results/energy_wh``,
      ``results/emissions_mg``, ``results/sci``, ``results/cost_usd``,
      ``results/fit_time_s``) as hyperparameters: one row per run in TensorBoard's HParams tab.

    The result is :attr:`result` (an :class:`~sci_lightning.energy.base.EnergyResult`) and
    ``energy.json`` in ``output_dir``, written atomically by rank 0. Under DDP, totals are
    gathered from all ranks: a GPU shared by several ranks is counted once (by UUID),
    host-level counters (RAPL) once per host, per-process estimates summed per host; the
    ranks exchange PIDs so that none counts another as its child process. Under
    ``ddp_spawn`` the results come back to the launching process's callback
    (:mod:`.spawn_results`).

    Resume: each rank's energy, elapsed time, samples, timeline and counter baselines are
    saved in the checkpoint, with one record per part of the job (start, end, energy,
    batches, optimizer steps, epochs, samples, status, checkpoint; :mod:`.parts`); a run
    resumed with ``ckpt_path`` reports the sum of its parts and lists them. A checkpoint
    written after the fit's last training batch (e.g. Lightning's ``last.ckpt``) marks its
    part as having finished training: resumed, that part is ``completed``. Energy drawn
    after the last checkpoint of a killed (SIGKILL) part is not in that checkpoint and so is
    not counted: the wall time from that checkpoint to the next part's start is stated as
    ``unmeasured_s``. A checkpoint without this callback's state gives an ``unknown`` part:
    its energy is unknown, its optimizer steps and epochs are stated.

    Interruption: when the fit is stopped (SIGINT, SIGTERM, SIGUSR1, see
    :mod:`.signals`) or fails, ``on_exception`` closes the window and writes
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
            ``trainer.default_root_dir``. A fit into a folder holding another run's results
            raises ``ConfigError`` before it trains (a resume with ``ckpt_path`` goes on).
        carbon: where the grid intensity comes from: an
            :class:`~sci_lightning.carbon.base.IntensityProvider`, a
            :class:`~sci_lightning.settings.CarbonConfig` (or dict / OmegaConf node,
            built with :func:`sci_lightning.carbon.build_provider`, fallback chain
            included), or ``None`` for the offline static table.
        sci: SCI settings (:class:`~sci_lightning.settings.SciConfig`, a dict or an
            OmegaConf node: functional unit, embodied emissions, price per hour).
        log_every_n_steps: per-step logging period in training batches; default the
            Trainer's ``log_every_n_steps`` (0: no per-step logs).
        compute_sci: ``False`` measures energy only (no intensity, no SCI report).
        report_meta: extra fields for ``sci_report.json`` (``model``, ``run_name``,
            ``hardware``, ``boundary``, ...).
        carbon_aware: optional ``callable(energy_kwh) -> dict`` returning the
            time-shifting findings stored as ``carbon_aware`` in the report.
        batch_size_fn: ``callable(batch) -> int``, the samples in a batch, for batches
            whose size Lightning's ``extract_batch_size`` cannot find or finds wrongly.
        clock: the clock of the energy windows (POSIX seconds, default ``time.time``); tests
            pass a scripted one.
        work_counter: the :class:`~sci_lightning.lightning.work_counter.WorkCounter` whose
            FLOP and parameter counts give the SCI-for-AI units (default: the one in
            ``trainer.callbacks``, found in ``setup``; none: those units are left out).

    Raises:
        ConfigError: at construction, for a misspelt or invalid ``energy`` / ``sci`` /
            ``carbon`` setting or ``log_every_n_steps < 0``; in ``setup``, for a monitor of
            ``energy/epoch_j`` checked at mid-epoch validations.

    Example::

        from lightning.pytorch import Trainer
        from sci_lightning.lightning.callback import EnergyCarbonCallback

        energy = EnergyCarbonCallback(output_dir="outputs/run1", carbon={"provider": "static", "region": "FR"})
        trainer = Trainer(max_epochs=2, callbacks=[energy])
        trainer.fit(model, datamodule=dm)
        print(energy.result.energy_kwh, energy.result.optimizer_steps, energy.result.epochs)
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
        batch_size_fn: Callable[[Any], int] | None = None,
        clock: Callable[[], float] | None = None,
        work_counter: WorkCounter | None = None,
    ) -> None:
        super().__init__()
        if log_every_n_steps is not None and (
            not isinstance(log_every_n_steps, int) or log_every_n_steps < 0
        ):
            raise ConfigError(
                f"EnergyCarbonCallback(log_every_n_steps={log_every_n_steps!r}) must be an integer >= 0"
            )
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
        self.batch_size_fn = batch_size_fn
        self._clock = clock
        self.work_counter = work_counter
        self._work_counter = work_counter
        self._monitor: EnergyMonitor | None = None
        self._provider: IntensityProvider | None = None
        self._trainer: Trainer | None = None
        self._log_n = 1
        #: Stages measured outside ``fit`` with the current Trainer (tune, validate, test, predict).
        self.stages: list[StageRecord] = []
        #: Consumer SCI of the test / predict stages measured with the current Trainer (InferenceFigures).
        self.inference: list[Any] = []
        self._stage: _OpenStage | None = None
        self._stages_trainer: Any = None
        self._token = uuid.uuid4().hex
        self._result_dirs: set[str] = set()  # where this callback wrote results (a new fit may replace them)
        register(self._token, self)
        self._reset_fit()

    def _reset_fit(self) -> None:
        """Forget every earlier fit: a new ``fit`` starts clean (a checkpoint may then load state)."""
        #: The SCI result and the report (as written to sci_report.json), after ``fit``.
        self.sci_result: Any = None
        self.report: Any = None
        #: The job's :class:`EnergyResult` after ``fit`` (``None`` before).
        self.result: EnergyResult | None = None
        #: Paths of the written ``energy.json`` and ``sci_report.json`` (rank 0), after ``fit``.
        self.energy_json_path: str | None = None
        self.report_path: str | None = None
        self._states: list[dict[str, Any]] | None = None  # per-rank monitor states: loaded, or final
        self._saved_parts: list[dict[str, Any]] = []  # part records loaded from a checkpoint
        self._previous: list[dict[str, Any]] = []  # the previous parts, as this part sees them
        self._prior: Measurement | None = None  # the previous parts' job total
        self._part_started = datetime.now(timezone.utc)
        self._resumed_from: str | None = None
        #: The parts of the job (after ``fit``), seconds not measured between them, how this part ended.
        self.parts: list[dict[str, Any]] = []
        self.unmeasured_s = 0.0
        self.end: RunEnd | None = None
        self._batches, self._unsized, self._opt_start = 0, 0, 0
        self._epochs = EpochTally()
        self._part_begun, self._fit_deferred = False, False
        self._log_t, self._log_steps, self._log_j = 0.0, 0, {}
        self._epoch_start_j, self._epoch_published = 0.0, False

    @property
    def monitor(self) -> EnergyMonitor | None:
        """The energy monitor of the current fit or stage (built in ``setup``)."""
        return self._monitor

    @property
    def meters(self) -> list[EnergyMeter]:
        """The meters in use (built in ``setup``)."""
        return self._monitor.meters if self._monitor else []

    @property
    def _mon(self) -> EnergyMonitor:
        """The monitor, in hooks that run after ``setup`` built it."""
        if self._monitor is None:
            raise RuntimeError("EnergyCarbonCallback: no energy monitor; setup() has not run")
        return self._monitor

    @property
    def _running(self) -> bool:
        return self._monitor is not None and FIT in self._monitor.open_windows

    # ------------------------------------------------------------------ setup
    @override
    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Start clean (a new fit), build the provider and this rank's meters; exchange PIDs between
        DDP ranks; open the ``tune`` window when a tuner drives this fit."""
        if trainer is not self._stages_trainer:
            self.stages, self.inference, self._stages_trainer = [], [], trainer
        self._trainer = trainer
        n = self.log_every_n_steps
        self._log_n = int(getattr(trainer, "log_every_n_steps", 50)) if n is None else n
        if stage == FIT:
            self._reset_fit()
            _check_epoch_monitors(trainer)
            self._work_counter = self.work_counter or _work_counter_in(trainer)
            if self.compute_sci:
                self._provider = self._build_provider()  # config mistakes surface here, before training
        elif stage in _INFERENCE_STAGES and self.compute_sci and self._provider is None:
            self._provider = self._build_provider()  # a test / predict without a fit before it
        self._build_monitor(trainer)
        method = tuner_method(trainer) if stage == FIT else None
        if method is not None:
            self._open_stage("tune", method)

    def _build_monitor(self, trainer: Trainer) -> None:
        if self._monitor is not None:
            self._monitor.close()
        device = trainer.strategy.root_device
        indices = None
        if device.type == "cuda":
            indices = [torch.cuda.current_device() if device.index is None else device.index]
        cfg = self.energy_config
        meters = self._user_meters if self._user_meters is not None else build_meters(cfg, indices)
        if cfg.enabled and cfg.gpu != "off" and device.type not in ("cuda", "cpu"):
            rank_zero_warn(
                f"EnergyCarbonCallback: no energy meter for accelerator {device.type!r}; not measured"
            )
            meters = [*meters, NullMeter("accelerator", str(device), "no meter for this accelerator")]
        cfg_kw: dict[str, Any] = {"config": self.energy_config, "device_indices": indices}
        if self._clock is not None:
            cfg_kw["clock"] = self._clock
        self._monitor = EnergyMonitor(meters, **cfg_kw)
        if _dist_ready(trainer):
            self._monitor.exclude_pids(_gather(trainer, os.getpid()))

    def _build_provider(self) -> IntensityProvider:
        if isinstance(self.carbon, IntensityProvider):
            return self.carbon
        from sci_lightning.carbon import build_provider
        from sci_lightning.settings import CarbonConfig, coerce

        return build_provider(coerce(CarbonConfig, self.carbon, "carbon"))

    # ------------------------------------------------------------------ fit
    @override
    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Close a tuner's window, open the ``fit`` window (the sanity check is part of the fit)."""
        self._trainer = trainer
        assert self._monitor is not None, "setup(stage='fit') builds the monitor"
        try:  # here, not in setup: Lightning has read the checkpoint of a resume by now
            out = (
                self.output_dir
                or getattr(trainer, "log_dir", None)
                or getattr(trainer, "default_root_dir", "")
            )
            _refuse_another_runs_reports(trainer, out, self._result_dirs)
        except ConfigError:
            self._stage = None  # a tuner's fit refused: nothing was measured, nothing is written
            raise
        self._fit_deferred = _tuner_hooks_after(self, trainer)  # its search runs after this hook
        if not self._fit_deferred:
            self._begin_fit_window(trainer)

    def _begin_fit_window(self, trainer: Trainer) -> None:
        """Close a tuner's window (its search is over), open the ``fit`` window."""
        assert self._monitor is not None, "setup(stage='fit') builds the monitor"
        self._fit_deferred = False
        if self._stage is not None and self._stage.name == "tune":
            self._close_stage(trainer, "completed")
        self._part_begun = False
        self._monitor.begin_window(FIT)
        self._mark_logged()

    @override
    def on_sanity_check_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Open the ``fit`` window here when a tuner callback searched after ``on_fit_start``."""
        if self._fit_deferred:
            self._begin_fit_window(trainer)

    @override
    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Begin the part: Lightning has restored the checkpoint's loops and callback state by now."""
        if self._fit_deferred:
            self._begin_fit_window(trainer)
        if self._running and not self._part_begun:
            self._begin_part(trainer, self._states or [])

    def _begin_part(self, trainer: Trainer, states: list[dict[str, Any]]) -> None:
        """The previous parts' records and job total (this rank's share added to the window); the
        killed one's unmeasured time; the training before a checkpoint without energy state."""
        self._part_begun, self._part_started, self.end = True, datetime.now(timezone.utc), None
        self._resumed_from = getattr(trainer, "ckpt_path", None)
        self._opt_start = trainer.global_step
        self._prior = _job_of(states)
        self._previous, self.unmeasured_s = adopt_previous(
            self._saved_parts,
            self._prior,
            resumed_from=self._resumed_from,
            started_at=self._part_started,
            pue=self.energy_config.pue,
        )
        self._load_previous_parts(trainer)
        if (
            self._resumed_from
            and not self._previous
            and (trainer.global_step > 0 or trainer.current_epoch > 0)
        ):
            self._previous = [self._unknown_part(trainer)]
        self.parts = list(self._previous)

    def _unknown_part(self, trainer: Trainer) -> dict[str, Any]:
        """The training before a checkpoint without energy state: its steps and epochs, energy unknown."""
        progress = trainer.fit_loop.epoch_loop.batch_progress
        per_epoch = batches_per_epoch(trainer)
        # after an epoch-end checkpoint current_epoch already counts that epoch and the batch count is stale
        within = (progress.current.completed % per_epoch) / per_epoch if per_epoch else 0.0
        epochs = trainer.current_epoch + within if per_epoch else None
        work = WorkDone(batches=None, optimizer_steps=trainer.global_step, samples=None, epochs=epochs)
        return unknown_part(work, ended_at=None, checkpoint=self._resumed_from)

    def _load_previous_parts(self, trainer: Trainer) -> None:
        """Give this rank its share of the checkpoint: old rank r's parts go to rank r mod world size."""
        states, self._states = self._states or [], None
        rank, world = getattr(trainer, "global_rank", 0), getattr(trainer, "world_size", 1)
        if states and len(states) != world:
            rank_zero_warn(
                f"EnergyCarbonCallback: resuming a {len(states)}-rank checkpoint on {world} ranks; a device that"
                " several old ranks shared may be counted once per old rank"
            )
        if states[rank::world]:
            self._mon.load_state_dict(*states[rank::world])

    def _work(self, trainer: Trainer, job: Measurement | None) -> WorkDone:
        """This part's work: batches and samples from the (all-rank) window, steps and epochs counted here."""
        prior = self._prior
        batches = (job.steps if job else 0) - (prior.steps if prior else 0)
        samples = (job.images if job else 0) - (prior.images if prior else 0)
        return WorkDone(
            batches=int(batches),
            optimizer_steps=int(trainer.global_step - self._opt_start),
            samples=int(samples),
            epochs=self._epochs.epochs,
        )

    def _part(self, trainer: Trainer, job: Measurement, end: RunEnd | None) -> dict[str, Any]:
        """This part's record: ``running`` (a checkpoint while training) or its end."""
        return part_record(
            job,
            self._prior,
            self._work(trainer, job),
            number=len(self._previous) + 1,
            started_at=self._part_started,
            now=datetime.now(timezone.utc),
            pue=self.energy_config.pue,
            status=end.status if end else "running",
            signal=end.signal if end else None,
            error=end.error if end else None,
            resumed_from=self._resumed_from,
            checkpoint=_last_ckpt(trainer),
            training_done=training_done(trainer) if end is None else end.status == "completed",
        )

    @override
    def on_train_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: STEP_OUTPUT,
        batch: object,
        batch_idx: int,
    ) -> None:
        """Count the batch, its samples and its share of an epoch; one reading per meter when due;
        log every ``log_every_n_steps`` batches; the epoch's energy after its last batch."""
        if not self._running:
            return
        size = batch_size(batch, self.batch_size_fn)
        self._unsized += size is None
        self._mon.record_step(images=size or 0)
        self._batches += 1
        self._epochs.add_batch(batches_per_epoch(trainer))
        if self._log_n > 0 and (self._batches == 1 or self._batches % self._log_n == 0):
            self._log_step(trainer)
        if is_last_batch(trainer):
            self._publish_epoch(trainer)

    def _mark_logged(self) -> None:
        """Remember the reading the last per-step log was computed from."""
        monitor = self._mon
        self._log_t, self._log_steps, self._log_j = (
            monitor.last_read_ts,
            monitor.steps_read,
            monitor.latest_j(),
        )

    def _log_step(self, trainer: Trainer) -> None:
        """Power and energy per batch between the last two logged readings (the monitor reads
        at most every ``energy.min_read_interval_s``, so a reading covers several batches; a log
        with no reading since the previous one takes one, so no logged point is empty)."""
        monitor = self._mon
        if monitor.steps_read == self._log_steps:
            monitor.advance()
        latest = monitor.latest_j()
        duration_s, batches = monitor.last_read_ts - self._log_t, monitor.steps_read - self._log_steps
        delta_j = {name: j - self._log_j.get(name, 0.0) for name, j in latest.items()}
        window_j = sum(delta_j.values())
        metrics = {power_w(name): j / duration_s for name, j in delta_j.items()} if duration_s > 0 else {}
        if duration_s > 0:
            metrics[POWER_TOTAL_W] = window_j / duration_s
        if batches > 0:
            metrics[BATCH_J] = window_j / batches
        so_far_j = self._mon.energy_so_far_j(FIT) * self.energy_config.pue
        metrics[SO_FAR_KWH], metrics[SO_FAR_WH] = so_far_j / 3.6e6, so_far_j / 3600.0
        publish(trainer, metrics, step=log_step(trainer))
        self._mark_logged()

    def _publish_epoch(self, trainer: Trainer) -> None:
        """``energy/epoch_j``: IT energy from the epoch's start to its last training batch."""
        if self._epoch_published:
            return
        self._mon.advance()
        publish(
            trainer,
            {EPOCH_J: self._mon.energy_so_far_j(FIT) - self._epoch_start_j},
            step=log_step(trainer),
        )
        self._epoch_published = True

    @override
    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self._running:
            self._epoch_start_j, self._epoch_published = self._mon.energy_so_far_j(FIT), False

    @override
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """A per-step point at the epoch's end; the epoch's energy if an early stop cut it short."""
        if not self._running:
            return
        if self._epoch_published:
            self._mon.advance()
        self._publish_epoch(trainer)
        if self._log_n > 0 and self._mon.steps_read > self._log_steps:  # batches since the last point
            self._log_step(trainer)

    @override
    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Close the window, combine the ranks, write ``energy.json``, log totals, run the SCI step."""
        if self._running:
            self._finish(trainer, pl_module, RunEnd())

    def _finish(self, trainer: Trainer, pl_module: LightningModule, end: RunEnd) -> None:
        """End the part: final per-rank states (for the last checkpoint), the job result and its files."""
        if not self._part_begun:  # no training loop ran (e.g. the checkpoint had reached max_steps)
            self._begin_part(trainer, self._states or [])
        local = self._mon.end_window(FIT)
        self._mon.close()
        per_rank = self._per_rank(trainer, local, end)
        self._states = [EnergyMonitor.state_of({FIT: m}) for m in per_rank]
        job = reduce_measurements(per_rank)
        self.end = end
        self.parts = [*self._previous, self._part(trainer, job, end)]
        work = sum_work([part_work(p) for p in self.parts if p.get("it_energy_j") is not None])
        self.result = job.to_result(
            pue=self.energy_config.pue,
            steps=work.optimizer_steps or 0,
            epochs=work.epochs,
            batches=work.batches or 0,
            images=work.samples or 0,
            world_size=len(per_rank),
        )
        self.result.warnings.extend(self._end_notes())
        if trainer.is_global_zero:
            self._write(trainer, self.result)
            publish(trainer, fit_energy_metrics(self.result), step=log_step(trainer))
            self._after_energy(trainer, pl_module, self.result)
            self._send_results(trainer, pl_module, self.result)

    def _per_rank(self, trainer: Trainer, local: Measurement, end: RunEnd) -> list[Measurement]:
        """Every rank's measurement; this rank's only when the ranks are not in step (e.g. after Ctrl-C)."""
        if not end.ranks_in_step and _dist_ready(trainer):
            local.warnings.append(f"{end.signal or end.status}: rank {trainer.global_rank}'s energy only")
            return [local]
        try:
            return _gather(trainer, local)
        except Exception as err:
            msg = f"could not gather energy from the other ranks ({err!r}); this is rank {trainer.global_rank}'s only"
            rank_zero_warn(msg)
            local.warnings.append(msg)
            return [local]

    def _end_notes(self) -> list[str]:
        """Report lines: how this part ended, the parts of a resumed job, what was not counted."""
        notes = part_notes(self.parts, self.unmeasured_s)
        end = self.end
        if end is not None and end.status == "interrupted":
            notes.insert(0, f"Run status: interrupted by {end.signal}; the figures cover the part that ran.")
        elif end is not None and end.status == "failed":
            notes.insert(0, f"Run status: failed ({end.error}); the figures cover the part that ran.")
        if self._unsized:
            notes.append(
                f"{self._unsized} training batch(es) had no batch size Lightning's extract_batch_size could"
                " find; their samples are not counted (pass EnergyCarbonCallback(batch_size_fn=...))."
            )
        if self.result is not None and self.result.epochs is None:
            notes.append(
                "The training data has no length (an iterable dataset): the job's epochs are unknown."
            )
        return notes

    def run_record(self) -> dict[str, Any]:
        """``status``, ``interruption``, ``parts``, ``unmeasured_s`` and ``stages`` (energy.json, report meta)."""
        end = self.end or RunEnd("running")
        interruption = (
            None if end.status in ("completed", "running") else {"signal": end.signal, "error": end.error}
        )
        return {
            "status": end.status,
            "interruption": interruption,
            "parts": self.parts,
            "unmeasured_s": round(self.unmeasured_s, 3),
            "stages": [s.to_dict() for s in self.stages],
        }

    def _after_energy(self, trainer: Trainer, pl_module: LightningModule, result: EnergyResult) -> None:
        """The carbon/SCI step on rank 0 (:func:`.sci_step.run_sci_step`); a fault only warns."""
        if not self.compute_sci or self._provider is None:
            return
        from sci_lightning.lightning.sci_step import run_sci_step

        try:
            out_dir = self._output_dir(trainer)
            self.sci_result, self.report = run_sci_step(
                trainer,
                pl_module,
                result,
                provider=self._provider,
                carbon=self.carbon,
                sci=self.sci,
                out_dir=out_dir,
                report_meta={**self.report_meta, **self.run_record(), "inference": self.inference},
                carbon_aware=self.carbon_aware,
                work=self._work_counter.work_counts() if self._work_counter is not None else None,
            )
            self.report_path = os.path.join(out_dir, "sci_report.json")
            self._result_dirs.add(os.path.abspath(out_dir))
        except Exception as err:
            msg = redact(
                f"EnergyCarbonCallback: the SCI report could not be produced ({type(err).__name__}: {err})"
            )
            rank_zero_warn(msg)
            result.warnings.append(msg)

    @override
    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        """Interrupted or failed: the part's (or stage's) files, marked so (the last checkpoint
        follows, see :mod:`.checkpointing`); then stop the meter threads."""
        try:
            if self._stage is not None and self._monitor is not None:
                self._close_stage(trainer, run_end(exception).status)
            if self._running:
                self._finish(trainer, pl_module, run_end(exception))
        finally:
            if self._monitor is not None:
                self._monitor.close()

    @override
    def teardown(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Close a tuner's window (``Tuner`` ends its fit here), stop the meters; under ``ddp_spawn``
        queue the results for the launching process (after the last checkpoint, which must not carry them)."""
        if self._stage is not None and self._stage.name == "tune" and self._monitor is not None:
            self._close_stage(trainer, "completed")
        if self._monitor is not None:
            self._monitor.close()
        send_home(trainer, self._token, self._results_payload())

    # ------------------------------------------------------------------ stages
    def _open_stage(self, name: str, method: str | None = None) -> None:
        self._stage = _OpenStage(name, method)
        self._mon.begin_window(name)

    def _count_stage_batch(self, batch: object) -> None:
        size = batch_size(batch, self.batch_size_fn)
        if self._stage is not None:
            self._stage.batches += 1
            self._stage.samples += size or 0

    def _close_stage(self, trainer: Trainer, status: str) -> None:
        """End the stage window: one :class:`StageRecord` (all ranks), logged and written."""
        open_, self._stage = self._stage, None
        if open_ is None:
            return
        local = self._mon.end_window(open_.name)
        mine = (local, open_.batches, open_.samples)
        ranks = _gather(trainer, mine) if status == "completed" else [mine]
        job = reduce_measurements([r[0] for r in ranks])
        pue = self.energy_config.pue
        qualities = {c.quality for c in job.components}
        counted = open_.name != "tune"  # a tuner switches the Trainer's callbacks off during its trials
        notes = list(job.warnings) + (
            []
            if counted
            else [
                f"{open_.method}: its trial batches run with the Trainer's callbacks switched off, so they are not"
                " counted; the energy of the whole search is measured"
            ]
        )
        record = StageRecord(
            stage=open_.name,
            started_at=job.started_at.isoformat(),
            ended_at=job.ended_at.isoformat(),
            duration_s=job.duration_s,
            energy_kwh=job.energy_j * pue / 3.6e6,
            it_energy_kwh=job.energy_j / 3.6e6,
            pue=pue,
            samples=sum(r[2] for r in ranks) if counted else None,
            batches=max(r[1] for r in ranks) if counted else None,
            quality=qualities.pop() if len(qualities) == 1 else ("mixed" if qualities else "estimated"),
            methods=sorted({f"{c.component}:{c.method}" for c in job.components}),
            method=open_.method,
            status=status,
            world_size=len(ranks),
            notes=notes,
        )
        self.stages.append(record)
        if trainer.is_global_zero:
            publish(trainer, stage_energy_metrics(record), step=trainer.global_step)
            if record.stage in _INFERENCE_STAGES and status == "completed":
                self._score_inference(trainer, record)
            self._write_stages(trainer)

    def _stage_intensity(self, record: StageRecord) -> tuple[float | None, str]:
        """I over the stage's window from the fit's provider (static table last), and its source in words."""
        if not self.compute_sci or self._provider is None:
            return None, "not computed (EnergyCarbonCallback(compute_sci=False))"
        from sci_lightning.lightning.sci_step import stage_intensity

        return stage_intensity(
            self._provider,
            self.carbon,
            self.sci,
            datetime.fromisoformat(record.started_at),
            datetime.fromisoformat(record.ended_at),
        )

    def _score_inference(self, trainer: Trainer, record: StageRecord) -> None:
        """The stage's Consumer SCI (:func:`~sci_lightning.sci.inference.inference_for_stage`), logged
        and kept in :attr:`inference`; a fault only warns."""
        from sci_lightning.sci.inference import inference_for_stage

        try:
            intensity, source = self._stage_intensity(record)
            fig = inference_for_stage(
                stage=record.stage,
                energy_kwh=record.energy_kwh,
                duration_s=record.duration_s,
                samples=record.samples or 0,
                intensity_g_per_kwh=intensity,
                sci=self.sci,
                intensity_source=source,
                quality=record.quality,
                method=", ".join(record.methods) or None,
            )
        except Exception as err:
            rank_zero_warn(
                redact(
                    f"EnergyCarbonCallback: no Consumer SCI for the {record.stage} stage"
                    f" ({type(err).__name__}: {err})"
                )
            )
            return
        self.inference.append(fig)
        publish(trainer, inference_metrics(fig), step=trainer.global_step)
        per_1000 = "n/a" if fig.sci_per_1000_g is None else f"{fig.sci_per_1000_g:.4g}"
        rank_zero_info(
            f"EnergyCarbonCallback: {record.stage} Consumer SCI {per_1000} gCO2e/1000 inferences"
            f" over {fig.samples} samples; intensity: {source}"
        )

    def _stage_hook(self, trainer: Trainer, name: str, begin: bool) -> None:
        if _stage_of(trainer) != name or self._monitor is None:
            return  # validation inside fit belongs to the fit
        if begin:
            self._open_stage(name)
        elif self._stage is not None and self._stage.name == name:
            self._close_stage(trainer, "completed")

    def _stage_batch(self, name: str, batch: object) -> None:
        if self._stage is not None and self._stage.name == name:
            self._count_stage_batch(batch)

    @override
    def on_validation_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._stage_hook(trainer, "validate", begin=True)

    @override
    def on_validation_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: STEP_OUTPUT,
        batch: object,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        self._stage_batch("validate", batch)

    @override
    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._stage_hook(trainer, "validate", begin=False)

    @override
    def on_test_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._stage_hook(trainer, "test", begin=True)

    @override
    def on_test_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: STEP_OUTPUT,
        batch: object,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        self._stage_batch("test", batch)

    @override
    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._stage_hook(trainer, "test", begin=False)

    @override
    def on_predict_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._stage_hook(trainer, "predict", begin=True)

    @override
    def on_predict_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: object,
        batch: object,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        self._stage_batch("predict", batch)

    @override
    def on_predict_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._stage_hook(trainer, "predict", begin=False)

    # ------------------------------------------------------------------ results
    def _output_dir(self, trainer: Trainer) -> str:
        return self.output_dir or trainer.log_dir or trainer.default_root_dir

    def _write(self, trainer: Trainer, result: EnergyResult) -> None:
        path = os.path.join(self._output_dir(trainer), "energy.json")
        try:
            atomic_write_json(path, {**result.to_dict(), **self.run_record()})
            self.energy_json_path = path
            self._result_dirs.add(os.path.dirname(os.path.abspath(path)))
        except OSError as err:
            rank_zero_warn(
                f"EnergyCarbonCallback: could not write {path} ({err}); the result is in callback.result"
            )

    def _write_stages(self, trainer: Trainer) -> None:
        """``stages.json``, and the ``stages`` (and ``inference``) of this Trainer's fit's ``energy.json``
        and report, if written."""
        from sci_lightning.sci.codec import encode
        from sci_lightning.sci.writer import add_stages

        out = self._output_dir(trainer)
        records = [s.to_dict() for s in self.stages]
        try:
            atomic_write_json(
                os.path.join(out, "stages.json"),
                {"stages": records, "inference": [encode(f) for f in self.inference]},
            )
            if self.result is not None and self.energy_json_path:
                atomic_write_json(self.energy_json_path, {**self.result.to_dict(), **self.run_record()})
            if self.report_path and os.path.exists(self.report_path):
                self.report = add_stages(self.report_path, records, inference=self.inference)
        except Exception as err:
            rank_zero_warn(
                f"EnergyCarbonCallback: could not write the {self.stages[-1].stage} stage's files ({err})"
            )

    def _results_payload(self) -> dict[str, Any]:
        """What the launching process of a ``ddp_spawn`` fit receives (plain data, :mod:`.spawn_results`)."""
        return {
            "result": self.result.to_dict() if self.result else None,
            "report": self.report.to_dict() if self.report is not None else None,
            "energy_json_path": self.energy_json_path,
            "report_path": self.report_path,
            "parts": self.parts,
            "unmeasured_s": self.unmeasured_s,
            "end": self.end.to_dict() if self.end else None,
            "stages": [s.to_dict() for s in self.stages],
            "inference": list(self.inference),
        }

    def receive_results(self, payload: dict[str, Any]) -> None:
        """Take the results of a fit that ran in spawned processes (see :mod:`.spawn_results`);
        :attr:`sci_result` stays ``None`` there (its figures are in :attr:`report`)."""
        from sci_lightning.sci.report import SciReport

        result, report, end = payload.get("result"), payload.get("report"), payload.get("end")
        self.result = EnergyResult.from_dict(result) if result else None
        self.report = SciReport.from_dict(report) if report else None
        self.end = RunEnd(**end) if end else None
        self.stages = [StageRecord(**s) for s in payload.get("stages", [])]
        self.inference = list(payload.get("inference", []))
        self.energy_json_path, self.report_path = payload.get("energy_json_path"), payload.get("report_path")
        if self.energy_json_path:
            self._result_dirs.add(os.path.dirname(os.path.abspath(self.energy_json_path)))
        self.parts, self.unmeasured_s = (
            list(payload.get("parts", [])),
            float(payload.get("unmeasured_s", 0.0)),
        )

    def _send_results(self, trainer: Trainer, pl_module: LightningModule, result: EnergyResult) -> None:
        """The run's settings and results (HParams), the report files (MLflow, W&B); flush the loggers."""
        from sci_lightning.sci.loggers import log_artifacts, log_run_results

        if self.sci_result is not None:  # logged by the SCI step; here for Lightning's monitors
            publish(trainer, sci_metrics(self.sci_result), to_loggers=False)
        params, results = run_results(trainer, pl_module, result, self.sci_result, self.report_meta)
        publish(trainer, results, to_loggers=False)
        log_run_results(list(trainer.loggers), params, results, step=log_step(trainer))
        out = self._output_dir(trainer)
        names = ("energy.json", "sci_report.json", "sci_report.md", "impact.yml")
        log_artifacts(list(trainer.loggers), [os.path.join(out, name) for name in names])
        for logger in trainer.loggers:
            try:
                logger.save()
            except Exception:
                pass

    # ------------------------------------------------------------------ checkpoint
    @override
    def state_dict(self) -> dict[str, Any]:
        """Every rank's monitor state (previous parts + this part) and the part records, for resuming.

        While fitting under DDP this gathers from every rank, so it must be called on all
        ranks together, as ``Trainer.save_checkpoint`` does.
        """
        if self._running and self._trainer is not None:
            if not self._part_begun:
                self._begin_part(self._trainer, self._states or [])
            ranks = _gather(self._trainer, self._mon.state_dict())
            job = _job_of(ranks)
            assert job is not None, "a running fit has its fit window open on every rank"
            parts = [*self._previous, self._part(self._trainer, job, None)]
            return {"version": _STATE_VERSION, "ranks": ranks, "parts": parts}
        state: dict[str, Any] = {"version": _STATE_VERSION}
        if self._states:
            state["ranks"] = self._states
        parts = self.parts or self._saved_parts
        if parts:
            state["parts"] = parts
        return state

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Keep the previous parts; each rank adds its share when the fit starts."""
        version = state_dict.get("version")
        if version not in _READABLE_STATES:
            rank_zero_warn(
                f"EnergyCarbonCallback: checkpoint energy state has version {version!r}, expected"
                f" {_STATE_VERSION}; previous parts' energy is not included"
            )
            return
        self._states = list(state_dict.get("ranks", [])) or None
        self._saved_parts = list(state_dict.get("parts", []))

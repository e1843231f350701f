"""The accounting model: what a job, a part, a stage, a batch, an optimizer step, an epoch and a
sample are, and how a part ends. Plain data, no torch, no Lightning (docs/accounting.md).

- **job**: one training run, from its first ``fit`` to its last, possibly resumed from
  checkpoints; its figures are the sum of its parts.
- **part**: one process's (one ``Trainer.fit`` call's) contribution to the job. A part
  record (a plain dict, :func:`sci_lightning.lightning.parts.part_record`) holds the energy,
  duration and :class:`WorkDone` of that part only, and how it ended (:data:`PART_STATUSES`).
  "Part" means this and nothing else: the energy layer calls what one process measured of
  a window a *segment* (:mod:`sci_lightning.energy.reduce`), and the GPU check's pieces are
  *sections* (``benchmarks/gpu_check_sections/``).
- **stage**: what the Trainer was doing: ``fit`` (training and its validation), or
  ``validate``, ``test``, ``predict``, ``tune`` (``Tuner.lr_find`` /
  ``scale_batch_size``), each measured in its own window (:class:`StageRecord`). The
  job's SCI is the ``fit``'s; the other stages are reported beside it.
- **batch**: one ``training_step`` call (one ``on_train_batch_end``).
- **optimizer step**: one ``optimizer.step()`` that Lightning counts (``trainer.global_step``
  advances by one): with ``accumulate_grad_batches=4`` one per 4 batches; with manual
  optimization, one per optimizer stepped (two optimizers stepping every batch: two per batch).
- **epoch**: fractional, ``batches / batches per epoch`` summed over the batches run
  (``max_steps=7`` of 32-batch epochs is 0.21875 epochs); unknown (``None``) when the
  training data has no length (an iterable dataset).
- **sample**: the batch size of each training batch, found as Lightning finds it
  (``extract_batch_size``: the first dimension of the first tensor in the batch, dataclasses
  and mappings searched) or by a user's ``batch_size_fn``; summed over the ranks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any, TypeVar

__all__ = [
    "FIT",
    "PART_STATUSES",
    "STAGES",
    "EpochTally",
    "StageRecord",
    "WorkDone",
    "part_work",
    "sum_work",
]

#: The name of the training stage, and of the EnergyMonitor window that measures it.
FIT = "fit"
#: Every stage measured in its own window.
STAGES = (FIT, "validate", "test", "predict", "tune")
#: How a part ends: ``running`` (in a checkpoint written while it trained), ``completed``,
#: ``interrupted`` (a signal), ``failed`` (an exception), ``killed`` (it never wrote its end:
#: a later part found it still ``running``), ``unknown`` (a checkpoint without energy state).
PART_STATUSES = ("running", "completed", "interrupted", "failed", "killed", "unknown")


@dataclass
class WorkDone:
    """What a part (or the job) did: batches, optimizer steps, samples and fractional epochs.

    ``epochs`` is ``None`` when unknown (iterable data, or a part recorded before
    epochs were counted); ``optimizer_steps`` and ``batches`` likewise for such parts.
    """

    batches: int | None = 0
    optimizer_steps: int | None = 0
    samples: int | None = 0
    epochs: float | None = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_N = TypeVar("_N", int, float)


def _add(a: _N | None, b: _N | None) -> _N | None:
    return None if a is None or b is None else a + b


def sum_work(works: list[WorkDone]) -> WorkDone:
    """The job's work from its parts' (a figure unknown in any part is unknown for the job)."""
    out = WorkDone()
    for w in works:
        out = WorkDone(
            batches=_add(out.batches, w.batches),
            optimizer_steps=_add(out.optimizer_steps, w.optimizer_steps),
            samples=_add(out.samples, w.samples),
            epochs=_add(out.epochs, w.epochs),
        )
    return out


def part_work(record: dict[str, Any]) -> WorkDone:
    """The work of a saved part record (older records: ``steps`` were batches, ``images`` samples)."""
    return WorkDone(
        batches=record.get("batches", record.get("steps")),
        optimizer_steps=record.get("optimizer_steps"),
        samples=record.get("samples", record.get("images")),
        epochs=record.get("epochs"),
    )


@dataclass
class EpochTally:
    """Fractional epochs from the batches run: each batch is ``1 / batches_per_epoch`` of an epoch.

    Exact (fractions), so 3 batches of a 3-batch epoch are 1.0 epoch, not 0.999...
    A batch of an epoch of unknown length (``None`` or infinite) makes the tally unknown.
    """

    done: Fraction = field(default_factory=Fraction)
    known: bool = True

    def add_batch(self, batches_per_epoch: float | int | None) -> None:
        if batches_per_epoch is None or batches_per_epoch == float("inf") or batches_per_epoch <= 0:
            self.known = False
            return
        self.done += Fraction(1, int(batches_per_epoch))

    @property
    def epochs(self) -> float | None:
        return float(self.done) if self.known else None


@dataclass
class StageRecord:
    """One stage run outside ``fit`` (validate, test, predict, tune): its own energy window.

    ``energy_kwh`` is facility energy (IT x PUE); ``samples`` and ``batches`` are what
    the stage's loop ran (all ranks' samples); ``None`` for ``tune``, whose trials run with
    the Trainer's callbacks switched off (the energy is measured, the batches are not seen). ``method`` names the tuner
    (``lr_find`` | ``scale_batch_size``) for ``tune``; ``quality`` is ``measured``,
    ``estimated`` or ``mixed`` (the components' methods are in ``methods``).
    """

    stage: str
    started_at: str
    ended_at: str
    duration_s: float
    energy_kwh: float
    it_energy_kwh: float
    pue: float
    samples: int | None
    batches: int | None
    quality: str
    methods: list[str] = field(default_factory=list)
    method: str | None = None
    status: str = "completed"
    world_size: int = 1
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

"""The parts of a resumed job: one record per ``fit`` (start, end, energy, work, status, checkpoint).

A part's record is saved in every checkpoint: status ``running`` while it trains (with
``training_done`` true once the fit has run its last batch, e.g. Lightning's own
``ModelCheckpoint(save_last=True)`` writing ``last.ckpt`` at the last epoch end), its final
status when it ends. When a job is resumed, a previous part still marked ``running`` either

- had finished training (``training_done``): it is ``completed``; what it drew after that
  checkpoint (the fit's teardown, no training) is not in the checkpoint, and the time
  until the next part is idle, not unmeasured; or
- was killed (e.g. SIGKILL) after that checkpoint: it becomes ``killed``, and what it did
  between that checkpoint's ``saved_at`` and the start of the next part was not measured,
  stated as ``unmeasured_s`` (no energy is invented for it).

A checkpoint that carries no energy state at all gives one ``unknown`` part: its energy is
not known, its optimizer steps and epochs are (from the Trainer's restored position).
Under SLURM each part records its job
(``slurm``: job id, restart count, node; :func:`~.distributed.slurm_job`), and the wait
between a part's end and its requeued successor's start is stated as not measured.
Plain data, no Lightning; the counts follow :mod:`sci_lightning.accounting`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sci_lightning.accounting import WorkDone, part_work
from sci_lightning.energy.base import Measurement
from sci_lightning.lightning.distributed import slurm_job

__all__ = ["adopt_previous", "part_notes", "part_record", "unknown_part"]


def _counts(work: WorkDone) -> dict[str, Any]:
    """The work fields of a part record, plus ``steps`` (= batches) and ``images`` (= samples),
    the names earlier files used, kept for their readers."""
    return {**work.to_dict(), "steps": work.batches, "images": work.samples}


def part_record(
    job: Measurement,
    prior: Measurement | None,
    work: WorkDone,
    *,
    number: int,
    started_at: datetime,
    now: datetime,
    pue: float,
    status: str,
    signal: str | None = None,
    error: str | None = None,
    resumed_from: str | None = None,
    checkpoint: str | None = None,
    training_done: bool = False,
) -> dict[str, Any]:
    """This part's own figures: energy of the job so far (``job``) minus the previous parts
    (``prior``), and this part's ``work``."""

    def own(attr: str) -> float:
        return getattr(job, attr) - (getattr(prior, attr) if prior is not None else 0)

    it_j = own("energy_j")
    return {
        "part": number,
        "started_at": started_at.isoformat(),
        "ended_at": now.isoformat(),
        "saved_at": now.isoformat(),
        "duration_s": own("duration_s"),
        "it_energy_j": it_j,
        "energy_j": it_j * pue,
        **_counts(work),
        "status": status,
        "training_done": training_done,
        "signal": signal,
        "error": error,
        "resumed_from": resumed_from,
        "checkpoint": checkpoint,
        "slurm": slurm_job(),
    }


def unknown_part(work: WorkDone, *, ended_at: datetime | None, checkpoint: str | None) -> dict[str, Any]:
    """The part(s) behind a checkpoint without energy state: work known, energy unknown."""
    when = ended_at.isoformat() if ended_at else None
    return {
        "part": 1,
        "started_at": None,
        "ended_at": when,
        "saved_at": when,
        "duration_s": None,
        "it_energy_j": None,
        "energy_j": None,
        **_counts(work),
        "status": "unknown",
        "training_done": None,
        "signal": None,
        "error": None,
        "resumed_from": None,
        "checkpoint": checkpoint,
    }


def _legacy_part(prior: Measurement, pue: float) -> dict[str, Any]:
    """A checkpoint written before parts were recorded: its energy as one part."""
    work = WorkDone(batches=prior.steps, optimizer_steps=None, samples=prior.images, epochs=None)
    return {
        "part": 1,
        "started_at": prior.started_at.isoformat(),
        "ended_at": prior.ended_at.isoformat(),
        "saved_at": prior.ended_at.isoformat(),
        "duration_s": prior.duration_s,
        "it_energy_j": prior.energy_j,
        "energy_j": prior.energy_j * pue,
        **_counts(work),
        "status": "unknown",
        "training_done": None,
        "signal": None,
        "error": None,
        "resumed_from": None,
        "checkpoint": None,
    }


def adopt_previous(
    saved: list[dict[str, Any]],
    prior: Measurement | None,
    *,
    resumed_from: str | None,
    started_at: datetime,
    pue: float,
) -> tuple[list[dict[str, Any]], float]:
    """The previous parts as this part sees them, and the wall time not measured between them (s).

    The last saved part gets ``resumed_from`` as its checkpoint; if it was still
    ``running`` in that checkpoint it either had finished training (``completed``) or was
    ``killed``: then it ends at the checkpoint's ``saved_at`` and the time from then to
    ``started_at`` is unmeasured.
    """
    parts = [dict(p) for p in saved]
    if not parts and prior is not None:
        parts = [_legacy_part(prior, pue)]
    unmeasured_s = sum(float(p.get("unmeasured_after_s") or 0.0) for p in parts)
    if not parts:
        return parts, 0.0
    last = parts[-1]
    last["checkpoint"] = last.get("checkpoint") or resumed_from
    if last.get("status") == "running":
        if last.get("training_done"):
            last.update(status="completed", ended_at=last["saved_at"], checkpoint=resumed_from)
            return parts, unmeasured_s
        gap_s = max(0.0, (started_at - datetime.fromisoformat(last["saved_at"])).total_seconds())
        last.update(
            status="killed", ended_at=last["saved_at"], unmeasured_after_s=gap_s, checkpoint=resumed_from
        )
        unmeasured_s += gap_s
    return parts, unmeasured_s


def _energy_text(p: dict[str, Any]) -> str:
    return "energy unknown" if p.get("it_energy_j") is None else f"{p['it_energy_j']:.1f} J IT"


def part_notes(parts: list[dict[str, Any]], unmeasured_s: float) -> list[str]:
    """Plain-text lines for the report: the parts of a resumed job and what was not measured."""
    notes: list[str] = []
    if len(parts) > 1:
        listed = "; ".join(
            f"part {p['part']}: {p.get('started_at') or '?'} to {p.get('ended_at') or '?'}, {_energy_text(p)}, "
            f"{p['status']}" + (f" ({p['signal']})" if p.get("signal") else "")
            for p in parts
        )
        notes.append(
            f"Resumed job in {len(parts)} parts; the totals are the sum of the measured parts. {listed}."
        )
    for p in parts:
        if p.get("status") == "unknown" and p.get("it_energy_j") is None:
            w = part_work(p)
            epochs = "an unknown number of" if w.epochs is None else f"{w.epochs:g}"
            notes.append(
                f"Resumed from a checkpoint without energy state ({p.get('checkpoint')}): the energy of the training"
                f" before it ({w.optimizer_steps} optimizer steps, {epochs} epochs) is unknown and not included;"
                " the job's energy, batches, samples and epochs cover the measured parts only."
            )
        gap_s = p.get("unmeasured_after_s")
        if gap_s:
            notes.append(
                f"Part {p['part']} was killed after its last checkpoint ({p['saved_at']}): the {gap_s:.1f} s of wall"
                " time from that checkpoint to the start of the next part were not measured; the energy drawn"
                " then (if the process kept training) is not counted."
            )
    notes.extend(_requeue_gaps(parts))
    if unmeasured_s and not any(p.get("unmeasured_after_s") for p in parts):
        notes.append(f"{unmeasured_s:.1f} s of wall time were not measured.")
    return notes


def _requeue_gaps(parts: list[dict[str, Any]]) -> list[str]:
    """One line per SLURM requeue: the wait from a part's end to the next part's start, not measured."""
    notes = []
    for before, after in zip(parts, parts[1:]):
        slurm = after.get("slurm")
        if not slurm or before.get("unmeasured_after_s"):
            continue  # not a SLURM part, or a killed part (its gap is stated above)
        gap_s = (
            datetime.fromisoformat(after["started_at"]) - datetime.fromisoformat(before["ended_at"])
        ).total_seconds()
        notes.append(
            f"Part {after['part']} is SLURM job {slurm['job_id']}'s run {slurm['restart_count'] + 1}: the {gap_s:.1f} s"
            f" from part {before['part']}'s end to its start (requeue, queue wait, start-up) were not measured."
        )
    return notes

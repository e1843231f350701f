"""Property tests of the accounting model over random batch counts, accumulation, limits and
interruption points: the parts always sum to the job, and every figure is the scripted one
(10 W x 1 s per training batch), whichever hook read the meter last."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lightning.pytorch.callbacks import ModelCheckpoint
from scripted import ScriptClock, ScriptedModule

from tests.e2e.test_accounting_matrix import P_W, _cb, _trainer

pytestmark = pytest.mark.slow

BATCH = 2
_SETTINGS = settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _check_job(cb, trainer, per_epoch: int) -> None:
    r = cb.result
    measured = [p for p in cb.parts if p["it_energy_j"] is not None]
    assert r.it_energy_j == pytest.approx(sum(p["it_energy_j"] for p in measured), abs=1e-9)
    assert r.batches == sum(p["batches"] for p in measured)
    assert r.samples == sum(p["samples"] for p in measured) == BATCH * r.batches
    assert r.optimizer_steps == sum(p["optimizer_steps"] for p in measured) == trainer.global_step
    assert r.epochs == pytest.approx(r.batches / per_epoch, abs=1e-12)
    assert r.it_energy_j == pytest.approx(P_W * r.batches, abs=1e-9)  # 1 s per batch, nothing else


@_SETTINGS
@given(per_epoch=st.integers(2, 5), accumulate=st.integers(1, 3), first_steps=st.integers(1, 6))
def test_a_job_resumed_after_a_completed_part_is_the_sum_of_its_parts(
    tmp_path_factory, per_epoch, accumulate, first_steps
):
    tmp = tmp_path_factory.mktemp("resume")
    clock = ScriptClock()
    n = BATCH * per_epoch
    cb1 = _cb(clock, tmp / "p1", compute_sci=False)
    t1 = _trainer(tmp, [cb1], max_epochs=3, max_steps=first_steps, accumulate_grad_batches=accumulate)
    t1.fit(ScriptedModule(clock, n=n, batch_size=BATCH))
    _check_job(cb1, t1, per_epoch)
    t1.save_checkpoint(str(tmp / "after.ckpt"))
    cb2 = _cb(clock, tmp / "p2", compute_sci=False)
    t2 = _trainer(tmp, [cb2], max_epochs=3, accumulate_grad_batches=accumulate)
    t2.fit(ScriptedModule(clock, n=n, batch_size=BATCH), ckpt_path=str(tmp / "after.ckpt"))
    assert [p["status"] for p in cb2.parts] == ["completed", "completed"] and cb2.unmeasured_s == 0
    _check_job(cb2, t2, per_epoch)


@_SETTINGS
@given(per_epoch=st.integers(2, 5), accumulate=st.integers(1, 2), fail_at=st.integers(2, 7))
def test_a_job_resumed_after_a_part_died_is_the_sum_of_what_its_checkpoints_hold(
    tmp_path_factory, per_epoch, accumulate, fail_at
):
    tmp = tmp_path_factory.mktemp("killed")
    clock = ScriptClock()
    n, ck = BATCH * per_epoch, tmp / "ck"
    cb1 = _cb(clock, tmp / "p1", compute_sci=False)
    mc = ModelCheckpoint(dirpath=str(ck), save_last=True, save_top_k=0, every_n_train_steps=1)
    t1 = _trainer(tmp, [cb1, mc], enable_checkpointing=True, max_epochs=3, accumulate_grad_batches=accumulate)
    with pytest.raises(RuntimeError):
        t1.fit(ScriptedModule(clock, n=n, batch_size=BATCH, fail_at_batch=fail_at))
    if not (ck / "last.ckpt").exists():
        return  # failed before the first optimizer step: nothing to resume
    cb2 = _cb(clock, tmp / "p2", compute_sci=False)
    t2 = _trainer(tmp, [cb2], max_epochs=3, accumulate_grad_batches=accumulate)
    t2.fit(ScriptedModule(clock, n=n, batch_size=BATCH), ckpt_path=str(ck / "last.ckpt"))
    first, second = cb2.parts
    assert first["status"] == "killed" and second["status"] == "completed"
    assert 1 <= first["optimizer_steps"] <= first["batches"] <= fail_at
    _check_job(cb2, t2, per_epoch)

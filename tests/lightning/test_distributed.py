"""ReleaseProcessGroup: a one-rank gloo group is torn down at the end of fit, failures only warn."""

from __future__ import annotations

import warnings

import pytest
import torch
from fake_nvml import TinyModule
from lightning.pytorch import Trainer

from sci_lightning.lightning.distributed import ReleaseProcessGroup, release_process_group


@pytest.fixture
def one_rank_group(tmp_path):
    store = torch.distributed.FileStore(str(tmp_path / "store"), 1)
    torch.distributed.init_process_group("gloo", store=store, rank=0, world_size=1)
    yield
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def test_no_group_is_a_no_op():
    assert not torch.distributed.is_initialized()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert release_process_group() is False


def test_initialised_group_is_destroyed(one_rank_group):
    assert torch.distributed.is_initialized()
    assert release_process_group() is True
    assert not torch.distributed.is_initialized()


def test_failure_warns_and_does_not_raise(one_rank_group, monkeypatch):
    def broken_barrier(*a, **k):
        raise RuntimeError("connection reset by peer")

    monkeypatch.setattr(torch.distributed, "barrier", broken_barrier)
    with pytest.warns(RuntimeWarning, match="connection reset by peer.*results are already written"):
        assert release_process_group() is False


def test_callback_releases_only_after_fit(one_rank_group, tmp_path):
    seen = []

    class Probe(ReleaseProcessGroup):
        def on_fit_end(self, trainer, pl_module):
            seen.append(torch.distributed.is_initialized())  # still up while on_fit_end hooks run

    trainer = Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=2,
        logger=False,
        callbacks=[Probe()],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
    )
    trainer.fit(TinyModule(n=16, batch_size=8))
    assert seen == [True]
    assert not torch.distributed.is_initialized()

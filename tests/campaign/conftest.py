"""The campaign tests' run folders: real (tiny, CPU) runs written by EnergyCarbonCallback, built once for
tests/campaign/ (test_rollup.py and test_output.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_nvml import StepMeter, TinyModule
from lightning.pytorch import Trainer
from lightning.pytorch.utilities.exceptions import SIGTERMException

from sci_lightning.lightning.callback import EnergyCarbonCallback
from sci_lightning.lightning.checkpointing import LastCheckpoint

CARBON = {"provider": "static", "region": "FR"}


class Exploding(TinyModule):
    def training_step(self, batch, batch_idx):
        if batch_idx == 2:
            raise RuntimeError("loss is NaN")
        return super().training_step(batch, batch_idx)


class Stopped(TinyModule):
    """Stops like SIGTERM does (Lightning's SIGTERMException at a step boundary)."""

    def training_step(self, batch, batch_idx):
        if batch_idx == 3:
            raise SIGTERMException()
        return super().training_step(batch, batch_idx)


def _fit(
    run_dir: Path,
    module,
    *,
    max_steps: int = 6,
    ckpt_path: str | None = None,
    compute_sci: bool = True,
    checkpoints: bool = False,
    joules: float = 2.0,
) -> None:
    cb = EnergyCarbonCallback(
        meters=[StepMeter("gpu", "GPU-a", joules)],
        output_dir=str(run_dir),
        carbon=CARBON,
        sci={"embodied_total_kg": 100.0, "lifespan_years": 4.0},
        compute_sci=compute_sci,
        energy={"min_read_interval_s": 0},
        report_meta={"model": "tiny_mlp"},
    )
    callbacks = [cb, LastCheckpoint(run_dir / "checkpoints", every_min=None)] if checkpoints else [cb]
    trainer = Trainer(
        accelerator="cpu",
        devices=1,
        default_root_dir=str(run_dir),
        callbacks=callbacks,
        max_steps=max_steps,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=checkpoints,
        logger=False,
    )
    trainer.fit(module, ckpt_path=ckpt_path)


@pytest.fixture(scope="package")
def campaign_dir(tmp_path_factory) -> Path:
    """A sweep-like folder: failed, interrupted + resumed elsewhere, failed without a report, empty."""
    root = tmp_path_factory.mktemp("campaign")
    with pytest.raises(RuntimeError, match="NaN"):
        _fit(root / "a_failed", Exploding())
    with pytest.raises((SIGTERMException, SystemExit)):
        _fit(root / "b_part1", Stopped(), max_steps=8, checkpoints=True)
    _fit(
        root / "c_resumed",
        TinyModule(),
        max_steps=8,
        ckpt_path=str(root / "b_part1" / "checkpoints" / "last.ckpt"),
    )
    with pytest.raises(RuntimeError, match="NaN"):
        _fit(root / "d_failed_no_report", Exploding(), compute_sci=False)
    (root / "e_empty").mkdir()
    (root / "e_empty" / "job_failed.json").write_text(
        json.dumps({"error_type": "OSError", "error": "disk full"})
    )
    return root

"""The training step of a SLURM job in tests/e2e/test_slurm.py: the CLI's ``run(cfg)`` with the
given overrides, composed as ``python -m sci_lightning`` composes them.

Usage (inside the job): ``python tests/helpers/slurm_train.py MARKER_DIR HOLDS override ...``. Run
``r`` of the job (``SLURM_RESTART_COUNT``, 0 for the first) with ``r < HOLDS`` holds after
optimizer step ``2 (r + 1)`` until SLURM stops it, and writes ``MARKER_DIR/holding-<r>``
when it starts holding; so each preemption or requeue lands at a known step however loaded
the machine is. The last run trains straight through.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from lightning.pytorch.callbacks import Callback

HOLD_EVERY_STEPS = 2
HOLD_LIMIT_S = 240


class HoldUntilStopped(Callback):
    """After ``step`` optimizer steps: write ``marker`` and wait until Lightning got SIGTERM."""

    def __init__(self, step: int, marker: Path, limit_s: float) -> None:
        self.step, self.marker, self.limit_s = step, marker, limit_s

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step != self.step:
            return
        self.marker.write_text(os.environ.get("SLURM_JOB_ID", ""))
        deadline = time.monotonic() + self.limit_s
        while not trainer.received_sigterm and time.monotonic() < deadline:
            time.sleep(0.2)


def main(argv: list[str]) -> None:
    from hydra import compose, initialize_config_module

    from sci_lightning.app.train import run
    from sci_lightning.settings import register_hydra_schemas

    marker_dir, holds, overrides = Path(argv[0]), int(argv[1]), argv[2:]
    register_hydra_schemas()
    with initialize_config_module(config_module="sci_lightning.conf", version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    restart = int(os.environ.get("SLURM_RESTART_COUNT") or 0)
    hold = HoldUntilStopped(HOLD_EVERY_STEPS * (restart + 1), marker_dir / f"holding-{restart}", HOLD_LIMIT_S)
    run(cfg, callbacks=[hold] if restart < holds else [])


if __name__ == "__main__":
    main(sys.argv[1:])

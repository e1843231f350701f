"""One rank of the 2-host DDP job in tests/e2e/test_multihost.py (started under ``unshare --uts``
with its own hostname, so every rank of one "host" shares a name and the hosts differ).

Usage: ``python tests/helpers/multihost_worker.py OUT_DIR RAPL_BASE STEPS``; the rank comes from
Lightning's environment variables (``NODE_RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``,
``MASTER_ADDR``/``MASTER_PORT``). Meters: the real RAPL meter on a per-host powercap tree
(``RAPL_BASE/<hostname>``, advanced 1 J per optimizer step by the host's local rank 0), the
real CPU-time and RAM estimates, and a fake GPU ``GPU-<hostname>`` that both ranks of a
host see.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.strategies import DDPStrategy

sys.path.insert(0, str(Path(__file__).parent))
from fake_nvml import StepMeter, TinyModule

from sci_lightning.energy import CpuTimeEnergyMeter
from sci_lightning.energy.cpu import RaplEnergyMeter
from sci_lightning.energy.ram import RamEstimateMeter
from sci_lightning.lightning.callback import EnergyCarbonCallback
from sci_lightning.lightning.distributed import ReleaseProcessGroup

JOULES_PER_STEP = 1.0


class AdvanceRapl(Callback):
    """The host's local rank 0 adds ``JOULES_PER_STEP`` to the host's package counter per step."""

    def __init__(self, counter: Path) -> None:
        self.counter = counter

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.local_rank != 0:
            return
        now_uj = int(self.counter.read_text()) + int(JOULES_PER_STEP * 1e6)
        tmp = self.counter.with_suffix(".tmp")
        tmp.write_text(str(now_uj))
        os.replace(tmp, self.counter)  # the other rank never reads half a number


def main(out_dir: str, rapl_base: str, steps: int) -> None:
    host = socket.gethostname()
    root = Path(rapl_base) / host
    meters = [
        RaplEnergyMeter(root=str(root), poll_interval_s=60),
        CpuTimeEnergyMeter(tdp_w=20.0, cores=2, include_children=False),
        RamEstimateMeter(sample_interval_s=0.05),
        StepMeter("gpu", f"GPU-{host}", joules_per_read=10.0),
    ]
    energy = EnergyCarbonCallback(meters=meters, output_dir=out_dir, energy={"min_read_interval_s": 0})
    trainer = Trainer(
        accelerator="cpu",
        devices=2,
        num_nodes=2,
        strategy=DDPStrategy(process_group_backend="gloo"),
        max_steps=steps,
        logger=False,
        callbacks=[energy, AdvanceRapl(root / "intel-rapl:0" / "energy_uj"), ReleaseProcessGroup()],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=out_dir,
    )
    trainer.fit(TinyModule(n=64, batch_size=8))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))

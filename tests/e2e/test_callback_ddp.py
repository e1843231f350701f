"""DDP with 2 CPU processes (gloo): per-rank measurement, job total reduced on rank 0."""

from __future__ import annotations

import json
import socket

import pytest
from fake_nvml import StepMeter, TinyModule
from lightning.pytorch import Trainer

from sci_lightning.energy import CpuTimeEnergyMeter
from sci_lightning.lightning.callback import EnergyCarbonCallback
from sci_lightning.lightning.distributed import ReleaseProcessGroup


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_ddp_two_cpu_ranks_count_shared_gpu_and_host_cpu_once(tmp_path):
    meters = [
        StepMeter("gpu", {0: "GPU-rank0", 1: "GPU-rank1"}, joules_per_read=1.0),  # distinct per rank: summed
        StepMeter("gpu", "GPU-shared", joules_per_read=10.0),  # both ranks see it: counted once
        CpuTimeEnergyMeter(tdp_w=20.0, cores=2, include_children=False),  # per-process estimate, one host
    ]
    cb = EnergyCarbonCallback(meters=meters, output_dir=str(tmp_path), energy={"min_read_interval_s": 0})
    trainer = Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp_spawn",
        max_steps=3,
        logger=False,
        # ReleaseProcessGroup: without it gloo can SIGABRT a rank at exit (see sci_lightning.lightning.distributed)
        callbacks=[cb, ReleaseProcessGroup()],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
    )
    trainer.fit(TinyModule(n=64, batch_size=8))

    data = json.loads((tmp_path / "energy.json").read_text())
    assert data["world_size"] == 2
    comps = {(c["component"], c["device"], c["method"]): c for c in data["components"]}
    # both ranks read their meters equally often (fit start, each step, epoch end, fit end)
    per_rank = comps[("gpu", "GPU-rank0", "nvml_energy_counter")]["energy_j"]
    assert per_rank >= 4
    assert comps[("gpu", "GPU-rank1", "nvml_energy_counter")]["energy_j"] == pytest.approx(per_rank)
    shared = comps[("gpu", "GPU-shared", "nvml_energy_counter")]
    assert shared["energy_j"] == pytest.approx(10 * per_rank)  # once, not twice
    assert "seen by 2 processes, counted once" in shared["notes"]
    cpu = [c for c in data["components"] if c["component"] == "cpu"]
    assert len(cpu) == 1 and cpu[0]["device"] == socket.gethostname()
    assert "summed over 2 processes" in cpu[0]["notes"]
    assert data["images"] == 2 * 3 * 8  # both ranks' batches
    assert data["it_energy_j"] == pytest.approx(12 * per_rank + cpu[0]["energy_j"])
    tl = sum(i["energy_j"] for i in data["timeline"])
    assert tl == pytest.approx(data["it_energy_j"], rel=1e-6)  # rank 0's shape scaled to the job total


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_ddp_spawn_results_reach_the_launching_process_exactly(tmp_path):
    """Two CPU ranks, one scripted 10 W device each, 1 s per training step: 4 batches per rank."""
    from scripted import ConstantPowerMeter, ScriptClock, ScriptedModule

    clock = ScriptClock()
    meter = ConstantPowerMeter(clock, 10.0, device={0: "GPU-0", 1: "GPU-1"})
    cb = EnergyCarbonCallback(
        meters=[meter], output_dir=str(tmp_path), clock=clock, carbon={"provider": "static", "region": "FR"}
    )
    trainer = Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp_spawn",
        max_epochs=1,
        logger=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        callbacks=[cb, ReleaseProcessGroup()],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
    )
    trainer.fit(ScriptedModule(clock))
    r = cb.result  # in this (launching) process
    assert (r.it_energy_j, r.batches, r.optimizer_steps, r.epochs, r.samples, r.world_size) == (
        80.0,
        4,
        4,
        1.0,
        64,
        2,
    )
    assert cb.energy_json_path == str(tmp_path / "energy.json") and cb.report_path == str(
        tmp_path / "sci_report.json"
    )
    assert cb.report.training.samples == 64 and [p["status"] for p in cb.parts] == ["completed"]

"""EnergyCarbonCallback in real (tiny, CPU) Lightning runs: plain script, settings, faults, resume, memory."""

from __future__ import annotations

import csv
import json
import tracemalloc
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from fake_nvml import FakeGpu, FakeNvml, StepMeter, TinyModule
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from omegaconf import OmegaConf

from sci_lightning.carbon.static import lookup_static
from sci_lightning.energy import CpuTimeEnergyMeter, EnergyMeterWarning, EnergyResult, NvmlEnergyMeter
from sci_lightning.errors import ConfigError
from sci_lightning.lightning.callback import EnergyCarbonCallback
from sci_lightning.metric_names import path_prefix_clashes
from sci_lightning.settings import CarbonConfig, SciConfig


def _trainer(tmp_path: Path, callbacks, **kw) -> Trainer:
    kw.setdefault("max_steps", 6)
    return Trainer(
        accelerator="cpu",
        devices=1,
        default_root_dir=str(tmp_path),
        callbacks=callbacks,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=kw.pop("enable_checkpointing", False),
        logger=kw.pop("logger", False),
        **kw,
    )


def _csv_metrics(log_dir: str) -> list[dict[str, str]]:
    with open(Path(log_dir) / "metrics.csv") as f:
        return list(csv.DictReader(f))


def test_plain_lightning_script_writes_energy_json_with_named_methods(tmp_path):
    """No Hydra anywhere: defaults give CPU-time and RAM estimates on this GPU-less machine."""
    cb = EnergyCarbonCallback(
        energy={"rapl_root": str(tmp_path / "no-rapl"), "pue": 1.5}, log_every_n_steps=2
    )
    logger = CSVLogger(str(tmp_path), name="run")
    trainer = _trainer(tmp_path, [cb], logger=logger, max_steps=6)
    trainer.fit(TinyModule(n=64, batch_size=8))

    res = cb.result
    assert isinstance(res, EnergyResult)
    path = Path(logger.log_dir) / "energy.json"
    assert cb.energy_json_path == str(path) and path.exists()
    loaded = EnergyResult.from_dict(json.loads(path.read_text()))
    methods = {(c.component, c.method, c.quality) for c in loaded.components}
    assert methods == {
        ("cpu", "cpu_time_tdp_estimate", "estimated"),
        ("ram", "ram_per_gb_estimate", "estimated"),
    }
    assert loaded.steps == 6 and loaded.images == 48 and loaded.world_size == 1 and loaded.pue == 1.5
    assert loaded.it_energy_j > 0 and loaded.energy_j == pytest.approx(1.5 * loaded.it_energy_j)
    assert sum(i.energy_j for i in loaded.timeline) == pytest.approx(loaded.it_energy_j, rel=1e-9)
    assert loaded.timeline[0].start >= loaded.started_at and loaded.timeline[-1].end <= loaded.ended_at
    assert loaded.duration_s > 0
    assert not list(path.parent.glob(".energy-*"))  # atomic write leaves no temp file

    rows = _csv_metrics(logger.log_dir)
    keys = {k for r in rows for k, v in r.items() if v not in ("", None)}
    for key in (
        "energy/power_w/cpu",
        "energy/power_w/ram",
        "energy/power_w/total",
        "energy/batch_j",
        "energy/so_far_kwh",
        "energy/so_far_wh",
        "energy/epoch_j",
        "energy/fit/total_kwh",
        "energy/fit/total_wh",
        "energy/fit/cpu/cpu_time_tdp_estimate_kwh",
        "energy/fit/duration_s",
        "energy/fit/mean_power_w",
        "sci/score",
        "sci/score_mg",
        "results/energy_wh",
    ):
        assert key in keys, key
    assert not path_prefix_clashes(keys), "a logged name is a folder of another (MLflow cannot store both)"
    per_step = [r for r in rows if r.get("energy/batch_j")]
    assert [int(r["step"]) for r in per_step] == [
        0,
        1,
        3,
        5,
    ]  # the first batch, then every 2nd, at Lightning's own logging step
    fit_total = [float(r["energy/fit/total_kwh"]) for r in rows if r.get("energy/fit/total_kwh")]
    assert fit_total == [pytest.approx(loaded.energy_kwh)]


def test_hydra_style_config_node_and_misconfiguration_refused_at_construction(tmp_path):
    cb = EnergyCarbonCallback(
        energy=OmegaConf.create({"gpu": "auto", "cpu": "estimate", "ram": "off"}), output_dir=str(tmp_path)
    )
    _trainer(tmp_path, [cb], max_steps=2).fit(TinyModule())
    assert [c.method for c in cb.result.components] == ["cpu_time_tdp_estimate"]
    assert (tmp_path / "energy.json").exists()

    with pytest.raises(ConfigError, match="energy.cpu='turbo'"):
        EnergyCarbonCallback(energy={"cpu": "turbo"})
    with pytest.raises(ConfigError, match="log_every_n_steps"):
        EnergyCarbonCallback(log_every_n_steps=-1)
    with pytest.raises(ConfigError, match="carbon.provider='no_such'"):
        EnergyCarbonCallback(carbon={"provider": "no_such"})
    with pytest.raises(ConfigError, match=r"sci.functional_unt.*Did you mean sci.functional_unit"):
        EnergyCarbonCallback(sci={"functional_unt": "epoch"})


def test_dict_carbon_settings_reach_the_report(tmp_path):
    """A plain dict (a LightningCLI YAML mapping) is the CarbonConfig it spells: France, not the world."""
    cb = EnergyCarbonCallback(
        meters=[StepMeter("gpu", "GPU-a", 100.0)],
        output_dir=str(tmp_path),
        carbon={"provider": "static", "region": "FR"},
    )
    assert cb.carbon == CarbonConfig(provider="static", region="FR")
    _trainer(tmp_path, [cb], max_steps=3).fit(TinyModule())
    report = json.loads((tmp_path / "sci_report.json").read_text())
    assert report["intensity"]["region"] == "FR"
    assert report["intensity"]["mean_g_per_kwh"] == pytest.approx(lookup_static("FR").g_per_kwh)
    assert cb.sci_result is not None and cb.report is not None


def test_lightning_cli_yaml_mapping_reaches_the_callback(tmp_path):
    pytest.importorskip("jsonargparse")
    from lightning.pytorch.cli import LightningCLI

    config = tmp_path / "cli.yaml"
    config.write_text(
        "trainer:\n"
        "  callbacks:\n"
        "    - class_path: sci_lightning.lightning.callback.EnergyCarbonCallback\n"
        "      init_args:\n"
        "        carbon: {provider: static, region: FR}\n"
        "        sci: {functional_unit: epoch}\n"
        "        energy: {ram: 'off'}\n"
    )
    cli = LightningCLI(TinyModule, run=False, args=["--config", str(config)], save_config_callback=None)
    (cb,) = [c for c in cli.trainer.callbacks if isinstance(c, EnergyCarbonCallback)]
    assert cb.carbon == CarbonConfig(provider="static", region="FR")
    assert cb.sci == SciConfig(functional_unit="epoch") and cb.energy_config.ram == "off"


def test_after_energy_hook_receives_the_result_on_rank_zero(tmp_path):
    seen = []

    class WithCarbon(EnergyCarbonCallback):
        def _after_energy(self, trainer, pl_module, result):
            seen.append((Path(self.energy_json_path).exists(), result, self.carbon, self.sci))

    cb = WithCarbon(
        meters=[StepMeter()],
        output_dir=str(tmp_path),
        carbon={"provider": "static"},
        sci={"functional_unit": "epoch"},
    )
    _trainer(tmp_path, [cb], max_steps=3).fit(TinyModule())
    assert len(seen) == 1
    written, result, carbon, sci = seen[0]
    assert (
        written
        and result is cb.result
        and carbon == CarbonConfig()
        and sci == SciConfig(functional_unit="epoch")
    )


def test_nvml_failure_mid_run_does_not_stop_training_and_is_flagged(tmp_path, monkeypatch):
    gpu = FakeGpu(uuid="GPU-1234", power_mw=80_000.0, fail_counter_after=4)
    FakeNvml(gpus=[gpu]).install(monkeypatch)

    class Energise(StepMeter):  # the fake counter advances 1 J per training step
        def read_j(self):
            gpu.energy_mj += 1000
            return {}

    nvml = NvmlEnergyMeter([0], visible_devices=None, torch_uuids={}, sampling_interval_s=0.01)
    cb = EnergyCarbonCallback(
        meters=[Energise("gpu", "x", 0.0), nvml], output_dir=str(tmp_path), energy={"min_read_interval_s": 0}
    )  # one read per step: the counts below
    with pytest.warns(EnergyMeterWarning, match="energy counter failed mid-run"):
        _trainer(tmp_path, [cb], max_steps=8).fit(TinyModule())
    gpu_comps = {c.method: c for c in cb.result.components if c.device == "GPU-1234"}
    assert gpu_comps["nvml_energy_counter"].status == "partial"
    # counter reads: baseline (window start), steps 1-3 (1 J each), then GpuIsLost at step 4
    assert gpu_comps["nvml_energy_counter"].energy_j == pytest.approx(3.0)
    assert "nvml_power_sampling" in gpu_comps
    assert any("mid-run" in w for w in cb.result.warnings)
    assert cb.result.steps == 8  # training finished
    assert nvml._thread is None  # sampler stopped at fit end


def test_kill_and_resume_through_a_real_checkpoint_sums_parts_once(tmp_path):
    ckpt_dir = tmp_path / "ckpt"
    # part 1: checkpoint written mid-fit at step 3 (state_dict while running); the run
    # continues to step 5, then "dies": steps 4-5 are after the last checkpoint.
    m1 = StepMeter("gpu", "GPU-a", joules_per_read=1.0)
    cb1 = EnergyCarbonCallback(
        meters=[m1], output_dir=str(tmp_path / "p1"), energy={"min_read_interval_s": 0}
    )
    mc = ModelCheckpoint(dirpath=str(ckpt_dir), every_n_train_steps=3, save_top_k=-1)
    _trainer(tmp_path, [cb1, mc], max_steps=5, enable_checkpointing=True).fit(TinyModule(n=64, batch_size=8))
    ckpt = ckpt_dir / "epoch=0-step=3.ckpt"
    state = torch.load(ckpt, weights_only=False)["callbacks"]
    (cb_state,) = [v for k, v in state.items() if k.startswith("EnergyCarbonCallback")]
    (rank0,) = cb_state["ranks"]
    saved = rank0["windows"]["fit"]
    saved_j = sum(c["energy_j"] for c in saved["components"])
    assert saved_j == pytest.approx(4.0)  # 3 step reads + the checkpoint's own read
    assert saved["images"] == 24 and saved["parts"] == 1 and saved["steps"] == 3
    assert sum(i["energy_j"] for i in saved["timeline"]) == pytest.approx(saved_j)

    # part 2: a new process would build a new callback; resume from the step-3 checkpoint
    m2 = StepMeter("gpu", "GPU-a", joules_per_read=1.0)
    cb2 = EnergyCarbonCallback(
        meters=[m2], output_dir=str(tmp_path / "p2"), energy={"min_read_interval_s": 0}
    )
    _trainer(tmp_path, [cb2], max_steps=7).fit(TinyModule(n=64, batch_size=8), ckpt_path=str(ckpt))
    res = cb2.result
    (gpu,) = res.components
    assert gpu.energy_j == pytest.approx(saved_j + m2.energy_j)  # sum of both parts, nothing twice
    assert res.images == 24 + 4 * 8
    assert res.steps == 7
    assert res.duration_s > saved["duration_s"]
    assert res.started_at.isoformat() == saved["started_at"]
    assert sum(i.energy_j for i in res.timeline) == pytest.approx(res.it_energy_j)
    on_disk = json.loads((tmp_path / "p2" / "energy.json").read_text())
    assert on_disk["it_energy_j"] == pytest.approx(gpu.energy_j)

    # after fit, state_dict (e.g. trainer.save_checkpoint) carries the job total of both parts
    (after,) = cb2.state_dict()["ranks"]
    assert sum(c["energy_j"] for c in after["windows"]["fit"]["components"]) == pytest.approx(gpu.energy_j)
    assert after["windows"]["fit"]["parts"] == 2


def test_checkpoint_saved_after_fit_resumes_without_double_counting(tmp_path):
    m1 = StepMeter("gpu", "GPU-a", joules_per_read=2.0)
    cb1 = EnergyCarbonCallback(meters=[m1], output_dir=str(tmp_path / "p1"))
    t1 = _trainer(tmp_path, [cb1], max_steps=4)
    t1.fit(TinyModule())
    ckpt = tmp_path / "after.ckpt"
    t1.save_checkpoint(str(ckpt))
    part1_j = cb1.result.it_energy_j
    assert part1_j == pytest.approx(m1.energy_j)

    m2 = StepMeter("gpu", "GPU-a", joules_per_read=2.0)
    cb2 = EnergyCarbonCallback(meters=[m2], output_dir=str(tmp_path / "p2"))
    _trainer(tmp_path, [cb2], max_steps=6).fit(TinyModule(), ckpt_path=str(ckpt))
    assert cb2.result.it_energy_j == pytest.approx(part1_j + m2.energy_j)
    assert cb2.result.steps == 6 and cb2.result.images == 6 * 8


def test_state_dict_before_fit_is_empty_and_loads(tmp_path):
    cb = EnergyCarbonCallback()
    state = cb.state_dict()
    assert state == {"version": 3}
    cb.load_state_dict(state)
    assert cb.state_dict() == state
    with pytest.warns(UserWarning, match="version"):
        cb.load_state_dict({"version": 1, "records": []})  # the pre-EnergyMonitor format
    assert cb.state_dict() == state


@pytest.mark.slow
def test_flat_memory_over_100k_simulated_steps():
    """Per-step work is O(1): bounded timeline, no growth in traced memory."""
    meters = [StepMeter("gpu", "GPU-a", 0.5), CpuTimeEnergyMeter(include_children=False)]
    cb = EnergyCarbonCallback(
        energy={"timeline_max_intervals": 64, "ram": "off"}, meters=meters, log_every_n_steps=50
    )
    logged = []
    logger = SimpleNamespace(log_metrics=lambda m, step: logged.append(len(m)), save=lambda: None)
    trainer = SimpleNamespace(
        strategy=SimpleNamespace(root_device=torch.device("cpu")),
        log_every_n_steps=50,
        loggers=[logger],
        is_global_zero=True,
        global_step=0,
        callback_metrics={},
    )
    cb.setup(trainer, None, "fit")
    cb.on_fit_start(trainer, None)
    batch = (torch.zeros(4, 1), torch.zeros(4))

    def run(n):
        for i in range(n):
            cb.on_train_batch_end(trainer, None, None, batch, i)

    run(10_000)
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    run(100_000)
    after, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert after - before < 64 * 1024, f"memory grew by {after - before} bytes over 100k steps"
    assert len(logged) == 1 + 110_000 // 50  # the first batch, then every 50th
    fit = cb.monitor.peek("fit")
    assert len(fit.timeline) <= 64
    assert fit.images == 110_000 * 4 and fit.steps == 110_000
    assert sum(i.energy_j for i in fit.timeline) == pytest.approx(fit.energy_j)  # no joule lost to merging
    cb.teardown(trainer, None, "fit")


def test_meter_that_raises_never_stops_training(tmp_path):
    class Broken(StepMeter):
        def read_j(self):
            raise RuntimeError("sensor on fire")

    cb = EnergyCarbonCallback(
        meters=[Broken(), StepMeter("cpu", "host", 1.0, "cpu_time_tdp_estimate")], output_dir=str(tmp_path)
    )
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        _trainer(tmp_path, [cb], max_steps=4).fit(TinyModule())
    assert sum("sensor on fire" in str(w.message) for w in rec) == 1
    assert any("sensor on fire" in w for w in cb.result.warnings)
    assert cb.result.steps == 4


def test_an_error_inside_training_writes_the_part_marked_failed(tmp_path):
    class Exploding(TinyModule):
        def training_step(self, batch, batch_idx):
            if batch_idx == 2:
                raise RuntimeError("loss is NaN, token=abc123")
            return super().training_step(batch, batch_idx)

    cb = EnergyCarbonCallback(meters=[StepMeter("gpu", "GPU-a", 1.0)], output_dir=str(tmp_path))
    with pytest.raises(RuntimeError, match="NaN"):
        _trainer(tmp_path, [cb], max_steps=6).fit(Exploding())
    saved = json.loads((tmp_path / "energy.json").read_text())
    assert saved["status"] == "failed" and "RuntimeError: loss is NaN" in saved["interruption"]["error"]
    assert saved["steps"] == 2 and saved["parts"][0]["status"] == "failed"
    report = json.loads((tmp_path / "sci_report.json").read_text())
    assert any(w.startswith("Run status: failed (RuntimeError") for w in report["warnings"])

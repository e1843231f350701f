"""Consumer SCI (SCI for AI): energy per inference and SCI per 1,000 inferences.

The pure function against hand arithmetic, and a real EnergyMonitor window around a
PyTorch inference loop on the scripted fake NVML GPU drawing a known 200 W: energy per
sample is the window's energy divided by its samples.
"""

from __future__ import annotations

import pytest
import torch
from fake_nvml import FakeGpu, FakeNvml

from sci_lightning.energy import EnergyMonitor, NvmlEnergyMeter
from sci_lightning.sci.compute import SECONDS_PER_YEAR
from sci_lightning.sci.inference import inference_sci, measure_inference

KWH = 3.6e6
POWER_W = 200.0
BATCH_S = 0.5


def test_per_sample_and_per_1000_by_hand():
    # 0.01 kWh over 10,000 images at 400 g/kWh; TE 1000 kg over 4 years, 1 of 2 GPUs, 3600 s
    fig = inference_sci(
        energy_kwh=0.01,
        duration_s=3600.0,
        samples=10_000,
        intensity_g_per_kwh=400.0,
        te_kg=1000.0,
        el_years=4.0,
        rr=1.0,
        tor=2.0,
    )
    m = 1000.0 * 1000.0 * 3600.0 / (4.0 * SECONDS_PER_YEAR) / 2.0
    assert fig.energy_per_sample_kwh == pytest.approx(1e-6)
    assert fig.operational_g == pytest.approx(4.0) and fig.embodied_g == pytest.approx(m)
    assert fig.operational_per_1000_g == pytest.approx(0.4)
    assert fig.embodied_per_1000_g == pytest.approx(m / 10.0)
    assert fig.sci_per_1000_g == pytest.approx(0.4 + m / 10.0)


def test_missing_intensity_samples_and_embodied_are_said():
    fig = inference_sci(energy_kwh=0.01, duration_s=1.0, samples=0, intensity_g_per_kwh=None)
    assert fig.sci_per_1000_g is None and fig.energy_per_sample_kwh is None and fig.embodied_g == 0.0
    assert len(fig.notes) == 3
    with pytest.raises(ValueError, match="non-negative"):
        inference_sci(energy_kwh=-1.0, duration_s=1.0, samples=1, intensity_g_per_kwh=1.0)


def test_monitor_measured_inference_loop(monkeypatch):
    gpu = FakeGpu(uuid="GPU-fake-0", energy_mj=5_000_000)
    FakeNvml(gpus=[gpu]).install(monkeypatch)
    nvml = NvmlEnergyMeter([0], visible_devices=None, torch_uuids={}, start_sampler_thread=False)
    clock = [1_700_000_000.0]
    monitor = EnergyMonitor([nvml], sync=lambda: None, clock=lambda: clock[0])
    model = torch.nn.Linear(4, 3).eval()
    batches = [torch.randn(n, 4) for n in (8, 8, 8, 5)]

    def infer(batch):
        with torch.no_grad():
            model(batch)
        gpu.energy_mj += int(POWER_W * BATCH_S * 1000)  # the GPU draws 200 W for the batch's 0.5 s
        clock[0] += BATCH_S

    fig = measure_inference(monitor, batches, infer, intensity_g_per_kwh=300.0, pue=1.5, stage="predict")
    window_j = POWER_W * BATCH_S * len(batches)
    assert fig.samples == 29 and fig.duration_s == pytest.approx(BATCH_S * 4)
    assert fig.energy_kwh == pytest.approx(window_j * 1.5 / KWH)
    assert fig.energy_per_sample_kwh == pytest.approx(fig.energy_kwh / 29)
    assert fig.sci_per_1000_g == pytest.approx(fig.energy_kwh * 300.0 / 29 * 1000)
    assert fig.quality == "measured" and "nvml" in fig.method
    monitor.close()


def test_comparison_shows_inference_per_1000_images_or_not_measured(tmp_path):
    from sci_lightning.compare.tables import NOT_MEASURED, TABLE_COLUMNS, compare_runs, csv_text, table_rows
    from sci_lightning.sci.writer import write_run_report
    from tests.sci.test_report import META, make_run

    fig = inference_sci(
        energy_kwh=0.003,
        duration_s=30.0,
        samples=6000,
        intensity_g_per_kwh=250.0,
        stage="predict",
        quality="measured",
    )
    for name, meta in (("0", {**META, "inference": [fig]}), ("1", {**META, "model": "inception_v3"})):
        result, energy = make_run()
        write_run_report(tmp_path / name, result, energy, {**meta, "run_name": f"job-{name}"})
    comp = compare_runs([str(tmp_path / "0"), str(tmp_path / "1")])
    rows = {r[1]: dict(zip(TABLE_COLUMNS, r)) for r in table_rows(comp)}
    measured, absent = rows["job-0"], rows["job-1"]
    assert float(measured["Inference energy (kWh/1000 images)"]) == pytest.approx(
        0.0005
    )  # 0.003 / 6000 x 1000
    assert float(measured["Inference SCI (gCO2e/1000 images)"]) == pytest.approx(0.003 * 250.0 / 6)
    assert absent["Inference energy (kWh/1000 images)"] == NOT_MEASURED
    assert absent["Inference SCI (gCO2e/1000 images)"] == NOT_MEASURED
    assert "inference_sci_per_1000_g" in csv_text(comp).splitlines()[0]


def test_inference_for_report_uses_the_jobs_intensity_and_embodied_settings(tmp_path):
    from sci_lightning.sci.inference import inference_for_report
    from sci_lightning.sci.writer import write_run_report
    from tests.sci.test_report import META, make_run

    result, energy = make_run(embodied=True)
    report = write_run_report(tmp_path, result, energy, META)
    fig = inference_for_report(
        report,
        stage="predict",
        energy_kwh=0.004,
        duration_s=60.0,
        samples=8000,
        quality="measured",
        method="gpu: nvml_energy_counter",
    )
    e = report.embodied
    expected = inference_sci(
        energy_kwh=0.004,
        duration_s=60.0,
        samples=8000,
        intensity_g_per_kwh=report.intensity.mean_g_per_kwh,
        te_kg=e.te_kg,
        el_years=e.el_years,
        rr=e.rr,
        tor=e.tor,
    )
    assert fig.sci_per_1000_g == pytest.approx(expected.sci_per_1000_g) and fig.embodied_g > 0
    assert fig.intensity_g_per_kwh == report.intensity.mean_g_per_kwh

"""The pure rank/part reduction of energy records (sci_lightning.energy.reduce)."""

from __future__ import annotations

import pytest

from sci_lightning.energy import merge_segments, reduce_ranks


def _rec(component, device, method, energy_j, host="h1", status="ok"):
    return {
        "component": component,
        "device": device,
        "host": host,
        "method": method,
        "quality": "measured",
        "status": status,
        "notes": [],
        "energy_j": energy_j,
    }


def test_reduce_ranks_counts_shared_devices_once_and_sums_process_estimates():
    rank0 = [
        _rec("gpu", "GPU-a", "nvml_energy_counter", 100.0),
        _rec("gpu", "GPU-shared", "nvml_energy_counter", 50.0),
        _rec("cpu", "h1", "cpu_time_tdp_estimate", 10.0),
        _rec("cpu", "h1/package-0", "rapl", 30.0),
    ]
    rank1 = [
        _rec("gpu", "GPU-b", "nvml_energy_counter", 120.0),
        _rec("gpu", "GPU-shared", "nvml_energy_counter", 52.0, status="partial"),
        _rec("cpu", "h1", "cpu_time_tdp_estimate", 11.0),
        _rec("cpu", "h1/package-0", "rapl", 31.0),
    ]
    rank2 = [  # another node
        _rec("cpu", "h2", "cpu_time_tdp_estimate", 7.0, host="h2"),
        _rec("cpu", "h2/package-0", "rapl", 20.0, host="h2"),
    ]
    out = {(r["component"], r["device"], r["method"]): r for r in reduce_ranks([rank0, rank1, rank2])}
    assert out[("gpu", "GPU-a", "nvml_energy_counter")]["energy_j"] == 100.0
    assert out[("gpu", "GPU-b", "nvml_energy_counter")]["energy_j"] == 120.0
    shared = out[("gpu", "GPU-shared", "nvml_energy_counter")]
    assert shared["energy_j"] == 52.0 and shared["status"] == "partial"
    assert "seen by 2 processes, counted once" in shared["notes"]
    assert out[("cpu", "h1", "cpu_time_tdp_estimate")]["energy_j"] == 21.0
    assert out[("cpu", "h1/package-0", "rapl")]["energy_j"] == 31.0
    assert out[("cpu", "h2", "cpu_time_tdp_estimate")]["energy_j"] == 7.0
    assert len(out) == 7
    assert sum(r["energy_j"] for r in out.values()) == 100 + 120 + 52 + 21 + 31 + 7 + 20


def test_merge_segments_sums_parts_per_device_and_method():
    p1 = [_rec("gpu", "GPU-a", "nvml_energy_counter", 10.0)]
    p2 = [_rec("gpu", "GPU-a", "nvml_energy_counter", 5.0), _rec("gpu", "GPU-z", "nvml_power_sampling", 1.0)]
    out = merge_segments(p1, p2)
    assert [(r["device"], r["energy_j"]) for r in out] == [("GPU-a", 15.0), ("GPU-z", 1.0)]
    assert p1[0]["energy_j"] == 10.0  # inputs untouched


def _measurement(rank_devices, images, start_ts, rows, host="h1", steps=3):
    from datetime import datetime, timezone

    from sci_lightning.energy import ComponentEnergy, Measurement
    from sci_lightning.energy.timeline import rows_to_intervals

    utc = timezone.utc
    comps = [ComponentEnergy(c, d, j, m, "measured") for c, d, m, j in rank_devices]
    return Measurement(
        "fit",
        comps,
        duration_s=rows[-1][1] - start_ts,
        started_at=datetime.fromtimestamp(start_ts, utc),
        ended_at=datetime.fromtimestamp(rows[-1][1], utc),
        timeline=rows_to_intervals(rows),
        steps=steps,
        images=images,
        host=host,
    )


def test_reduce_measurements_counts_once_sums_estimates_and_scales_rank0_timeline():
    from sci_lightning.energy import reduce_measurements

    rank0 = _measurement(
        [("gpu", "GPU-shared", "nvml_energy_counter", 10.0), ("cpu", "h1", "cpu_time_tdp_estimate", 2.0)],
        images=24,
        start_ts=100.0,
        rows=[[100.0, 101.0, 4.0], [101.0, 102.0, 8.0]],
    )
    rank1 = _measurement(
        [("gpu", "GPU-shared", "nvml_energy_counter", 11.0), ("cpu", "h1", "cpu_time_tdp_estimate", 3.0)],
        images=24,
        start_ts=100.5,
        rows=[[100.5, 102.5, 14.0]],
    )
    job = reduce_measurements([rank0, rank1])
    by = {(c.component, c.device): c.energy_j for c in job.components}
    assert by == {("gpu", "GPU-shared"): 11.0, ("cpu", "h1"): 5.0}
    assert job.images == 48 and job.steps == 3 and job.ended_at == rank1.ended_at
    assert [i.energy_j for i in job.timeline] == pytest.approx(
        [16 / 12 * 4, 16 / 12 * 8]
    )  # rank 0's shape, job total
    assert "timeline shape from rank 0's devices, scaled to the job total" in job.warnings


def test_merge_measurements_sums_parts_and_keeps_the_first_start():
    from sci_lightning.energy import merge_measurements

    p1 = _measurement(
        [("gpu", "GPU-a", "nvml_energy_counter", 5.0)], images=8, start_ts=0.0, rows=[[0.0, 2.0, 5.0]]
    )
    p2 = _measurement(
        [("gpu", "GPU-a", "nvml_energy_counter", 7.0)], images=16, start_ts=50.0, rows=[[50.0, 53.0, 7.0]]
    )
    whole = merge_measurements(p1, p2)
    assert [c.energy_j for c in whole.components] == [12.0]
    assert (whole.parts, whole.images, whole.steps, whole.duration_s) == (2, 24, 6, 5.0)
    assert whole.started_at == p1.started_at and whole.ended_at == p2.ended_at
    assert [i.energy_j for i in whole.timeline] == [5.0, 7.0]

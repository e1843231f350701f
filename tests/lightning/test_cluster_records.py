"""The pure pieces behind the SLURM and multi-host tests, without a cluster: the SLURM job a
part records, the checkpoint a requeued run resumes from, the requeue gaps in the notes,
and the hosts of a job reduced over ranks and parts."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sci_lightning.energy.base import ComponentEnergy, Measurement
from sci_lightning.energy.reduce import merge_measurements, reduce_measurements
from sci_lightning.lightning.distributed import slurm_job
from sci_lightning.lightning.parts import part_notes

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def test_slurm_job_names_the_job_the_way_scontrol_takes_it():
    assert slurm_job({}) is None
    plain = slurm_job(
        {
            "SLURM_JOB_ID": "7",
            "SLURM_RESTART_COUNT": "2",
            "SLURMD_NODENAME": "n1",
            "SLURM_JOB_NODELIST": "n[1-2]",
        }
    )
    assert plain == {"job_id": "7", "restart_count": 2, "node": "n1", "node_list": "n[1-2]"}
    array = slurm_job({"SLURM_JOB_ID": "12", "SLURM_ARRAY_JOB_ID": "5", "SLURM_ARRAY_TASK_ID": "3"})
    assert array["job_id"] == "5_3" and array["restart_count"] == 0


def _part(n: int, start_s: float, end_s: float, restarts: int | None) -> dict:
    slurm = (
        None
        if restarts is None
        else {"job_id": "9", "restart_count": restarts, "node": "n1", "node_list": "n1"}
    )
    return {
        "part": n,
        "started_at": (T0 + timedelta(seconds=start_s)).isoformat(),
        "ended_at": (T0 + timedelta(seconds=end_s)).isoformat(),
        "saved_at": (T0 + timedelta(seconds=end_s)).isoformat(),
        "it_energy_j": 1.0,
        "status": "interrupted",
        "signal": "SIGTERM",
        "slurm": slurm,
    }


def test_requeue_gaps_are_stated_as_not_measured():
    notes = part_notes([_part(1, 0, 10, 0), _part(2, 130, 140, 1), _part(3, 300, 310, 2)], 0.0)
    gaps = [n for n in notes if "were not measured" in n]
    assert len(gaps) == 2
    assert "Part 2 is SLURM job 9's run 2: the 120.0 s from part 1's end" in gaps[0]
    assert "the 160.0 s from part 2's end" in gaps[1]
    assert not [n for n in part_notes([_part(1, 0, 10, None), _part(2, 30, 40, None)], 0.0) if "SLURM" in n]


def _measurement(host: str, energy_j: float) -> Measurement:
    return Measurement(
        name="fit",
        components=[ComponentEnergy("cpu", host, energy_j, "cpu_time_tdp_estimate", "estimated")],
        duration_s=10.0,
        started_at=T0,
        ended_at=T0 + timedelta(seconds=10),
        timeline=[],
        host=host,
    )


def test_hosts_are_listed_once_over_ranks_and_parts():
    first = reduce_measurements(
        [_measurement("nodeB", 1.0), _measurement("nodeA", 2.0), _measurement("nodeB", 3.0)]
    )
    assert first.hosts == ["nodeA", "nodeB"]
    assert {c.device: c.energy_j for c in first.components} == {"nodeA": 2.0, "nodeB": 4.0}
    second = reduce_measurements([_measurement("nodeC", 1.0)])
    assert merge_measurements(first, second).hosts == ["nodeA", "nodeB", "nodeC"]
    assert Measurement.from_dict(first.to_dict()).hosts == ["nodeA", "nodeB"]
    assert _measurement("solo", 1.0).to_result().hosts == ["solo"]

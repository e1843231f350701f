"""The pure pieces behind the SLURM and multi-host tests, without a cluster: the SLURM job a
part records and the hosts of a job reduced over ranks and parts (the requeue gaps in the notes:
tests/lightning/test_parts.py; the checkpoint a requeued run resumes from: tests/app/test_builders.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sci_lightning.energy.base import ComponentEnergy, Measurement
from sci_lightning.energy.reduce import merge_measurements, reduce_measurements
from sci_lightning.lightning.distributed import slurm_job

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

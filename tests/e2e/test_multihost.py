"""DDP over 2 "hosts" on loopback: 4 gloo ranks, 2 per host, each rank in its own UTS
namespace (``unshare --uts``) named ``nodeA`` or ``nodeB``; ``num_nodes=2``.

Host-level figures must come out once per host (RAPL: the largest reading of the host's
ranks, not their sum; the CPU-time and RAM estimates: one entry per host, summed over its
processes), a GPU once per UUID, and the report must list both hosts. Needs root (skips
otherwise, with the reason).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

HOSTS = ("nodeA", "nodeB")
STEPS = 4


def _can_unshare() -> str | None:
    if os.geteuid() != 0:
        return "unshare --uts needs root"
    try:
        done = subprocess.run(
            ["unshare", "--uts", "hostname", "probe"], capture_output=True, text=True, timeout=20
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"unshare not usable: {err}"
    return None if done.returncode == 0 else f"unshare --uts failed: {done.stderr.strip()}"


def _fake_rapl(base: Path, host: str) -> None:
    domain = base / host / "intel-rapl:0"
    domain.mkdir(parents=True)
    (domain / "name").write_text("package-0\n")
    (domain / "energy_uj").write_text("1000000\n")
    (domain / "max_energy_range_uj").write_text("262143328850\n")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(300)
def test_ddp_over_two_hosts_counts_each_host_once(tmp_path):
    reason = _can_unshare()
    if reason:
        pytest.skip(reason)
    rapl, out = tmp_path / "rapl", tmp_path / "out"
    for host in HOSTS:
        _fake_rapl(rapl, host)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "TORCHELASTIC_", "PL_"))}
    env.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_port()), WORLD_SIZE="4", GLOO_SOCKET_IFNAME="lo"
    )
    worker = Path(__file__).parents[1] / "helpers" / "multihost_worker.py"
    procs = []
    for node_rank, host in enumerate(HOSTS):
        for local_rank in range(2):
            cmd = [
                "unshare",
                "--uts",
                "sh",
                "-c",
                f'hostname {host} && exec "$0" "$@"',
                sys.executable,
                str(worker),
                str(out),
                str(rapl),
                str(STEPS),
            ]
            rank_env = {**env, "NODE_RANK": str(node_rank), "LOCAL_RANK": str(local_rank)}
            procs.append(
                subprocess.Popen(
                    cmd, env=rank_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
                )
            )
    logs = [p.communicate(timeout=280)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, "\n".join(log[-2000:] for log in logs)

    data = json.loads((out / "energy.json").read_text())
    assert data["world_size"] == 4 and data["hosts"] == list(HOSTS)
    comps = {(c["component"], c["device"], c["method"]): c for c in data["components"]}
    for host in HOSTS:
        rapl_cpu = comps[("cpu", f"{host}/package-0", "rapl")]
        assert rapl_cpu["energy_j"] == pytest.approx(STEPS * 1.0)  # the host's counter once, not per rank
        assert "seen by 2 processes, counted once" in rapl_cpu["notes"]
        for component, method in (("cpu", "cpu_time_tdp_estimate"), ("ram", "ram_per_gb_estimate")):
            entry = comps[(component, host, method)]
            assert entry["energy_j"] > 0 and "summed over 2 processes" in entry["notes"]
        gpu = comps[("gpu", f"GPU-{host}", "nvml_energy_counter")]
        assert "seen by 2 processes, counted once" in gpu["notes"]
    assert {d for (_, d, _) in comps} == {f"{h}/package-0" for h in HOSTS} | set(HOSTS) | {
        f"GPU-{h}" for h in HOSTS
    }
    assert data["images"] == 4 * STEPS * 8  # every rank's batches
    report = json.loads((out / "sci_report.json").read_text())
    assert report["training"]["hosts"] == list(HOSTS) and report["training"]["world_size"] == 4
    assert "4 processes on 2 host(s) (nodeA, nodeB)" in (out / "sci_report.md").read_text()

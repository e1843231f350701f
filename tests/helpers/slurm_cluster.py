"""A real one-node SLURM cluster on loopback, in a temporary folder, for the SLURM tests.

:func:`start_cluster` (root only) installs ``slurm-wlm`` and ``munge`` with apt-get when
they are missing, writes a small ``slurm.conf`` (this machine as the one node, with its
real CPUs and memory, one partition, requeue allowed, loopback ports) and a fresh munge
key in a temporary folder, starts ``munged``, ``slurmctld`` and ``slurmd`` there and waits
until ``sinfo`` shows the node idle. :meth:`LocalSlurm.stop` ends the three daemons by the
pids it started. Nothing is written outside the temporary folder except the Debian
packages.

Clients find the cluster through :attr:`LocalSlurm.env` (``SLURM_CONF``); the daemons run
as root, and so do the jobs.

By hand: ``python tests/helpers/slurm_cluster.py`` starts one, prints its ``SLURM_CONF`` and keeps it
up until Ctrl-C.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ClusterUnavailable", "LocalSlurm", "install_packages", "start_cluster"]

_DAEMONS = ("munged", "slurmctld", "slurmd", "sinfo", "sbatch", "scontrol")
_SBIN = ("/usr/sbin", "/usr/bin", "/sbin", "/bin")


class ClusterUnavailable(RuntimeError):
    """The cluster could not be started here (not root, no packages, a daemon failed); says why."""


def _which(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for folder in _SBIN:
        if os.access(os.path.join(folder, name), os.X_OK):
            return os.path.join(folder, name)
    return None


def install_packages(timeout_s: float = 600) -> None:
    """``apt-get install slurm-wlm munge`` when a daemon is missing (root only)."""
    if all(_which(name) for name in _DAEMONS):
        return
    if os.geteuid() != 0:
        raise ClusterUnavailable("SLURM is not installed and installing it (apt-get) needs root")
    if not _which("apt-get"):
        raise ClusterUnavailable("SLURM is not installed and there is no apt-get to install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "--no-install-recommends", "slurm-wlm", "munge"],
    ):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout_s, check=False)
        if done.returncode != 0:
            raise ClusterUnavailable(f"{' '.join(cmd)} failed: {done.stderr.strip()[-300:]}")


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _memory_mb() -> int:
    with open("/proc/meminfo", encoding="ascii") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return 1024


def slurm_conf(folder: Path, node: str, cpus: int, memory_mb: int, ports: list[int]) -> str:
    """The text of a one-node ``slurm.conf`` whose state, spool, logs and sockets live in ``folder``."""
    return "\n".join(
        [
            "ClusterName=scilocal",
            "SlurmctldHost=localhost(127.0.0.1)",
            "SlurmUser=root",
            "SlurmdUser=root",
            f"SlurmctldPort={ports[0]}",
            f"SlurmdPort={ports[1]}",
            f"AuthInfo=socket={folder / 'munge.socket'}",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"StateSaveLocation={folder / 'state'}",
            f"SlurmdSpoolDir={folder / 'spool'}",
            f"SlurmctldPidFile={folder / 'slurmctld.pid'}",
            f"SlurmdPidFile={folder / 'slurmd.pid'}",
            f"SlurmctldLogFile={folder / 'slurmctld.log'}",
            f"SlurmdLogFile={folder / 'slurmd.log'}",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            "SchedulerType=sched/backfill",
            "MpiDefault=none",
            "SwitchType=switch/none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "JobRequeue=1",
            "ReturnToService=2",
            "KillWait=60",
            "MinJobAge=600",
            "SlurmctldTimeout=30",
            "SlurmdTimeout=30",
            "InactiveLimit=0",
            f"NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN",
            f"PartitionName=debug Nodes={node} Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO",
            "",
        ]
    )


@dataclass
class LocalSlurm:
    """A running one-node cluster: its folder, the environment its clients need, its daemons."""

    folder: Path
    node: str
    pids: dict[str, int] = field(default_factory=dict)

    @property
    def conf(self) -> Path:
        return self.folder / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        """The environment for ``sbatch``/``squeue``/``scontrol`` (and submitit) to reach this cluster."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def run(self, *cmd: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
        """A SLURM client command against this cluster (output as text, never raises on failure)."""
        return subprocess.run(
            list(cmd), env=self.env, capture_output=True, text=True, timeout=timeout_s, check=False
        )

    def node_state(self) -> str:
        return self.run("sinfo", "-h", "-N", "-o", "%t", timeout_s=20).stdout.strip()

    def job_field(self, job_id: str, name: str) -> str | None:
        """One ``Name=value`` field of ``scontrol show job`` (``None`` when the job is unknown)."""
        out = self.run("scontrol", "-o", "show", "job", job_id, timeout_s=20).stdout
        for token in out.split():
            key, _, value = token.partition("=")
            if key == name:
                return value
        return None

    def wait_job(self, job_id: str, states: set[str], timeout_s: float, poll_s: float = 1.0) -> str:
        """Wait until the job's ``JobState`` is one of ``states``; return it (raises on timeout)."""
        deadline = time.monotonic() + timeout_s
        state = None
        while time.monotonic() < deadline:
            state = self.job_field(job_id, "JobState")
            if state in states:
                return state
            time.sleep(poll_s)
        raise TimeoutError(
            f"SLURM job {job_id} still {state} after {timeout_s:.0f} s (wanted {sorted(states)})"
        )

    def stop(self) -> None:
        """SIGTERM each daemon this object started (slurmd first), then SIGKILL any left."""
        for name in ("slurmd", "slurmctld", "munged"):
            pid = self.pids.get(name)
            if pid is not None:
                _end(pid)
        self.pids.clear()

    def log_tail(self, chars: int = 2000) -> str:
        out = []
        for name in ("slurmctld.log", "slurmd.log", "munged.log"):
            path = self.folder / name
            if path.is_file():
                out.append(f"--- {name}\n{path.read_text(errors='replace')[-chars:]}")
        return "\n".join(out)


def _end(pid: int, grace_s: float = 10) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _wait_pidfile(path: Path, timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            return int(path.read_text().strip())
        except (OSError, ValueError):
            time.sleep(0.1)
    raise ClusterUnavailable(f"{path.name} did not appear within {timeout_s:.0f} s")


def _start_munge(cluster: LocalSlurm) -> None:
    folder = cluster.folder
    key = folder / "munge.key"
    key.write_bytes(os.urandom(128))
    key.chmod(0o400)
    cmd = [
        _which("munged"),
        "--force",
        f"--key-file={key}",
        f"--socket={folder / 'munge.socket'}",
        f"--pid-file={folder / 'munged.pid'}",
        f"--log-file={folder / 'munged.log'}",
        f"--seed-file={folder / 'munged.seed'}",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        raise ClusterUnavailable(f"munged did not start: {done.stderr.strip()[-300:]}")
    cluster.pids["munged"] = _wait_pidfile(folder / "munged.pid", 10)


def _start_daemons(cluster: LocalSlurm) -> None:
    env = cluster.env
    for name, args in (("slurmctld", ["-i"]), ("slurmd", ["-N", cluster.node])):
        cmd = [_which(name), "-f", str(cluster.conf), *args]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise ClusterUnavailable(
                f"{name} did not start: {done.stderr.strip()[-300:]}\n{cluster.log_tail()}"
            )
        cluster.pids[name] = _wait_pidfile(cluster.folder / f"{name}.pid", 20)


def _wait_idle(cluster: LocalSlurm, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    state = ""
    while time.monotonic() < deadline:
        state = cluster.node_state()
        if state == "idle":
            return
        time.sleep(0.5)
    raise ClusterUnavailable(
        f"the node is {state or 'not listed'} after {timeout_s:.0f} s\n{cluster.log_tail()}"
    )


def start_cluster(
    folder: str | os.PathLike[str] | None = None, *, install: bool = True, timeout_s: float = 60
) -> LocalSlurm:
    """Start a one-node cluster (root only); raises :class:`ClusterUnavailable` with the reason."""
    if os.geteuid() != 0:
        raise ClusterUnavailable("starting slurmctld/slurmd/munged needs root")
    if install:
        install_packages()
    missing = [name for name in _DAEMONS if not _which(name)]
    if missing:
        raise ClusterUnavailable(f"not installed: {', '.join(missing)} (apt-get install slurm-wlm munge)")
    base = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="sci-slurm-"))
    for sub in ("state", "spool"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    node = socket.gethostname().split(".")[0] or "localnode"
    cluster = LocalSlurm(base, node)
    cluster.conf.write_text(
        slurm_conf(base, node, os.cpu_count() or 1, max(256, _memory_mb() - 512), _free_ports(2))
    )
    try:
        _start_munge(cluster)
        _start_daemons(cluster)
        _wait_idle(cluster, timeout_s)
    except BaseException:
        cluster.stop()
        raise
    return cluster


if __name__ == "__main__":
    up = start_cluster()
    print(f"export SLURM_CONF={up.conf}  # node {up.node}; Ctrl-C stops it", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        up.stop()

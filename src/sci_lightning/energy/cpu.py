"""CPU energy: RAPL counters where readable, else an estimate from this process's CPU time.

``RaplEnergyMeter`` reads ``energy_uj`` of the package and DRAM domains under
``/sys/class/powercap/intel-rapl:*`` (also used by AMD CPUs). Counters wrap at
``max_energy_range_uj``; each read adds the wrapped difference, and a slow background
poll (every 5 s) makes sure no wrap is missed during long pauses between steps. RAPL
covers the whole socket (every process on it), so it is a host-level figure.

``CpuTimeEnergyMeter`` (estimated) multiplies the CPU seconds of this process and its
children (e.g. dataloader workers) by ``tdp_w / cores``: a busy core is assumed to draw
its share of the package TDP, an idle one nothing. It is a per-process figure. It also
records the machine's 1-minute load average while it runs (:attr:`CpuTimeEnergyMeter.load`)
and its note states the estimate's sensitivity to load: on a machine loaded beyond its CPU
count, the same work takes more CPU seconds (caches, memory bandwidth and cores shared with
other processes), so the estimate rises with the load.
"""

from __future__ import annotations

import glob
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from typing_extensions import override

from sci_lightning.energy._common import FaultLog, add_note, hostname
from sci_lightning.energy.base import METHODS, ComponentEnergy, EnergyMeter

RAPL = "rapl"
CPU_TIME = "cpu_time_tdp_estimate"


# --------------------------------------------------------------------------- RAPL
@dataclass
class RaplDomain:
    """One RAPL counter file."""

    name: str  # e.g. "package-0", "dram"
    path: str  # the domain directory
    max_range_uj: int
    component: str  # "cpu" for packages, "ram" for DRAM

    def read_uj(self) -> int:
        with open(os.path.join(self.path, "energy_uj")) as f:
            return int(f.read().strip())


def find_rapl_domains(root: str = "/sys/class/powercap") -> tuple[list[RaplDomain], str | None]:
    """Package and DRAM domains under ``root`` that can be read.

    Returns ``(domains, reason)``: ``reason`` is ``None`` when all is well, otherwise why
    RAPL cannot be used (absent, or present but unreadable) and how to fix it.
    Core/uncore sub-domains are skipped: they are part of the package figure.
    """
    dirs = sorted(glob.glob(os.path.join(root, "intel-rapl:*")))
    if not dirs:
        return [], f"no RAPL domains under {root}"
    domains: list[RaplDomain] = []
    denied: list[str] = []
    seen: set[str] = set()
    for d in dirs:
        real = os.path.realpath(d)
        if real in seen:
            continue
        seen.add(real)
        try:
            with open(os.path.join(d, "name")) as f:
                name = f.read().strip()
        except OSError:
            continue
        if name.startswith("package"):
            component = "cpu"
        elif name == "dram":
            component = "ram"
        else:
            continue
        try:
            with open(os.path.join(d, "max_energy_range_uj")) as f:
                max_range = int(f.read().strip())
            dom = RaplDomain(name=name, path=d, max_range_uj=max_range, component=component)
            dom.read_uj()
        except PermissionError:
            denied.append(os.path.join(d, "energy_uj"))
            continue
        except (OSError, ValueError):
            continue
        # a DRAM domain (intel-rapl:P:S) belongs to package P: give it a unique name
        parts = os.path.basename(d).split(":")
        if component == "ram" and len(parts) >= 3:
            dom.name = f"package-{parts[1]}/dram"
        domains.append(dom)
    if not any(d.component == "cpu" for d in domains):
        if denied:
            return [], (
                f"RAPL counters exist but are not readable ({denied[0]}: permission denied); "
                "allow reading them, e.g. `sudo chmod a+r /sys/class/powercap/intel-rapl:*/energy_uj "
                "/sys/class/powercap/intel-rapl:*/*/energy_uj`, or run as a user who can"
            )
        return [], f"no readable RAPL package domain under {root}"
    return domains, None


def wrapped_delta_uj(prev_uj: int, now_uj: int, max_range_uj: int) -> int:
    """Counter difference allowing for one wraparound at ``max_range_uj``."""
    d = now_uj - prev_uj
    if d < 0:
        d += max_range_uj
    return d


class RaplEnergyMeter(EnergyMeter):
    """Measured CPU package (and, as component ``ram``, DRAM) energy from RAPL.

    ``component`` is ``"cpu"``; DRAM domains are reported as separate ``ram``
    components with method ``rapl``. If a counter becomes unreadable mid-run the
    energy so far is kept, the meter warns once and continues with a
    :class:`CpuTimeEnergyMeter` estimate (flagged ``partial``).

    Args:
        root: powercap root (a fake tree in tests).
        fallback: estimate meter to continue with after a fault.
        poll_interval_s: background poll guarding against missed wraparounds (0: none).
    """

    component = "cpu"

    def __init__(
        self,
        root: str = "/sys/class/powercap",
        fallback: CpuTimeEnergyMeter | None = None,
        poll_interval_s: float = 5.0,
        include_dram: bool = True,
    ) -> None:
        self.root = root
        self.fallback = fallback
        self.poll_interval_s = poll_interval_s
        self.include_dram = include_dram
        self._host = hostname()
        self._domains: list[RaplDomain] = []
        self._last_uj: list[int] = []
        self._energy_j: list[float] = []
        self._failed = False
        self._faults = FaultLog("CPU energy (RAPL)")
        self._lock: threading.Lock | None = None
        self._stop_event: threading.Event | None = None
        self._thread: threading.Thread | None = None

    @override
    def exclude_pids(self, pids: Iterable[int]) -> None:
        """RAPL counts the whole package once per host; only the fallback estimate needs this."""
        if self.fallback is not None:
            self.fallback.exclude_pids(pids)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.update(_lock=None, _stop_event=None, _thread=None)
        return state

    def _device(self, dom: RaplDomain) -> str:
        return f"{self._host}/{dom.name}"

    def start(self) -> None:
        self._lock = threading.Lock()
        self._stop_event = threading.Event()
        domains, reason = find_rapl_domains(self.root)
        if not self.include_dram:
            domains = [d for d in domains if d.component == "cpu"]
        if reason is not None:
            self._fail(reason)
            return
        self._domains = domains
        try:
            self._last_uj = [d.read_uj() for d in domains]
        except OSError as err:
            self._fail(f"RAPL read failed ({err})")
            return
        self._energy_j = [0.0] * len(domains)
        if self.poll_interval_s > 0:
            self._thread = threading.Thread(target=self._poll, name="rapl-poll", daemon=True)
            self._thread.start()

    def _poll(self) -> None:
        assert self._stop_event is not None
        while not self._stop_event.wait(self.poll_interval_s):
            self.read_j()

    def _fail(self, reason: str) -> None:
        self._failed = True
        self._faults.fault(f"{reason}; CPU energy continues as an estimate from CPU time")
        if self.fallback is not None:
            self.fallback.start()

    def read_j(self) -> dict[str, float]:
        if self._lock is None:
            return {}
        with self._lock:
            if not self._failed:
                try:
                    for i, dom in enumerate(self._domains):
                        now = dom.read_uj()
                        self._energy_j[i] += wrapped_delta_uj(self._last_uj[i], now, dom.max_range_uj) / 1e6
                        self._last_uj[i] = now
                except (OSError, ValueError) as err:
                    self._fail(f"RAPL counter became unreadable mid-run ({err})")
            out = {self._device(d): e for d, e in zip(self._domains, self._energy_j)}
        if self._failed and self.fallback is not None:
            for k, v in self.fallback.read_j().items():
                out[k] = out.get(k, 0.0) + v
        return out

    def stop(self) -> None:
        if self._stop_event is not None:
            self._stop_event.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
        self.read_j()
        if self._failed and self.fallback is not None:
            self.fallback.stop()

    def components(self) -> list[ComponentEnergy]:
        partial = self._failed and bool(self._domains)
        notes = list(self._faults.notes)
        out = [
            ComponentEnergy(
                d.component,
                self._device(d),
                e,
                RAPL,
                METHODS[RAPL][0],
                "partial" if partial else "ok",
                notes + ["whole CPU socket: every process on it, not only this job"],
            )
            for d, e in zip(self._domains, self._energy_j)
        ]
        if self._failed and self.fallback is not None:
            for c in self.fallback.components():
                if partial:
                    c.status = "partial"
                for n in notes:
                    add_note(c.notes, n)
                out.append(c)
        return out

    @property
    @override
    def notes(self) -> list[str]:
        return list(self._faults.notes)


# --------------------------------------------------------------------------- CPU time
_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _read_proc_stat(pid: int) -> tuple[float, int] | None:
    """``(cpu_seconds incl. reaped grandchildren, starttime)`` of a live process, or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    try:
        fields = data[data.rindex(b")") + 2 :].split()
        # fields[0] is state (field 3); utime=14, stime=15, cutime=16, cstime=17, starttime=22
        ticks = int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
        return ticks / _CLK_TCK, int(fields[19])
    except (ValueError, IndexError):
        return None


def _live_children(pid: int) -> list[int] | None:
    """PIDs of this process's live children via ``/proc/<pid>/task/*/children``; None if unsupported."""
    paths = glob.glob(f"/proc/{pid}/task/*/children")
    if not paths:
        return None
    out: list[int] = []
    for p in paths:
        try:
            with open(p) as f:
                out.extend(int(x) for x in f.read().split())
        except (OSError, ValueError):
            continue
    return out


class CpuTimeEnergyMeter(EnergyMeter):
    """Estimated CPU energy: CPU seconds x (TDP / cores), for this process and its children.

    Own CPU time comes from ``os.times()`` on every read (cheap). Children (dataloader
    workers) are scanned through ``/proc`` at most every ``children_scan_s`` seconds;
    children that have exited and been reaped are counted via ``os.times()``'s
    ``children_*`` fields, so none is counted twice or lost.

    Args:
        tdp_w: package TDP in watts.
        cores: cores behind ``tdp_w`` (default ``os.cpu_count()``).
        include_children: also count child processes.
        children_scan_s: minimum seconds between scans of live children.
        times: injectable ``os.times`` (tests).
        loadavg: injectable ``os.getloadavg`` (tests); the 1-minute load is sampled at start and
            at most every ``load_every_s`` seconds on a read.
    """

    component = "cpu"

    def __init__(
        self,
        tdp_w: float = 65.0,
        cores: int | None = None,
        include_children: bool = True,
        children_scan_s: float = 1.0,
        times: Callable[[], Any] = os.times,
        clock: Callable[[], float] = time.monotonic,
        loadavg: Callable[[], tuple[float, float, float]] | None = None,
        load_every_s: float = 5.0,
    ) -> None:
        self.tdp_w = float(tdp_w)
        self._loadavg = loadavg or getattr(os, "getloadavg", None)
        self.load_every_s = load_every_s
        self._load: list[float] = []
        self._last_load = float("-inf")
        self.cores = int(cores or os.cpu_count() or 1)
        self.include_children = include_children
        self.children_scan_s = children_scan_s
        self._times = times
        self._clock = clock
        self._host = hostname()
        self._pid = os.getpid()
        self._base_self_s = 0.0
        self._base_reaped_s = 0.0
        self._child_base: dict[tuple[int, int], float] = {}
        self._child_last: dict[tuple[int, int], float] = {}
        self._children_s = 0.0
        self._last_scan = float("-inf")
        self._cpu_s = 0.0
        self._notes: list[str] = []
        self._excluded: set[int] = set()

    @override
    def exclude_pids(self, pids: Iterable[int]) -> None:
        """Leave these child processes (and their subtrees) out of the count.

        Under DDP the other ranks may be children of rank 0; each rank meters itself, so
        rank 0 must not count them again. Call before :meth:`start`.
        """
        self._excluded = {int(p) for p in pids if int(p) != os.getpid()}
        if self._excluded:
            add_note(
                self._notes,
                f"{len(self._excluded)} other training rank(s) excluded from this process's children",
            )

    @property
    def watts_per_core(self) -> float:
        return self.tdp_w / self.cores

    def start(self) -> None:
        self._pid = os.getpid()
        self._load, self._last_load = [], float("-inf")
        self._sample_load()
        t = self._times()
        self._base_self_s = t.user + t.system
        self._base_reaped_s = t.children_user + t.children_system
        self._child_base = {}
        self._child_last = {}
        self._children_s = 0.0
        self._cpu_s = 0.0
        if self.include_children:
            kids = _live_children(self._pid)
            if kids is None:
                add_note(
                    self._notes,
                    "live child processes not visible (/proc/*/children missing); only exited children counted",
                )
            for pid in kids or []:
                if pid in self._excluded:
                    continue
                st = _read_proc_stat(pid)
                if st is not None:
                    self._child_base[(pid, st[1])] = st[0]
                    self._child_last[(pid, st[1])] = st[0]
        self._last_scan = self._clock()

    def _scan_children(self, t: Any) -> None:
        """Recompute children CPU seconds: reaped (os.times) + live (/proc)."""
        live_total = 0.0
        seen: dict[tuple[int, int], float] = {}
        kids = _live_children(self._pid) or []
        for pid in kids:
            if pid in self._excluded:
                continue
            st = _read_proc_stat(pid)
            if st is None:
                continue
            key = (pid, st[1])
            seen[key] = st[0]
            live_total += st[0] - self._child_base.get(key, 0.0)
        # children alive at start that are gone now: their pre-start CPU time shows up in
        # os.times() once reaped, so take it out again
        for key in list(self._child_base):
            if key not in seen:
                self._base_reaped_s += self._child_base.pop(key)
        reaped = (t.children_user + t.children_system) - self._base_reaped_s
        self._child_last = seen
        self._children_s = max(self._children_s, reaped + live_total)

    def _sample_load(self) -> None:
        now = self._clock()
        if self._loadavg is None or now - self._last_load < self.load_every_s:
            return
        self._last_load = now
        try:
            self._load.append(float(self._loadavg()[0]))
        except OSError:  # not available on this system: no load recorded
            self._loadavg = None

    @property
    def load(self) -> dict[str, float] | None:
        """The machine's 1-minute load average while metering: ``mean``, ``max``, ``samples``, ``cpus``."""
        if not self._load:
            return None
        return {
            "mean": sum(self._load) / len(self._load),
            "max": max(self._load),
            "samples": len(self._load),
            "cpus": float(os.cpu_count() or 1),
        }

    def load_note(self) -> str | None:
        """What the load was, and what it does to this estimate."""
        load = self.load
        if load is None:
            return None
        cpus = int(load["cpus"])
        text = (
            f"machine load average (1 min, this job included) during the run: mean {load['mean']:.1f}, "
            f"max {load['max']:.1f} on {cpus} CPU(s), {int(load['samples'])} sample(s); "
        )
        if load["mean"] > cpus:
            return text + (
                "the machine was loaded beyond its CPUs: CPU time then includes stalls on caches, memory "
                "and cores shared with other processes, so this estimate is likely above what the same "
                "work counts on an idle machine (4x was observed for one DenseNet epoch at load ~15 vs ~1 "
                "on 2 CPUs); compare estimates only at similar loads"
            )
        return text + (
            "the load stayed within the CPU count, so contention inflates this estimate little; "
            "at loads beyond the CPU count the same work counts more CPU time"
        )

    def read_j(self) -> dict[str, float]:
        self._sample_load()
        t = self._times()
        own = t.user + t.system - self._base_self_s
        if self.include_children:
            now = self._clock()
            if now - self._last_scan >= self.children_scan_s:
                self._last_scan = now
                self._scan_children(t)
        self._cpu_s = max(self._cpu_s, own + self._children_s)
        return {self._host: self._cpu_s * self.watts_per_core}

    def stop(self) -> None:
        if self.include_children:
            self._scan_children(self._times())
        self._last_load = float("-inf")  # one last sample
        self.read_j()

    @property
    def cpu_s(self) -> float:
        """CPU seconds counted so far (process + children)."""
        return self._cpu_s

    def components(self) -> list[ComponentEnergy]:
        notes = (
            [
                f"{self._cpu_s:.1f} CPU-s x {self.watts_per_core:.2f} W/core "
                f"(TDP {self.tdp_w:g} W / {self.cores} cores); this process"
                + (" and its children" if self.include_children else "")
            ]
            + self._notes
            + [n for n in (self.load_note(),) if n]
        )
        return [
            ComponentEnergy(
                "cpu",
                self._host,
                self._cpu_s * self.watts_per_core,
                CPU_TIME,
                METHODS[CPU_TIME][0],
                "ok",
                notes,
            )
        ]

"""RAPL on a fake sysfs tree and the CPU-time estimate (the RAM estimate: test_ram.py; build_meters:
test_meters.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest

from sci_lightning.energy import (
    CpuTimeEnergyMeter,
    EnergyConfig,
    EnergyMeterWarning,
    RamEstimateMeter,
    RaplEnergyMeter,
    build_meters,
    find_rapl_domains,
)
from sci_lightning.energy.cpu import RaplDomain, wrapped_delta_uj

MAX_UJ = 1_000_000


def _domain(root: Path, name: str, dirname: str, energy_uj: int) -> Path:
    d = root / dirname
    d.mkdir(parents=True)
    (d / "name").write_text(name + "\n")
    (d / "energy_uj").write_text(f"{energy_uj}\n")
    (d / "max_energy_range_uj").write_text(f"{MAX_UJ}\n")
    return d


@pytest.fixture
def rapl_tree(tmp_path: Path) -> Path:
    root = tmp_path / "powercap"
    _domain(root, "package-0", "intel-rapl:0", 900_000)
    _domain(root, "dram", "intel-rapl:0:0", 10)
    _domain(root, "core", "intel-rapl:0:1", 5)  # part of the package: must be ignored
    (root / "intel-rapl").mkdir()  # the control-type folder has no counters
    return root


def _set(root: Path, dirname: str, uj: int) -> None:
    (root / dirname / "energy_uj").write_text(f"{uj}\n")


def test_wrapped_delta():
    assert wrapped_delta_uj(100, 300, MAX_UJ) == 200
    assert wrapped_delta_uj(900_000, 100_000, MAX_UJ) == 200_000


def test_rapl_reads_package_and_dram_with_wraparound(rapl_tree):
    domains, reason = find_rapl_domains(str(rapl_tree))
    assert reason is None
    assert sorted(d.name for d in domains) == ["package-0", "package-0/dram"]
    m = RaplEnergyMeter(str(rapl_tree), poll_interval_s=0)
    m.start()
    _set(rapl_tree, "intel-rapl:0", 950_000)
    _set(rapl_tree, "intel-rapl:0:0", 500_010)  # dram: +0.5 J
    m.read_j()
    _set(rapl_tree, "intel-rapl:0", 150_000)  # wrapped: 950k -> 1M -> 150k = +200k uJ
    out = m.read_j()
    pkg = [v for k, v in out.items() if k.endswith("/package-0")][0]
    dram = [v for k, v in out.items() if k.endswith("/dram")][0]
    assert pkg == pytest.approx(0.25)  # 50k + 200k uJ
    assert dram == pytest.approx(0.5)
    m.stop()
    comps = {c.component: c for c in m.components()}
    assert comps["cpu"].method == comps["ram"].method == "rapl"
    assert comps["cpu"].quality == "measured" and comps["cpu"].status == "ok"


def test_rapl_unreadable_counter_reason_says_how_to_fix(rapl_tree, monkeypatch):
    def denied(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(RaplDomain, "read_uj", denied)
    domains, reason = find_rapl_domains(str(rapl_tree))
    assert domains == [] and "not readable" in reason and "chmod" in reason
    with pytest.warns(EnergyMeterWarning, match="not readable"):
        meters = build_meters(EnergyConfig(rapl_root=str(rapl_tree)), None)
    assert [type(m) for m in meters] == [CpuTimeEnergyMeter, RamEstimateMeter]


def test_rapl_failure_mid_run_falls_back_to_estimate_once(rapl_tree):
    est = CpuTimeEnergyMeter(tdp_w=40, cores=4, include_children=False)
    m = RaplEnergyMeter(str(rapl_tree), fallback=est, poll_interval_s=0)
    m.start()
    _set(rapl_tree, "intel-rapl:0", 910_000)
    m.read_j()
    os.remove(rapl_tree / "intel-rapl:0" / "energy_uj")
    with pytest.warns(EnergyMeterWarning, match="unreadable mid-run"):
        m.read_j()
    with warnings.catch_warnings():
        warnings.simplefilter("error", EnergyMeterWarning)
        m.read_j()  # the second failed read does not warn again
    sum(i * i for i in range(200_000))  # burn a little CPU for the estimate
    m.stop()
    comps = m.components()
    methods = sorted(c.method for c in comps)
    assert methods == ["cpu_time_tdp_estimate", "rapl", "rapl"]
    pkg = next(c for c in comps if c.method == "rapl" and c.component == "cpu")
    assert pkg.energy_j == pytest.approx(0.01) and pkg.status == "partial"
    est_c = next(c for c in comps if c.method == "cpu_time_tdp_estimate")
    assert est_c.status == "partial" and est_c.quality == "estimated" and est_c.energy_j >= 0


def test_cpu_time_estimate_arithmetic_with_injected_times():
    t = SimpleNamespace(user=10.0, system=2.0, children_user=1.0, children_system=0.0)
    m = CpuTimeEnergyMeter(tdp_w=80.0, cores=8, include_children=True, times=lambda: t, children_scan_s=0)
    m.start()
    t.user, t.system = 13.0, 3.0  # +4 CPU-s
    t.children_user = 3.0  # a reaped child: +2 CPU-s
    out = m.read_j()
    assert list(out.values()) == [pytest.approx(6.0 * 10.0)]  # 6 CPU-s x 10 W/core
    t.user = 12.0  # clocks never make the figure go backwards
    assert list(m.read_j().values()) == [pytest.approx(60.0)]
    (c,) = m.components()
    assert c.method == "cpu_time_tdp_estimate" and c.quality == "estimated" and "10.00 W/core" in c.notes[0]


def test_cpu_time_estimate_counts_live_and_reaped_children():
    m = CpuTimeEnergyMeter(tdp_w=10.0, cores=1, include_children=True, children_scan_s=0)
    m.start()
    burn = "import time\nt=time.process_time()\nwhile time.process_time()-t<0.8: pass\nimport sys; sys.stdin.read()"
    p = subprocess.Popen([sys.executable, "-c", burn], stdin=subprocess.PIPE)
    try:
        own_before = os.times()
        # wait until the child has burnt its CPU (it then blocks on stdin, still alive)
        import time

        deadline = time.monotonic() + 30
        live = 0.0
        while time.monotonic() < deadline:
            m.read_j()
            live = m.cpu_s - (os.times().user + os.times().system - own_before.user - own_before.system)
            if live >= 0.4:
                break
            time.sleep(0.05)
        assert live >= 0.4, "live child CPU time not counted"
    finally:
        p.communicate(b"")
    m.read_j()
    after_reap = m.cpu_s
    assert after_reap >= 0.4
    m.stop()
    # reaped child moved from the /proc scan to os.times(): not counted twice
    assert m.cpu_s < after_reap + 0.3


def test_excluded_child_processes_are_not_counted():
    """Under DDP the other ranks may be children of rank 0: each rank meters itself."""
    import time

    m = CpuTimeEnergyMeter(tdp_w=10.0, cores=1, include_children=True, children_scan_s=0)
    burn = "import time\nt=time.process_time()\nwhile time.process_time()-t<0.8: pass\nimport sys; sys.stdin.read()"
    p = subprocess.Popen([sys.executable, "-c", burn], stdin=subprocess.PIPE)
    try:
        m.exclude_pids([p.pid, os.getpid()])
        m.start()
        own_before = os.times()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # until the child has burnt its CPU time
            with open(f"/proc/{p.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") >= 0.7:
                break
            time.sleep(0.05)
        m.read_j()
        own = os.times().user + os.times().system - own_before.user - own_before.system
        assert m.cpu_s <= own + 0.1, "an excluded child's CPU time was counted"
    finally:
        p.communicate(b"")
    m.stop()
    assert any("excluded" in n for n in m.components()[0].notes)


@pytest.mark.parametrize("loads, loaded", [([14.0, 16.0, 15.0], True), ([0.5, 1.0, 1.5], False)])
def test_cpu_time_estimate_records_the_load_and_states_its_sensitivity(loads, loaded):
    t = SimpleNamespace(user=1.0, system=0.0, children_user=0.0, children_system=0.0)
    now = [0.0]
    samples = iter(loads)
    m = CpuTimeEnergyMeter(
        tdp_w=20.0,
        cores=2,
        include_children=False,
        times=lambda: t,
        clock=lambda: now[0],
        loadavg=lambda: (next(samples), 0.0, 0.0),
        load_every_s=5.0,
    )
    m.start()  # sample 1
    now[0] = 1.0
    m.read_j()  # too soon: no sample
    now[0] = 6.0
    m.read_j()  # sample 2
    m.stop()  # sample 3 (the last one always)
    load = m.load
    assert (
        load["samples"] == 3 and load["mean"] == pytest.approx(sum(loads) / 3) and load["max"] == max(loads)
    )
    note = m.components()[0].notes[-1]
    assert note.startswith(
        f"machine load average (1 min, this job included) during the run: mean {sum(loads) / 3:.1f}"
    )
    assert ("loaded beyond its CPUs" in note) is loaded and "estimate" in note


def test_cpu_time_estimate_without_a_load_average():
    def broken():
        raise OSError("no /proc/loadavg")

    m = CpuTimeEnergyMeter(include_children=False, loadavg=broken)
    m.start()
    m.stop()
    assert m.load is None and not any("load average" in n for n in m.components()[0].notes)

"""energy/ram.py: the RAM estimate, resident memory (GB) x W/GB x wall time, on an injected RSS and clock."""

from __future__ import annotations

import os
import resource

import pytest

from sci_lightning.energy import ram
from sci_lightning.energy._common import hostname
from sci_lightning.energy.base import METHODS
from sci_lightning.energy.ram import RAM_ESTIMATE, RamEstimateMeter, rss_bytes


class _Scripted:
    """An RSS in bytes and a monotonic clock the test sets, counting the RSS reads."""

    def __init__(self, rss_b: float, t: float = 0.0) -> None:
        self.rss_b, self.t, self.reads = rss_b, t, 0

    def rss(self) -> int:
        self.reads += 1
        return int(self.rss_b)

    def clock(self) -> float:
        return self.t


def _meter(s: _Scripted, w_per_gb: float = 0.5, interval_s: float = 1.0) -> RamEstimateMeter:
    return RamEstimateMeter(w_per_gb=w_per_gb, sample_interval_s=interval_s, rss=s.rss, clock=s.clock)


def test_ram_estimate_integrates_rss_over_time():
    s = _Scripted(2e9)
    m = _meter(s)
    m.start()
    s.t = 0.5
    s.rss_b = 8e9  # not sampled within the interval: the last sample's 2 GB holds until t = 1
    assert list(m.read_j().values()) == [pytest.approx(2 * 0.5 * 0.5)]  # a short window is not 0 J
    s.rss_b = 2e9
    s.t = 10.0
    s.rss_b = 4e9
    assert list(m.read_j().values()) == [pytest.approx(2 * 0.5 * 10)]
    s.t = 20.0
    m.stop()
    (c,) = m.components()
    assert c.energy_j == pytest.approx(10 + 4 * 0.5 * 10)
    assert c.method == "ram_per_gb_estimate" and c.quality == "estimated"


def test_rss_is_read_at_most_once_per_sample_interval():
    s = _Scripted(1e9)
    m = _meter(s, interval_s=5.0)
    m.start()
    for t in (1.0, 2.0, 4.9):
        s.t = t
        m.read_j()
    assert s.reads == 1  # only start() read it
    s.t = 5.0
    m.read_j()
    assert s.reads == 2


def test_the_figure_is_keyed_by_host_and_starts_at_zero():
    s = _Scripted(3e9)
    m = _meter(s)
    m.start()
    assert m.read_j() == {hostname(): 0.0}
    assert m.component == "ram"


def test_start_begins_a_new_window():
    s = _Scripted(1e9)
    m = _meter(s, w_per_gb=1.0)
    m.start()
    s.t = 10.0
    m.stop()
    assert m.read_j()[hostname()] == pytest.approx(10.0)
    m.start()  # at t = 10
    s.t = 12.0
    assert m.read_j()[hostname()] == pytest.approx(2.0)


def test_components_state_the_gb_hours_the_peak_and_the_rate():
    s = _Scripted(2e9)
    m = _meter(s, w_per_gb=0.375)
    m.start()
    s.t, s.rss_b = 1800.0, 6e9
    m.read_j()  # samples 6 GB at t = 1800
    s.t = 3600.0
    m.stop()
    (c,) = m.components()
    # 2 GB x 1800 s + 6 GB x 1800 s = 14,400 GB-s = 4 GB-h; x 0.375 W/GB
    assert c.energy_j == pytest.approx(14_400 * 0.375)
    assert (c.component, c.device, c.method, c.quality, c.status) == (
        "ram",
        hostname(),
        RAM_ESTIMATE,
        METHODS[RAM_ESTIMATE][0],
        "ok",
    )
    assert c.notes == ["4.000 GB-h resident (peak 6.00 GB) x 0.375 W/GB; this process only"]


def test_the_default_rate_is_the_common_calculators_figure():
    assert RamEstimateMeter().w_per_gb == 0.375 and RamEstimateMeter().sample_interval_s == 1.0


def test_rss_bytes_reads_this_processs_resident_pages():
    with open("/proc/self/statm", "rb") as f:
        pages = int(f.read().split()[1])
    measured = rss_bytes()
    assert measured % os.sysconf("SC_PAGE_SIZE") == 0
    assert 0.5 * pages * os.sysconf("SC_PAGE_SIZE") < measured < 2 * pages * os.sysconf("SC_PAGE_SIZE")


def test_rss_bytes_without_proc_is_the_peak_rss(monkeypatch):
    def no_proc(*args, **kwargs):
        raise FileNotFoundError("/proc/self/statm")

    monkeypatch.setattr(ram, "open", no_proc, raising=False)
    assert rss_bytes() == resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

"""EnergyMonitor: named measurement windows over a set of energy meters (no Lightning here).

The design follows Zeus's ``ZeusMonitor.begin_window`` / ``end_window``: the meters run
continuously, and a window remembers their cumulative readings at its start, so windows
can nest and overlap and ending one leaves the others running::

    monitor = EnergyMonitor(config=EnergyConfig(), device_indices=[0])
    monitor.begin_window("train")
    for epoch in range(2):
        with monitor.measure(f"epoch-{epoch}") as epoch_window:
            for x, y in loader:
                train_step(x, y)
                monitor.record_step(images=len(x))
        print(epoch_window.measurement.energy_j)
    train = monitor.end_window("train")
    monitor.close()

The device is synchronized at each window edge (queued GPU work belongs to the window
that launched it).

Reads follow the hardware, not the step rate: :meth:`record_step` counts the step and
reads the meters (one ``read_j`` each, extending every open window's bounded timeline)
only when ``min_read_interval_s`` (default 0.1 s, about the NVML counter's refresh) has
passed since the last reading; otherwise it costs one monotonic clock check. Where one
reading costs more than ``READ_SHARE`` of that interval, the interval widens so that
reading stays under that share of wall time. Every window edge reads (``begin_window``,
``end_window``, ``peek``, ``advance``), so window totals are exact whatever the
interval; steps counted between readings belong to the next reading's interval. Each
measurement states its resolution (``Measurement.resolution``): the reading rate, a
window shorter than a counter's refresh, a power-sampled figure's coverage, and the GPU
idle power when :meth:`measure_idle_baseline` (``idle_baseline_s``) measured it. A meter that raises is never
allowed to reach the caller: the monitor warns once (:class:`EnergyMeterWarning`), keeps
the meter's figures up to the fault (flagged ``partial``) and records why.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol, runtime_checkable

from typing_extensions import override

from sci_lightning.energy._common import EnergyMeterWarning, add_note, hostname
from sci_lightning.energy.base import METHODS, ComponentEnergy, EnergyMeter, Measurement
from sci_lightning.energy.meters import build_meters
from sci_lightning.energy.reduce import merge_measurements
from sci_lightning.energy.timeline import Timeline, fit_rows, rows_to_intervals
from sci_lightning.settings import EnergyConfig, coerce

__all__ = ["READ_SHARE", "EnergyMonitor"]

_STATE_VERSION = 1
#: Most of the wall time meter readings may take before the read interval widens.
READ_SHARE = 0.001
_Key = tuple[str, str, str]  # (component, device, method)


def cuda_sync(device_indices: Sequence[int] | None) -> Callable[[], None] | None:
    """A callable that waits for the given CUDA devices (``None`` when there are none)."""
    if not device_indices:
        return None
    indices = list(device_indices)

    def sync() -> None:
        import torch

        if torch.cuda.is_available():
            for i in indices:
                torch.cuda.synchronize(i)

    return sync


class _FrozenMeter(EnergyMeter):
    """A meter that failed: its last figures, flagged ``partial``, and no energy after the fault."""

    def __init__(self, component: str, last: list[ComponentEnergy], reason: str) -> None:
        self.component = component
        self._components = [
            ComponentEnergy(
                c.component, c.device, c.energy_j, c.method, c.quality, "partial", [*c.notes, reason]
            )
            for c in last
        ]
        self._reason = reason

    @override
    def start(self) -> None:
        pass

    @override
    def read_j(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for c in self._components:
            out[c.device] = out.get(c.device, 0.0) + c.energy_j
        return out

    @override
    def components(self) -> list[ComponentEnergy]:
        return list(self._components)

    @property
    @override
    def notes(self) -> list[str]:
        return [self._reason]


@dataclass
class _Slot:
    """One meter and its latest cumulative reading (joules since it started)."""

    meter: EnergyMeter
    last_j: float = 0.0


@dataclass
class _Window:
    """An open window: the readings at its start and what happened since."""

    name: str
    begin_ts: float
    begin_total_j: float
    begin: dict[_Key, ComponentEnergy]
    timeline: Timeline
    marks: dict[int, Any] = field(default_factory=dict)  # slot index -> the meter's resolution mark
    steps: int = 0
    images: int = 0
    readings: int = 0


@dataclass
class Measuring:
    """What :meth:`EnergyMonitor.measure` yields: ``measurement`` is set when the block ends."""

    name: str
    measurement: Measurement | None = field(default=None)


def _seconds(given: float | None, cfg: EnergyConfig, name: str, default: float) -> float:
    """A duration argument, else the setting ``name`` where ``EnergyConfig`` has it, else ``default``."""
    value = getattr(cfg, name, default) if given is None else given
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return float(value)


@runtime_checkable
class _Resolving(Protocol):
    """A meter that says how finely it resolved a window (``NvmlEnergyMeter``): a mark taken at
    the window's start, then notes for the window given that mark."""

    def resolution_mark(self) -> dict[str, int]: ...

    def resolution_notes(self, mark: dict[str, int] | None, duration_s: float) -> list[str]: ...


def _mark(meter: EnergyMeter) -> dict[str, int] | None:
    """The meter's resolution mark at a window's start (meters without one: ``None``)."""
    return meter.resolution_mark() if isinstance(meter, _Resolving) else None


def _notes(meter: EnergyMeter, mark: dict[str, int] | None, duration_s: float) -> list[str]:
    """The meter's own resolution notes for a window (meters without them: none)."""
    return list(meter.resolution_notes(mark, duration_s)) if isinstance(meter, _Resolving) else []


def _by_key(components: Iterable[ComponentEnergy]) -> dict[_Key, ComponentEnergy]:
    return {(c.component, c.device, c.method): c for c in components}


def _delta(end: ComponentEnergy, begin: ComponentEnergy | None) -> ComponentEnergy:
    start_j = begin.energy_j if begin is not None else 0.0
    energy_j = max(0.0, end.energy_j - start_j)
    return ComponentEnergy(
        end.component, end.device, energy_j, end.method, end.quality, end.status, list(end.notes)
    )


class EnergyMonitor:
    """Measures named, nestable windows of energy over a set of meters.

    Args:
        meters: the meters to drive; default: built from ``config`` and
            ``device_indices`` by :func:`~sci_lightning.energy.build_meters`.
        config: energy settings (an :class:`EnergyConfig`, a dict or an OmegaConf node);
            also gives the timeline bound (``timeline_max_intervals``).
        device_indices: CUDA ordinals the work runs on (GPU meter and default ``sync``).
        sync: called at every window edge to wait for the device; default
            ``torch.cuda.synchronize`` on ``device_indices`` when CUDA is available.
        clock: POSIX seconds (``time.time``); injectable for tests.
        min_read_interval_s: least time between two per-step readings (0: every step);
            default ``config.min_read_interval_s`` (0.1 s).
        idle_baseline_s: when > 0, :meth:`measure_idle_baseline` runs for that long before
            the first window; default ``config.idle_baseline_s`` (0: not measured).
        monotonic: the clock the read interval is timed with; default ``time.monotonic``,
            or ``clock`` when a test injects one.
        sleep: waits during the idle baseline (``time.sleep``; injectable for tests).

    The meters start with the first window (or the idle baseline) and stop at :meth:`close`.
    """

    def __init__(
        self,
        meters: Sequence[EnergyMeter] | None = None,
        *,
        config: EnergyConfig | Mapping[str, Any] | None = None,
        device_indices: Sequence[int] | None = None,
        sync: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.time,
        min_read_interval_s: float | None = None,
        idle_baseline_s: float | None = None,
        monotonic: Callable[[], float] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        cfg = coerce(EnergyConfig, config, "energy")
        chosen = build_meters(cfg, list(device_indices or [])) if meters is None else list(meters)
        self._slots = [_Slot(m) for m in chosen]
        self._sync = sync if sync is not None else cuda_sync(device_indices)
        self._clock = clock
        self._max_intervals = cfg.timeline_max_intervals
        self._windows: dict[str, _Window] = {}
        self._priors: dict[str, Measurement] = {}
        self._warnings: list[str] = []
        self._started = False
        self._last_ts = 0.0
        self._total_j = 0.0
        self._min_interval_s = _seconds(min_read_interval_s, cfg, "min_read_interval_s", 0.1)
        self._idle_baseline_s = _seconds(idle_baseline_s, cfg, "idle_baseline_s", 0.0)
        self._mono = monotonic if monotonic is not None else (time.monotonic if clock is time.time else clock)
        self._sleep = sleep
        self._interval_s = self._min_interval_s
        self._read_cost_s: float | None = None
        self._next_read_s = float("-inf")
        self._steps = 0
        self._steps_read = 0
        self._idle_power_w: dict[str, float] = {}
        self._idle_note = ""

    # ------------------------------------------------------------------ meters
    @property
    def meters(self) -> list[EnergyMeter]:
        """The meters in use (a failed one is replaced by its frozen figures)."""
        return [s.meter for s in self._slots]

    def exclude_pids(self, pids: Iterable[int]) -> None:
        """Leave these processes (e.g. other DDP ranks) out of per-process figures; before the first window."""
        pids = [int(p) for p in pids]
        for slot in self._slots:
            self._guard(slot, "exclude_pids", lambda m: m.exclude_pids(pids))

    def _fault(self, slot: _Slot, what: str, err: Exception) -> None:
        """Warn once, record, and freeze the meter at its last figures."""
        meter = slot.meter
        name = type(meter).__name__
        msg = f"energy meter {name} raised {err!r} in {what}; its energy after this point is not measured"
        if msg not in self._warnings:
            warnings.warn(msg, EnergyMeterWarning, stacklevel=4)
            add_note(self._warnings, msg)
        try:
            last = meter.components()
        except Exception:
            last = []
        if not last:  # nothing measured before the fault: say so with a 0 J entry
            last = [ComponentEnergy(meter.component, type(meter).__name__, 0.0, "none", METHODS["none"][0])]
        slot.meter = _FrozenMeter(meter.component, last, msg)

    def _guard(self, slot: _Slot, what: str, call: Callable[[EnergyMeter], Any], default: Any = None) -> Any:
        try:
            return call(slot.meter)
        except Exception as err:
            self._fault(slot, what, err)
            return default

    def _start(self, now: float) -> None:
        for slot in self._slots:
            self._guard(slot, "start", lambda m: m.start())
            slot.last_j = 0.0
        self._started, self._last_ts, self._total_j = True, now, 0.0

    def _device_sync(self) -> None:
        if self._sync is None:
            return
        try:
            self._sync()
        except Exception as err:
            msg = f"device synchronization failed ({err!r}); window edges are no longer synchronized"
            warnings.warn(msg, EnergyMeterWarning, stacklevel=3)
            add_note(self._warnings, msg)
            self._sync = None

    def close(self) -> None:
        """Stop the meters (threads, NVML); open windows are abandoned."""
        if not self._started:
            return
        self._started = False
        self._windows.clear()
        for slot in self._slots:
            self._guard(slot, "stop", lambda m: m.stop())

    # ------------------------------------------------------------------ readings
    def advance(self) -> None:
        """Read every meter once and extend the open windows' timelines (no step counted)."""
        self._read()

    def _read(self) -> float:
        """:meth:`advance`, returning the reading's timestamp."""
        now = self._clock()
        if not self._started:
            return now
        began_s = self._mono()
        total_j = 0.0
        for slot in self._slots:
            reading = self._guard(slot, "read_j", lambda m: m.read_j(), default=None)
            if reading is not None:
                slot.last_j = max(slot.last_j, float(sum(reading.values())))
            total_j += slot.last_j
        delta_j = total_j - self._total_j
        for w in self._windows.values():
            w.readings += 1
            if delta_j or now > self._last_ts:
                w.timeline.add(self._last_ts, now, delta_j)
        self._last_ts, self._total_j, self._steps_read = now, total_j, self._steps
        self._schedule_next_read(began_s)
        return now

    def _schedule_next_read(self, began_s: float) -> None:
        """Time the reading just taken and set when the next per-step reading is due."""
        ended_s = self._mono()
        cost_s = max(0.0, ended_s - began_s)
        self._read_cost_s = cost_s if self._read_cost_s is None else 0.8 * self._read_cost_s + 0.2 * cost_s
        if self._min_interval_s > 0:
            self._interval_s = max(self._min_interval_s, self._read_cost_s / READ_SHARE)
        self._next_read_s = ended_s + self._interval_s

    def record_step(self, images: int = 0) -> None:
        """One training step done: count it and its images in every open window; read if a reading is due."""
        for w in self._windows.values():
            w.steps += 1
            w.images += int(images)
        self._steps += 1
        if self._mono() >= self._next_read_s:
            self._read()

    @property
    def read_interval_s(self) -> float:
        """The current least time between per-step readings (``min_read_interval_s``, or wider)."""
        return self._interval_s

    @property
    def last_read_ts(self) -> float:
        """When the latest reading was taken (the monitor's clock, POSIX seconds)."""
        return self._last_ts

    @property
    def steps_read(self) -> int:
        """Steps recorded up to the latest reading (what :meth:`latest_j` covers)."""
        return self._steps_read

    def latest_j(self) -> dict[str, float]:
        """Cumulative joules per component since the meters started, as of the latest reading."""
        out: dict[str, float] = {}
        for slot in self._slots:
            out[slot.meter.component] = out.get(slot.meter.component, 0.0) + slot.last_j
        return out

    def energy_so_far_j(self, name: str) -> float:
        """IT joules of the open window ``name`` (previous parts included) as of the latest reading."""
        w = self._window(name)
        prior = self._priors.get(name)
        return (prior.energy_j if prior else 0.0) + self._total_j - w.begin_total_j

    def _components(self) -> dict[_Key, ComponentEnergy]:
        out: list[ComponentEnergy] = []
        for slot in self._slots:
            out.extend(self._guard(slot, "components", lambda m: m.components(), default=[]))
        return _by_key(out)

    # ------------------------------------------------------------------ windows
    @property
    def open_windows(self) -> list[str]:
        return list(self._windows)

    def _window(self, name: str) -> _Window:
        if name not in self._windows:
            raise ValueError(
                f"no open measurement window {name!r} (open: {', '.join(self._windows) or 'none'})"
            )
        return self._windows[name]

    def begin_window(self, name: str) -> None:
        """Synchronize the device and open window ``name`` (starts the meters for the first window)."""
        if name in self._windows:
            raise ValueError(f"measurement window {name!r} is already open")
        self._device_sync()
        if not self._started and self._idle_baseline_s > 0:
            self.measure_idle_baseline(self._idle_baseline_s)
        if not self._started:
            now = self._clock()
            self._start(now)
            begin: dict[_Key, ComponentEnergy] = {}
        else:
            now = self._read()
            begin = self._components()
        marks = {i: self._guard(s, "resolution_mark", _mark) for i, s in enumerate(self._slots)}
        self._windows[name] = _Window(name, now, self._total_j, begin, Timeline(self._max_intervals), marks)

    def measure_idle_baseline(self, seconds: float) -> dict[str, float]:
        """Measure each GPU's idle power (W per device) for ``seconds`` before the first window.

        The figure is a disclosure beside the total (``Measurement.idle_power_w`` and a
        resolution note); it is never subtracted. Starts the meters.
        """
        if self._windows:
            raise ValueError("the idle baseline is measured before the first window")
        self._device_sync()
        if not self._started:
            self._start(self._clock())
        before_j, t0 = self._gpu_readings(), self._clock()
        self._sleep(seconds)
        after_j, t1 = self._gpu_readings(), self._clock()
        span_s = t1 - t0
        self._idle_power_w = (
            {d: (after_j[d] - before_j.get(d, 0.0)) / span_s for d in after_j} if span_s > 0 else {}
        )
        shown = ", ".join(f"{d} {w:.1f} W" for d, w in self._idle_power_w.items()) or "no GPU measured"
        self._idle_note = (
            f"GPU idle baseline over {span_s:.3g} s before the first window: {shown}"
            " (disclosed beside the total, not subtracted)"
        )
        return dict(self._idle_power_w)

    def _gpu_readings(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for slot in self._slots:
            if slot.meter.component == "gpu":
                out.update(self._guard(slot, "read_j", lambda m: m.read_j(), default={}) or {})
        return out

    def end_window(self, name: str) -> Measurement:
        """Synchronize the device, close window ``name`` and return its measurement (previous parts added)."""
        self._window(name)
        self._device_sync()
        measurement = self.peek(name)
        del self._windows[name]
        self._priors.pop(name, None)
        return measurement

    def peek(self, name: str) -> Measurement:
        """The measurement of the open window ``name`` so far, leaving it open (no device sync)."""
        w = self._window(name)
        now = self._read()
        components = [_delta(c, w.begin.get(key)) for key, c in self._components().items()]
        energy_j = sum(c.energy_j for c in components)
        current = Measurement(
            name=name,
            components=components,
            duration_s=max(0.0, now - w.begin_ts),
            started_at=datetime.fromtimestamp(w.begin_ts, timezone.utc),
            ended_at=datetime.fromtimestamp(now, timezone.utc),
            timeline=rows_to_intervals(fit_rows(w.timeline.rows(), energy_j, w.begin_ts, now)),
            warnings=self._all_warnings(),
            steps=w.steps,
            images=w.images,
            host=hostname(),
            counter_baselines_mj=self._baselines(),
            resolution=self._resolution(w, max(0.0, now - w.begin_ts)),
            idle_power_w=dict(self._idle_power_w),
        )
        prior = self._priors.get(name)
        return merge_measurements(prior, current, max_intervals=self._max_intervals) if prior else current

    @contextmanager
    def measure(self, name: str) -> Iterator[Measuring]:
        """``with monitor.measure("eval") as m: ...``; then ``m.measurement`` holds the window's energy."""
        handle = Measuring(name)
        self.begin_window(name)
        try:
            yield handle
        finally:
            handle.measurement = self.end_window(name)

    def _resolution(self, w: _Window, duration_s: float) -> list[str]:
        """How finely window ``w`` is resolved: the reading rate, then each meter's own notes."""
        if self._min_interval_s > 0:
            rate = f"at most one reading per {self._interval_s:.3g} s between edges"
            if self._interval_s > self._min_interval_s and self._read_cost_s is not None:
                rate += f" (widened from {self._min_interval_s:g} s: one reading costs {self._read_cost_s * 1e3:.2f} ms)"
        else:
            rate = "a reading every step"
        out = [f"timeline: {w.readings} meter readings over {duration_s:.3g} s, {rate}"]
        for i, slot in enumerate(self._slots):
            marks = w.marks.get(i)
            notes = self._guard(
                slot, "resolution_notes", lambda m, marks=marks: _notes(m, marks, duration_s), default=[]
            )
            for note in notes or []:
                add_note(out, note)
        if self._idle_note:
            add_note(out, self._idle_note)
        return out

    def _all_warnings(self) -> list[str]:
        out = list(self._warnings)
        for slot in self._slots:
            for note in self._guard(slot, "notes", lambda m: list(m.notes), default=[]):
                add_note(out, note)
        return out

    def _baselines(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for slot in self._slots:
            out.update(
                self._guard(slot, "counter_baselines_mj", lambda m: m.counter_baselines_mj(), default={})
            )
        return out

    # ------------------------------------------------------------------ resume
    @staticmethod
    def state_of(measurements: Mapping[str, Measurement]) -> dict[str, Any]:
        """The resume state for these window measurements (what :meth:`state_dict` returns)."""
        return {"version": _STATE_VERSION, "windows": {n: m.to_dict() for n, m in measurements.items()}}

    def state_dict(self) -> dict[str, Any]:
        """Every open window's measurement so far (plain data), for a checkpoint."""
        return self.state_of({name: self.peek(name) for name in self._windows})

    def load_state_dict(self, state_dict: Mapping[str, Any], *more: Mapping[str, Any]) -> None:
        """Previous parts of named windows: a window of that name reports their sum plus its own.

        Several states (e.g. of DDP ranks this process takes over) are added together.
        A state of another version is ignored with a warning.
        """
        parts: dict[str, list[Measurement]] = {}
        for state in (state_dict, *more):
            if state.get("version") != _STATE_VERSION:
                warnings.warn(
                    f"energy monitor state has version {state.get('version')!r}, expected {_STATE_VERSION};"
                    " its previous parts are not included",
                    EnergyMeterWarning,
                    stacklevel=2,
                )
                continue
            for name, d in state.get("windows", {}).items():
                parts.setdefault(name, []).append(Measurement.from_dict(d))
        self._priors = {
            n: merge_measurements(*ms, max_intervals=self._max_intervals) for n, ms in parts.items()
        }

"""Trace provider: grid intensity from a CSV of UTC timestamps and gCO2e/kWh values.

Accepted files
    * A plain CSV with a time column (``timestamp``, ``datetime``, ``time``, ``start``,
      ``point_time``, ``from`` or ``Datetime (UTC)``) and a value column (``g_per_kwh``,
      ``intensity_g_per_kwh``, ``carbon_intensity``, ``intensity``, ``value``).
      Times are ISO 8601; ones without an offset are taken as UTC.
    * Electricity Maps data-portal exports (header ``Datetime (UTC),Country,Zone Name,Zone Id,
      Carbon Intensity gCO₂eq/kWh (direct),Carbon Intensity gCO₂eq/kWh (LCA),...``). The
      default column is the *direct* one; ``column="lca"`` (config ``carbon.trace_column``)
      picks the lifecycle one, and any exact header name works too. The zone id becomes the
      series region and "Data Estimated" rows are counted in the notes. Electricity Maps
      data is ODbL: credit "Electricity Maps" wherever results from it are shown (the series
      ``source`` and ``notes`` carry that credit).

Units
    Values are gCO2e/kWh unless ``unit`` (config ``carbon.trace_unit``) says ``kg_per_kwh``
    (x 1000) or ``lbs_per_mwh`` (x 0.45359237); they are converted on load. With no unit
    given, a column whose name says kg or lbs, or values that all lie below
    ``MIN_PLAUSIBLE_MAX_G_PER_KWH`` (5 g/kWh: no real grid's hourly trace stays that low
    in g/kWh, while kg/kWh values do), are refused with the fix; so are values above
    :data:`~sci_lightning.carbon.base.MAX_PLAUSIBLE_G_PER_KWH` after conversion.

Each row is valid from its timestamp until the next row's (the last row lasts as long as
the typical step). A gap longer than twice the typical step is left as a gap.

Windows
    ``history(start, end)`` and ``forecast(start, horizon)`` return the points that overlap
    the window (not clipped). Both are labelled ``kind="measured"``: a forecast from a trace
    is a **replay of recorded values** (perfect foresight), never a real forecast, and its
    notes say so.

Replaying an old trace "as now" (demos, benchmarks)
    * ``time_offset`` shifts every timestamp by a fixed amount (config
      ``carbon.trace_time_offset_h``, hours; e.g. 8760 * 2 moves 2023 to 2025 keeping hour of day).
    * ``replay=True`` (config ``carbon.trace_replay``) repeats the trace cyclically with a
      period of whole weeks (the longest whole-week span the trace covers), so any time,
      past or future, maps onto a recorded hour with the same weekday and hour of day.
      A year-long 2023 trace thus answers for "now" with data from the same week of 2023.
      Applied after ``time_offset``. A trace shorter than a week repeats with a period of
      whole days instead (one or two days: the same hour of day), or its own span if
      shorter than a day. The notes of each series name the replay.

Packaged sample (offline demos)
    ``trace_path: sample:de_2023`` (see :data:`SAMPLES`, :func:`resolve_trace_path`) names a
    48-hour excerpt of Electricity Maps' 2023 hourly data for Germany shipped inside the
    package (``sci_lightning/carbon/data/``, ODbL, credit in ``SOURCE.md`` there).
    ``experiment=quickstart`` replays it as "now".
"""

from __future__ import annotations

import bisect
import csv
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError, DatasetError
from .base import (
    LBS_PER_MWH_TO_G_PER_KWH,
    MAX_PLAUSIBLE_G_PER_KWH,
    IntensityPoint,
    IntensityProvider,
    IntensitySeries,
    ProviderError,
    ensure_utc,
)

if TYPE_CHECKING:
    from ..settings import CarbonConfig

__all__ = ["SAMPLES", "TraceProvider", "load_trace", "resolve_trace_path"]

_TIME_COLUMNS = ("datetime (utc)", "timestamp", "datetime", "time", "start", "point_time", "from", "date")
_VALUE_COLUMNS = ("g_per_kwh", "intensity_g_per_kwh", "carbon_intensity", "intensity", "value")
_EM_DIRECT = "carbon intensity gco₂eq/kwh (direct)"
_EM_LCA = "carbon intensity gco₂eq/kwh (lca)"
_COLUMN_ALIASES = {"direct": _EM_DIRECT, "lca": _EM_LCA, "lifecycle": _EM_LCA}
_WEEK = timedelta(days=7)
#: trace unit -> factor to gCO2e/kWh
TRACE_UNITS = {"g_per_kwh": 1.0, "kg_per_kwh": 1000.0, "lbs_per_mwh": LBS_PER_MWH_TO_G_PER_KWH}
#: with no unit given, a trace whose every value is below this (g/kWh) is refused as
#: probably kg/kWh: hourly g/kWh traces of real grids peak well above it.
MIN_PLAUSIBLE_MAX_G_PER_KWH = 5.0

#: ``trace_path: sample:<name>`` -> a CSV shipped in ``sci_lightning/carbon/data/``.
SAMPLE_PREFIX = "sample:"
SAMPLES = {"de_2023": "DE_2023-05-31_48h.csv"}


def resolve_trace_path(path: str | Path) -> Path:
    """The file for ``path``: ``sample:<name>`` is a packaged sample (:data:`SAMPLES`), anything else a path."""
    text = str(path)
    if not text.startswith(SAMPLE_PREFIX):
        return Path(text).expanduser()
    name = text[len(SAMPLE_PREFIX) :]
    if name not in SAMPLES:
        raise ConfigError(
            f"carbon.trace_path={text!r} names no packaged sample. Fix: use one of "
            f"{', '.join(SAMPLE_PREFIX + n for n in sorted(SAMPLES))}, or a CSV path."
        )
    return Path(__file__).resolve().parent / "data" / SAMPLES[name]


@dataclass
class Trace:
    """A loaded trace: parallel, time-sorted lists (epoch seconds for fast bisecting)."""

    starts_s: list[float]
    ends_s: list[float]
    values: list[float]
    column: str
    region: str | None
    is_electricity_maps: bool
    estimated_rows: int
    step_s: float
    unit: str = "g_per_kwh"

    @property
    def first(self) -> datetime:
        return datetime.fromtimestamp(self.starts_s[0], timezone.utc)

    @property
    def last_end(self) -> datetime:
        return datetime.fromtimestamp(self.ends_s[-1], timezone.utc)


def _parse_ts(text: str, path: Path, line: int) -> float:
    s = text.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        raise DatasetError(
            f"{path}:{line}: timestamp {text!r} is not ISO 8601 (e.g. 2023-01-01 00:00:00 or 2023-01-01T00:00:00Z). "
            "Fix the file or export it again."
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def _pick_column(header: Sequence[str], wanted: str | None, path: Path) -> str:
    lower = {h.strip().lower(): h for h in header}
    if wanted:
        key = _COLUMN_ALIASES.get(wanted.strip().lower(), wanted.strip().lower())
        if key in lower:
            return lower[key]
        raise ConfigError(
            f"carbon.trace_column={wanted!r} is not a column of {path} (columns: {', '.join(header)}). "
            "Use one of those names, or 'direct' / 'lca' for Electricity Maps exports."
        )
    if _EM_DIRECT in lower:
        return lower[_EM_DIRECT]
    for cand in _VALUE_COLUMNS:
        if cand in lower:
            return lower[cand]
    raise DatasetError(
        f"{path}: no intensity column found (looked for {', '.join(_VALUE_COLUMNS)} or the Electricity Maps "
        f"'Carbon Intensity gCO₂eq/kWh (direct)' column; columns are: {', '.join(header)}). "
        "Set carbon.trace_column to the right column name."
    )


def _unit_hint(column: str) -> str | None:
    """The unit a column's name states, if it states one other than g/kWh."""
    name = column.strip().lower().replace(" ", "_")
    if "kg" in name and "kwh" in name:
        return "kg_per_kwh"
    if "lb" in name and "mwh" in name:
        return "lbs_per_mwh"
    return None


def _convert(values: list[float], unit: str | None, column: str, path: Path) -> tuple[list[float], str]:
    """Values in g/kWh and the unit used; DatasetError when the unit looks wrong."""
    if unit is not None and unit not in TRACE_UNITS:
        raise ConfigError(
            f"carbon.trace_unit={unit!r} is not known. Fix: use one of {', '.join(TRACE_UNITS)}."
        )
    hint = _unit_hint(column)
    if unit is None and hint is not None:
        raise DatasetError(
            f"{path}: column {column!r} is named in {hint.replace('_per_', '/')}, but carbon.trace_unit is not set "
            f"(values would be read as g/kWh). Fix: set carbon.trace_unit={hint}."
        )
    factor = TRACE_UNITS[unit or "g_per_kwh"]
    out = [v * factor for v in values]
    top = max(out)
    if unit is None and top < MIN_PLAUSIBLE_MAX_G_PER_KWH:
        raise DatasetError(
            f"{path}: every value in column {column!r} is below {MIN_PLAUSIBLE_MAX_G_PER_KWH:g} (max {max(values):g}); "
            "read as gCO2e/kWh that is no real grid. Fix: if the values are kg/kWh set carbon.trace_unit=kg_per_kwh; "
            "if the grid really is this clean, set carbon.trace_unit=g_per_kwh to confirm the unit."
        )
    if top > MAX_PLAUSIBLE_G_PER_KWH:
        raise DatasetError(
            f"{path}: column {column!r} has {max(values):g} {unit or 'g_per_kwh'} = {top:,.0f} gCO2e/kWh, above the "
            f"physical bound of {MAX_PLAUSIBLE_G_PER_KWH:,.0f} g/kWh. Fix: set carbon.trace_unit to the file's unit "
            f"({', '.join(TRACE_UNITS)}), or correct the file."
        )
    return out, unit or "g_per_kwh"


def _read_rows(path: Path, column: str | None) -> tuple[list[tuple[float, float]], str, Counter[str], int]:
    """The CSV's ``(epoch seconds, value)`` rows, the value column's name, the zones named
    (Electricity Maps exports) and how many rows are flagged estimated."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise DatasetError(f"trace file {path} is empty; it needs a header row and data rows.") from None
        lower = [h.strip().lower() for h in header]
        time_idx = next((lower.index(c) for c in _TIME_COLUMNS if c in lower), None)
        if time_idx is None:
            raise DatasetError(
                f"{path}: no time column found (looked for {', '.join(_TIME_COLUMNS)}; columns are: "
                f"{', '.join(header)}). Rename the timestamp column to 'timestamp'."
            )
        col_name = _pick_column(header, column, path)
        val_idx = header.index(col_name)
        zone_idx = lower.index("zone id") if "zone id" in lower else None
        est_idx = lower.index("data estimated") if "data estimated" in lower else None
        rows: list[tuple[float, float]] = []
        zones: Counter[str] = Counter()
        estimated = 0
        for line, row in enumerate(reader, start=2):
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) <= max(time_idx, val_idx):
                raise DatasetError(f"{path}:{line}: row has {len(row)} fields, fewer than the header.")
            raw = row[val_idx].strip()
            if raw == "":
                continue  # missing value: leave a gap rather than invent one
            try:
                value = float(raw)
            except ValueError:
                raise DatasetError(
                    f"{path}:{line}: intensity {raw!r} in column {col_name!r} is not a number."
                ) from None
            if not math.isfinite(value) or value < 0:
                raise DatasetError(
                    f"{path}:{line}: intensity {raw!r} must be a finite number >= 0 (gCO2e/kWh)."
                )
            rows.append((_parse_ts(row[time_idx], path, line), value))
            if zone_idx is not None and len(row) > zone_idx and row[zone_idx].strip():
                zones[row[zone_idx].strip()] += 1
            if est_idx is not None and len(row) > est_idx and row[est_idx].strip().lower() == "true":
                estimated += 1
    return rows, col_name, zones, estimated


def _point_ends(starts: list[float]) -> tuple[list[float], float]:
    """Each row's end (the next row, or one typical step when the next is more than two
    steps away: a gap) and the typical step (the lower median spacing; 1 h for one row)."""
    steps = sorted(b - a for a, b in zip(starts, starts[1:]))
    step = steps[(len(steps) - 1) // 2] if steps else 3600.0
    ends = []
    for i, t in enumerate(starts):
        nxt = starts[i + 1] if i + 1 < len(starts) else None
        ends.append(nxt if nxt is not None and nxt - t <= 2 * step else t + step)
    return ends, step


def load_trace(path: str | Path, column: str | None = None, unit: str | None = None) -> Trace:
    """Read and validate a trace CSV (see module docs); values converted from ``unit`` to
    g/kWh. Raises DatasetError/ConfigError with the fix."""
    path = resolve_trace_path(path)
    if not path.is_file():
        raise DatasetError(
            f"trace file {path} does not exist. Set carbon.trace_path to a CSV of UTC timestamps and gCO2e/kWh "
            "values (an Electricity Maps data-portal export works as is)."
        )
    rows, col_name, zones, estimated = _read_rows(path, column)
    if not rows:
        raise DatasetError(f"trace file {path} has no data rows with a value in column {col_name!r}.")
    rows.sort()
    starts = [t for t, _ in rows]
    dup = next((a for a, b in zip(starts, starts[1:]) if a == b), None)
    if dup is not None:
        raise DatasetError(
            f"{path}: timestamp {datetime.fromtimestamp(dup, timezone.utc).isoformat()} appears twice; "
            "a trace must have one value per time."
        )
    values, unit = _convert([v for _, v in rows], unit, col_name, path)
    ends, step = _point_ends(starts)
    return Trace(
        starts_s=starts,
        ends_s=ends,
        values=values,
        column=col_name,
        region=zones.most_common(1)[0][0] if zones else None,
        is_electricity_maps=col_name.strip().lower() in (_EM_DIRECT, _EM_LCA),
        estimated_rows=estimated,
        step_s=step,
        unit=unit,
    )


class TraceProvider(IntensityProvider):
    """Intensities read from a CSV trace (``kind="measured"``; see the module docs).

    Args:
        path: the CSV file.
        column: value column (exact header, or ``"direct"``/``"lca"`` for Electricity Maps
            exports; default: direct / the first known value column).
        region: label for the series (default: the file's zone id, else the file stem).
        signal_type: ``"average"`` (default; Electricity Maps data is average) or ``"marginal"``.
        time_offset: shift added to every trace timestamp.
        replay: repeat the (shifted) trace cyclically with a whole-week period.
        unit: unit of the values (``g_per_kwh``, ``kg_per_kwh``, ``lbs_per_mwh``); see "Units".

    Example::

        p = TraceProvider("CISO_2023_hourly.csv", column="lca")
        p.history(datetime(2023, 6, 1, tzinfo=timezone.utc), datetime(2023, 6, 2, tzinfo=timezone.utc))
    """

    name = "trace"

    def __init__(
        self,
        path: str | Path,
        *,
        column: str | None = None,
        region: str | None = None,
        signal_type: str = "average",
        time_offset: timedelta | None = None,
        replay: bool = False,
        unit: str | None = None,
    ):
        if signal_type not in ("average", "marginal"):
            raise ConfigError(f"trace signal_type={signal_type!r} is invalid; use 'average' or 'marginal'.")
        self.path = resolve_trace_path(path)
        self.trace = load_trace(self.path, column, unit)
        self.signal_type = signal_type  # type: ignore[assignment]
        self.region = region or self.trace.region or self.path.stem
        self.offset_s = time_offset.total_seconds() if time_offset else 0.0
        self.replay = bool(replay)
        span_s = self.trace.ends_s[-1] - self.trace.starts_s[0]
        week_s = _WEEK.total_seconds()
        if self.replay:
            if span_s >= week_s:
                self.period_s = math.floor(span_s / week_s) * week_s
            else:
                self.period_s = max(math.floor(span_s / 86400.0) * 86400.0, 0.0) or span_s
        else:
            self.period_s = 0.0
        credit = " (data: Electricity Maps, ODbL)" if self.trace.is_electricity_maps else ""
        replayed = (
            (
                f" (replay of values recorded {self.trace.first.date()}..{self.trace.last_end.date()}, "
                "not live data)"
            )
            if self.replay
            else ""
        )
        self.source = f"trace: {self.path.name} [{self.trace.column}]{credit}{replayed}"

    @classmethod
    def from_config(cls, cfg: CarbonConfig) -> TraceProvider:
        """Build from ``carbon.trace_path``, ``trace_column``, ``trace_unit``, ``region`` (unless
        ``world``), ``signal_type``, ``trace_time_offset_h`` and ``trace_replay``."""
        path = cfg.trace_path
        if not path:
            raise ConfigError(
                "carbon.trace_path is required for the trace provider: point it at a CSV of UTC timestamps and "
                "gCO2e/kWh values, e.g. carbon.trace_path=/data/DE_2023_hourly.csv."
            )
        region = cfg.region
        offset_h = cfg.trace_time_offset_h
        return cls(
            path,
            column=cfg.trace_column,
            region=None if (region or "world").lower() == "world" else region,
            signal_type=cfg.signal_type or "average",
            time_offset=timedelta(hours=float(offset_h)) if offset_h else None,
            replay=bool(cfg.trace_replay),
            unit=cfg.trace_unit,
        )

    def __repr__(self) -> str:
        return f"TraceProvider(path={str(self.path)!r}, column={self.trace.column!r}, region={self.region!r})"

    # ------------------------------------------------------------------ window lookup

    def _base_points(self, a_s: float, b_s: float, lo_s: float | None, hi_s: float | None, shift_s: float):
        """Trace points overlapping [a_s, b_s) in trace time, clipped to [lo_s, hi_s), shifted."""
        tr = self.trace
        i = max(bisect.bisect_right(tr.starts_s, a_s) - 1, 0)
        out: list[IntensityPoint] = []
        while i < len(tr.starts_s) and tr.starts_s[i] < b_s:
            s, e = tr.starts_s[i], tr.ends_s[i]
            if lo_s is not None:
                s, e = max(s, lo_s), min(e, hi_s)  # type: ignore[type-var]
            if e > a_s and e > s:
                out.append(
                    IntensityPoint(
                        datetime.fromtimestamp(s + shift_s, timezone.utc),
                        datetime.fromtimestamp(e + shift_s, timezone.utc),
                        tr.values[i],
                    )
                )
            i += 1
        return out

    def points(self, start: datetime, end: datetime) -> list[IntensityPoint]:
        """Points overlapping [start, end) after offset/replay (sorted, not clipped to the window)."""
        a = ensure_utc(start, "start").timestamp() - self.offset_s
        b = ensure_utc(end, "end").timestamp() - self.offset_s
        if b <= a:
            return []
        if not self.replay:
            pts = self._base_points(a, b, None, None, self.offset_s)
        else:
            first, period = self.trace.starts_s[0], self.period_s
            pts = []
            k = math.floor((a - first) / period)
            while first + k * period < b:
                shift = k * period
                pts += self._base_points(a - shift, b - shift, first, first + period, shift + self.offset_s)
                k += 1
        return pts

    def _notes(self, pts: list[IntensityPoint], forecast: bool) -> list[str]:
        notes = [f"recorded values from {self.path.name}, column {self.trace.column!r}."]
        if self.trace.unit != "g_per_kwh":
            notes.append(
                f"values converted from {self.trace.unit.replace('_per_', '/')} to gCO2e/kWh "
                f"(x {TRACE_UNITS[self.trace.unit]:g})."
            )
        if self.trace.is_electricity_maps:
            notes.append("data: Electricity Maps (ODbL); credit 'Electricity Maps' wherever shown.")
            if self.trace.estimated_rows:
                notes.append(
                    f"{self.trace.estimated_rows} row(s) of the trace are estimates by Electricity Maps."
                )
        if self.offset_s:
            notes.append(f"timestamps shifted by {self.offset_s / 3600:g} h (trace_time_offset_h).")
        if self.replay:
            notes.append(
                f"trace replay: the trace repeats every {self.period_s / 86400:g} days, so times outside "
                f"{self.trace.first.date()}..{self.trace.last_end.date()} reuse recorded values."
            )
        if forecast:
            notes.append(
                "trace replay used as a forecast: recorded values (perfect foresight), not a real forecast."
            )
        if not pts:
            notes.append("the trace has no values in the requested window.")
        return notes

    def history(self, start: datetime, end: datetime) -> IntensitySeries:
        """Recorded points overlapping [start, end)."""
        pts = self.points(start, end)
        return IntensitySeries(
            pts, self.source, self.region, self.signal_type, "measured", notes=self._notes(pts, False)
        )

    def forecast(
        self, start: datetime | None = None, horizon: timedelta = timedelta(hours=24)
    ) -> IntensitySeries:
        """Recorded points overlapping [start, start + horizon), labelled as a trace replay."""
        start = ensure_utc(start, "start") if start is not None else datetime.now(timezone.utc)
        pts = self.points(start, start + horizon)
        return IntensitySeries(
            pts,
            self.source + " (trace replay)",
            self.region,
            self.signal_type,
            "measured",
            generated_at=None,
            notes=self._notes(pts, True),
        )

    def current(self) -> IntensityPoint:
        """The recorded point covering now (needs ``replay`` or an offset for old traces)."""
        now = datetime.now(timezone.utc)
        pts = self.points(now, now + timedelta(seconds=1))
        if not pts:
            raise ProviderError(
                self.name,
                f"the trace {self.path.name} has no value for now ({now.isoformat(timespec='seconds')}); it covers "
                f"{self.trace.first.isoformat()} to {self.trace.last_end.isoformat()}.",
                "set carbon.trace_replay=true to replay it as now, or carbon.trace_time_offset_h to shift it.",
            )
        return pts[-1]

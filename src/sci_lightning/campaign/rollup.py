"""The campaign roll-up as plain functions: every run of a model's development -> one Provider SCI.

SCI for AI puts training in the *Provider* boundary and counts the whole development:
completed, interrupted, failed and resumed runs alike. :func:`build_campaign` reads the
run folders under the given folders (:func:`find_run_dirs`, :func:`read_run`), counts
each measured part of a job once (:func:`attribute_parts`), picks the final model
(:func:`choose_final`) and divides the campaign's emissions by that model's functional
units (:func:`rollup`).

Counting rule for resumed jobs: a run's report lists its *parts* (one per ``fit``, each
with its ``started_at``, facility ``energy_j`` and the checkpoint it was resumed from);
the report's totals are already the sum of its parts. A part is identified by its
``started_at``; the runs are visited longest lineage first (most parts, then the latest
end), and each run counts only the energy of its parts not counted before (a part seen
again with more energy counts the difference). So an interrupted folder that a later run
resumed (from its final checkpoint) counts 0, and the resumed run counts the whole job.
A run whose figures are counted only in part has its emissions, cost and time scaled by
its counted energy share (stated as an estimate in the notes).

A campaign is one model's development: runs of several models are split by model
(:func:`campaigns_by_model`, one line each); a run whose model is unknown joins the only
model there is. Only training runs count: a folder holding only Hydra's ``.hydra/`` (a
``plan`` folder, a run refused before training) is not a run.

A failed run with an ``energy.json`` but no ``sci_report.json`` counts its energy; its
operational emissions use the energy-weighted mean intensity of the runs with a report,
its embodied emissions their embodied grams per second, its cost the final model's price
per hour (each stated as an estimate). A folder with nothing measured is listed as
``no measurement`` with a share of 0.

Data preparation (SCI for AI §7.2) is inside the boundary: each run's ``preparation.json``
lists the cache builds it used (:mod:`sci_lightning.sci.preparation`). A build counts once,
the first time its ``build_id`` is seen (a reused cache is amortised: the runs that reuse
it add nothing again); a build that ran inside a training window (the feature cache) is
already in that run's energy and is listed, not added. Its operational emissions use the
intensity of the run that used it, or the campaign's energy-weighted mean when that run
measured none (it died after the build); an estimate, stated.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sci_lightning.energy.base import EnergyResult
from sci_lightning.errors import ConfigError
from sci_lightning.run_dirs import walk_run_dirs
from sci_lightning.sci.codec import FormatError
from sci_lightning.sci.preparation import (
    PREPARATION_FILE,
    PreparationFigures,
    attribute_once,
    read_preparation,
)
from sci_lightning.sci.report import JSON_NAME, SciReport, load_report

__all__ = [
    "CAMPAIGN_SCHEMA_VERSION",
    "NO_MEASUREMENT",
    "Campaign",
    "CampaignPreparation",
    "CampaignRun",
    "attribute_parts",
    "build_campaign",
    "campaign_line",
    "campaign_lines",
    "campaign_of_runs",
    "campaigns_by_model",
    "collect_runs",
    "find_run_dirs",
    "read_run",
]

CAMPAIGN_SCHEMA_VERSION = 1
ENERGY_FILE = "energy.json"
SUMMARY_FILE = "run_summary.json"
#: Files a failed job leaves (the Hydra callback's, then the CLI's; see compare.records).
FAILURE_FILES = ("job_status.json", "job_failed.json")
_MARKERS = (JSON_NAME, ENERGY_FILE, SUMMARY_FILE, *FAILURE_FILES)
_SKIP_DIRS = {"checkpoints", "tensorboard", "lightning_logs", "__pycache__"}
NO_MEASUREMENT = "no measurement"
#: Counted shares below this are rounding (a part seen again with the same energy).
_MIN_FRACTION = 1e-6


# --------------------------------------------------------------------------- types


@dataclass
class CampaignRun:
    """One run folder as the campaign sees it: its own totals, then what of them is counted."""

    path: Path
    name: str
    status: str  # completed | interrupted | failed | no measurement
    source: str  # sci_report.json | energy.json | none
    model: str | None = None
    report: SciReport | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    energy_kwh: float = 0.0  # the run's own total (facility, IT x PUE), all its parts
    operational_g: float = 0.0
    embodied_g: float = 0.0
    cost_usd: float = 0.0
    duration_s: float = 0.0
    unmeasured_s: float = 0.0
    parts: list[dict[str, Any]] = field(default_factory=list)
    reason: str | None = None  # why it failed / was interrupted
    estimated: list[str] = field(default_factory=list)  # figures estimated by the campaign
    counted_fraction: float = 1.0  # share of the run's own totals counted in the campaign
    included_in: list[str] = field(default_factory=list)  # runs whose totals hold this one's parts
    share: float = 0.0  # share of the campaign's emissions
    preparation: list[PreparationFigures] = field(default_factory=list)  # the cache builds it used

    @property
    def measured(self) -> bool:
        return self.source != "none"

    @property
    def resumed(self) -> bool:
        return len(self.parts) > 1

    @property
    def carbon_g(self) -> float:
        return self.operational_g + self.embodied_g

    def counted(self, figure: str) -> float:
        """``figure`` (``energy_kwh``, ``operational_g``, ...) as counted in the campaign."""
        return getattr(self, figure) * self.counted_fraction if self.measured else 0.0


@dataclass
class CampaignPreparation:
    """One data-preparation record of a run, as the campaign counts it."""

    run: str
    record: PreparationFigures
    counted: bool  # its energy is added to the campaign here (first sight of its build, not inside training)
    why: str  # counted | amortised: counted in <run> | inside <run>'s training energy
    operational_g: float  # estimated: the build's energy x the intensity of the run that used it

    @property
    def energy_kwh(self) -> float:
        return self.record.energy_kwh if self.counted else 0.0

    @property
    def counted_g(self) -> float:
        return self.operational_g if self.counted else 0.0


@dataclass
class Campaign:
    """The roll-up: totals over every counted run, and the Provider SCI per unit of the final model."""

    runs: list[CampaignRun]
    final: CampaignRun
    functional_unit: str
    r_counts: dict[str, float]
    energy_kwh: float
    operational_g: float
    embodied_g: float
    cost_usd: float
    duration_s: float
    wall_s: float
    unmeasured_s: float
    sci_per: dict[str, float | None]
    notes: list[str] = field(default_factory=list)
    generated_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    preparation: list[CampaignPreparation] = field(default_factory=list)

    @property
    def preparation_kwh(self) -> float:
        """Data-preparation energy added to the campaign (builds counted once), kWh."""
        return sum(p.energy_kwh for p in self.preparation)

    @property
    def preparation_g(self) -> float:
        return sum(p.counted_g for p in self.preparation)

    @property
    def carbon_g(self) -> float:
        return self.operational_g + self.embodied_g

    @property
    def r(self) -> float:
        return self.r_counts.get(self.functional_unit, 0.0)

    @property
    def sci(self) -> float | None:
        return self.sci_per.get(self.functional_unit)

    @property
    def sci_unit(self) -> str:
        return f"gCO2e/{self.functional_unit.replace('_', ' ')}"

    @property
    def intensity_g_per_kwh(self) -> float | None:
        return self.operational_g / self.energy_kwh if self.energy_kwh > 0 else None

    def count(self, status: str) -> int:
        return sum(1 for r in self.runs if r.status == status)


# --------------------------------------------------------------------------- finding runs


def is_run_dir(path: Path) -> bool:
    """True for a folder holding a report, ``energy.json``, ``run_summary.json`` or a failure file, or a
    training run's ``.hydra/`` that got as far as logging (:func:`_started_training_run`)."""
    return any((path / name).is_file() for name in _MARKERS) or _started_training_run(path)


def _started_training_run(path: Path) -> bool:
    """``.hydra/`` of the training app (its config has a ``model``) and something besides it: a
    non-empty log or a checkpoint. A ``plan`` folder and a run refused before training are not runs."""
    config = path / ".hydra" / "config.yaml"
    try:
        if not any(line.startswith("model:") for line in config.read_text(encoding="utf-8").splitlines()):
            return False
        logs = [p for p in path.glob("*.log") if p.stat().st_size > 0]
    except OSError:
        return False
    return bool(logs) or (path / "checkpoints").is_dir()


def _hydra_model(path: Path) -> str | None:
    """``model.name`` of a run's ``.hydra/config.yaml`` (for runs that left no report)."""
    try:
        import yaml

        data = yaml.safe_load((path / ".hydra" / "config.yaml").read_text(encoding="utf-8"))
    except Exception:
        return None
    model = data.get("model") if isinstance(data, dict) else None
    name = model.get("name") if isinstance(model, dict) else None
    return name if isinstance(name, str) else None


def find_run_dirs(root: str | os.PathLike[str], max_depth: int = 4) -> list[Path]:
    """Run folders at or under ``root`` (not descending into run folders).

    In a Hydra sweep folder (holding ``multirun.yaml``) numbered sub-folders are runs even
    when empty (a job that died before writing anything).
    """
    return walk_run_dirs(root, is_run_dir, max_depth=max_depth, skip=_SKIP_DIRS)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _failure(path: Path) -> str | None:
    for name in FAILURE_FILES:
        data = _read_json(path / name)
        if data and data.get("status", "failed") == "failed":
            typ, err = str(data.get("error_type") or ""), str(data.get("error") or "")
            return " ".join(f"{typ}: {err}".strip(": ").split())[:200] or "failed"
    return None


def _from_report(run: CampaignRun, report: SciReport) -> None:
    run.report, run.source = report, JSON_NAME
    run.model = report.model or run.model
    run.status = report.status or run.status or "completed"
    run.started_at, run.ended_at = report.started_at, report.ended_at
    run.energy_kwh = report.energy_kwh.total or 0.0
    run.operational_g = report.operational_g or 0.0
    run.embodied_g = report.embodied_g or 0.0
    run.cost_usd = report.cost_usd or 0.0
    run.duration_s = report.duration_s or 0.0
    run.unmeasured_s = report.unmeasured_s
    run.parts = [dict(p) for p in report.parts]
    if report.interruption:
        run.reason = report.interruption.get("error") or report.interruption.get("signal")


def _from_energy(run: CampaignRun, data: dict[str, Any]) -> bool:
    try:
        energy = EnergyResult.from_dict(data)
    except (KeyError, TypeError, ValueError):
        return False
    run.source = ENERGY_FILE
    run.status = str(data.get("status") or run.status or "completed")
    run.started_at, run.ended_at = energy.started_at, energy.ended_at
    run.energy_kwh, run.duration_s = energy.energy_kwh, energy.duration_s
    run.unmeasured_s = float(data.get("unmeasured_s") or 0.0)
    run.parts = [dict(p) for p in data.get("parts") or [] if isinstance(p, dict)]
    interruption = data.get("interruption") or {}
    run.reason = run.reason or interruption.get("error") or interruption.get("signal")
    return True


def read_run(path: str | os.PathLike[str]) -> CampaignRun:
    """One run folder; never raises for a broken run (it becomes ``no measurement`` with a reason)."""
    path = Path(path)
    summary = _read_json(path / SUMMARY_FILE) or {}
    reason = _failure(path)
    run = CampaignRun(
        path=path,
        name=path.name,
        status="failed" if reason else str(summary.get("status") or ""),
        source="none",
        model=summary.get("model") or _hydra_model(path),
        reason=reason,
    )
    problems: list[str] = []
    try:
        run.preparation = read_preparation(path)
    except (OSError, FormatError) as e:
        problems.append(f"{PREPARATION_FILE} unreadable ({' '.join(str(e).split())[:120]})")
    if (path / JSON_NAME).is_file():
        try:
            _from_report(run, load_report(path / JSON_NAME))
            return run
        except (
            OSError,
            ValueError,
            TypeError,
            RecursionError,
        ) as e:  # FormatError, binary, truncated, nested
            problems.append(f"{JSON_NAME} unreadable ({type(e).__name__}: {' '.join(str(e).split())[:120]})")
    energy = _read_json(path / ENERGY_FILE)
    if energy is not None and _from_energy(run, energy):
        run.estimated = ["operational_g", "embodied_g", "cost_usd"]
        if problems:  # the report is unreadable: say so, with its path, beside the energy.json figures
            run.reason = "; ".join(
                [*([run.reason] if run.reason else []), f"{problems[0]} at {path / JSON_NAME}"]
            )
        return run
    if (path / ENERGY_FILE).is_file():
        problems.append(f"{ENERGY_FILE} unreadable")
    run.status, run.counted_fraction = NO_MEASUREMENT, 0.0
    run.reason = "; ".join([*([reason] if reason else []), *problems]) or f"no {JSON_NAME} or {ENERGY_FILE}"
    return run


def collect_runs(dirs: Iterable[str | os.PathLike[str]]) -> list[CampaignRun]:
    """Every run under ``dirs``, each folder once, in argument order then by path.

    Raises:
        ConfigError: a path is missing or not a folder, or holds no run folder.
    """
    runs: list[CampaignRun] = []
    seen: set[Path] = set()
    for d in dirs:
        p = Path(d)
        if not p.is_dir():
            what = "does not exist" if not p.exists() else "is a file, not a folder"
            raise ConfigError(
                f"{str(p)!r} {what}. Pass run folders or sweep folders (e.g. multirun/<date>/<time>)."
            )
        found = find_run_dirs(p)
        if not found:
            raise ConfigError(
                f"No run folder found in {str(p)!r}: expected a folder holding {JSON_NAME}, {ENERGY_FILE} or "
                f"{SUMMARY_FILE}, or a sweep folder of such run folders. Pass the folder a training run wrote."
            )
        for run_dir in found:
            if run_dir.resolve() not in seen:
                seen.add(run_dir.resolve())
                runs.append(read_run(run_dir))
    return _named(runs)


def _named(runs: list[CampaignRun]) -> list[CampaignRun]:
    """Unique names: sweep jobs (0, 1, ...) by their sweep folder too, clashes by their path."""
    for r in runs:
        if r.name.isdigit():
            r.name = f"{r.path.parent.name}/{r.name}"
    names = [r.name for r in runs]
    for r in runs:
        if names.count(r.name) > 1:
            r.name = str(r.path)
    return runs


# --------------------------------------------------------------------------- counting once


def _part_j(part: dict[str, Any]) -> float:
    try:
        return max(0.0, float(part.get("energy_j") or 0.0))
    except (TypeError, ValueError):
        return 0.0


def _lineage_order(run: CampaignRun) -> tuple[int, float]:
    end = run.ended_at.timestamp() if run.ended_at else 0.0
    return (-len(run.parts), -end)


def _inside(checkpoint: Any, folder: Path) -> bool:
    if not checkpoint:
        return False
    try:
        return Path(str(checkpoint)).resolve().is_relative_to(folder.resolve())
    except (OSError, ValueError):
        return False


def attribute_parts(runs: Sequence[CampaignRun]) -> None:
    """Set each run's ``counted_fraction`` and ``included_in`` so every measured part counts once.

    See the module docstring for the rule. Runs without part records count whole.
    """
    counted_j: dict[str, float] = {}  # part started_at -> facility J already counted
    owner: dict[str, str] = {}  # part started_at -> the run that counted it first
    for run in sorted((r for r in runs if r.measured), key=_lineage_order):
        total_j = sum(_part_j(p) for p in run.parts)
        new_j = 0.0
        for p in run.parts:
            key = str(p.get("started_at"))
            extra = _part_j(p) - counted_j.get(key, 0.0)
            if key in owner and owner[key] != run.name:
                run.included_in.append(owner[key])
            if extra > 0:
                new_j += extra
                counted_j[key] = _part_j(p)
            owner.setdefault(key, run.name)
        run.included_in = sorted(set(run.included_in))
        if run.parts and total_j > 0:
            fraction = new_j / total_j
            run.counted_fraction = 0.0 if fraction < _MIN_FRACTION else min(1.0, fraction)
    for run in runs:  # e.g. a SIGKILLed folder: no files, but a later run resumed its checkpoint
        carriers = [
            o.name
            for o in runs
            if o is not run and any(_inside(p.get("checkpoint"), run.path) for p in o.parts[:-1])
        ]
        run.included_in = sorted(set(run.included_in) | set(carriers))


# --------------------------------------------------------------------------- estimates, final model


def _fill_estimates(runs: Sequence[CampaignRun], final: CampaignRun) -> list[str]:
    """Emissions and cost of the runs measured by ``energy.json`` only (see the module docstring)."""
    reported = [r for r in runs if r.report is not None]
    e_kwh = sum(r.energy_kwh for r in reported)
    intensity = sum(r.operational_g for r in reported) / e_kwh if e_kwh > 0 else 0.0
    t_s = sum(r.duration_s for r in reported)
    embodied_per_s = sum(r.embodied_g for r in reported) / t_s if t_s > 0 else 0.0
    price = final.report.price_per_hour_usd if final.report is not None else None
    notes = []
    for r in runs:
        if r.source != ENERGY_FILE:
            continue
        r.operational_g = r.energy_kwh * intensity
        r.embodied_g = r.duration_s * embodied_per_s
        r.cost_usd = r.duration_s / 3600.0 * (price or 0.0)
        notes.append(
            f"{r.name}: no {JSON_NAME}; its energy is from {ENERGY_FILE}, its operational emissions are estimated "
            f"with the mean intensity of the runs with a report ({intensity:.4g} gCO2e/kWh), its embodied emissions "
            f"at their {embodied_per_s:.4g} gCO2e/s and its cost at the final model's price per hour."
        )
    return notes


def choose_final(runs: Sequence[CampaignRun], final: str | os.PathLike[str] | None = None) -> CampaignRun:
    """The final model's run: ``final`` (a run folder of the campaign), else the last completed run with a report.

    Raises:
        ConfigError: ``final`` is not one of the runs or has no report, or no run completed.
    """
    if final is not None:
        want = Path(final).resolve()
        match = [r for r in runs if r.path.resolve() == want]
        if not match:
            raise ConfigError(
                f"--final {str(final)!r} is not one of the campaign's run folders. "
                "Pass a run folder that is inside (or is) one of the folders given."
            )
        if match[0].report is None:
            raise ConfigError(
                f"--final {str(final)!r} has no readable {JSON_NAME}: the functional unit comes "
                "from the final model's report. Pass a run that completed."
            )
        return match[0]
    done = [r for r in runs if r.report is not None and r.status == "completed"]
    if not done:
        raise ConfigError(
            f"No completed run with a {JSON_NAME} among {len(runs)} run folder(s): the campaign's "
            "functional unit comes from the final model. Pass --final RUN_DIR to name it."
        )
    return max(done, key=lambda r: r.ended_at.timestamp() if r.ended_at else 0.0)


def _span_s(runs: Sequence[CampaignRun]) -> float:
    starts = [r.started_at for r in runs if r.started_at and r.counted_fraction > 0]
    ends = [r.ended_at for r in runs if r.ended_at and r.counted_fraction > 0]
    return max(0.0, (max(ends) - min(starts)).total_seconds()) if starts and ends else 0.0


def _preparation(runs: Sequence[CampaignRun]) -> list[CampaignPreparation]:
    """Every run's preparation records, each build counted once (see the module docstring)."""
    first: dict[str, str] = {}
    out = []
    with_intensity = [r for r in runs if r.energy_kwh > 0]
    mean = (
        sum(r.operational_g for r in with_intensity) / sum(r.energy_kwh for r in with_intensity)
        if with_intensity
        else 0.0
    )
    # the run that built a cache counts it, before the runs that reused it
    pairs = sorted(((r, p) for r in runs for p in r.preparation), key=lambda rp: rp[1].reused)
    for (run, record), (_, new) in zip(pairs, attribute_once(p for _, p in pairs)):
        # a run that died after its cache build has no intensity: the campaign's mean stands in
        intensity = run.operational_g / run.energy_kwh if run.energy_kwh > 0 else mean
        if not new:
            why = f"amortised: counted in {first[record.build_id]}"
        elif record.within_training:
            why = f"inside {run.name}'s training energy"
        else:
            why = "counted" + (
                ""
                if run.energy_kwh > 0
                else " (its run measured no intensity: the campaign's mean intensity is used)"
            )
        first.setdefault(record.build_id, run.name)
        out.append(
            CampaignPreparation(
                run.name, record, new and not record.within_training, why, record.energy_kwh * intensity
            )
        )
    return out


def rollup(runs: list[CampaignRun], final: CampaignRun) -> Campaign:
    """The campaign totals (training and data preparation) and the SCI per every functional unit of ``final`` (R > 0)."""
    notes = _fill_estimates(runs, final)
    totals = {
        f: sum(r.counted(f) for r in runs)
        for f in ("energy_kwh", "operational_g", "embodied_g", "cost_usd", "duration_s")
    }
    preparation = _preparation(runs)
    totals["energy_kwh"] += sum(p.energy_kwh for p in preparation)
    totals["operational_g"] += sum(p.counted_g for p in preparation)
    if any(p.counted for p in preparation):
        notes.append(
            "Data preparation (cache builds) is included, each build once; its operational emissions are "
            "estimated with the intensity of the run that used the cache."
        )
    carbon_g = totals["operational_g"] + totals["embodied_g"]
    for r in runs:
        r.share = r.counted("carbon_g") / carbon_g if carbon_g > 0 else 0.0
        if 0 < r.counted_fraction < 1:
            notes.append(
                f"{r.name}: {r.counted_fraction:.1%} of its energy is not in another run's total; "
                "that share of its emissions, cost and time is counted (an estimate by energy share)."
            )
    report = final.report
    if report is None:
        raise ConfigError(f"The final run {final.name} has no report; pass a run that completed.")
    work = report.work
    if work is not None and 0 < work.train_steps < report.training.steps:
        notes.append(
            f"{final.name}: its FLOP count covers {work.train_steps} of the job's {report.training.steps} "
            "training steps (the last part of a resumed job), so R per PFLOP is that of the counted steps."
        )
    r_counts = {u: float(n) for u, n in report.functional_unit_counts.items() if n and n > 0}
    return Campaign(
        runs=runs,
        final=final,
        functional_unit=report.functional_unit or "job",
        r_counts=r_counts,
        **totals,  # pyright: ignore[reportArgumentType]  (energy, emissions, cost and time: all floats)
        wall_s=_span_s(runs),
        unmeasured_s=sum(r.unmeasured_s for r in runs if r.counted_fraction > 0),
        sci_per={u: carbon_g / n for u, n in r_counts.items()},
        notes=notes,
        preparation=preparation,
    )


def split_by_model(runs: Sequence[CampaignRun]) -> dict[str | None, list[CampaignRun]]:
    """The runs of each model (in order); runs of unknown model join the only model there is,
    else they stay under ``None``."""
    groups: dict[str | None, list[CampaignRun]] = {}
    for r in runs:
        groups.setdefault(r.model, []).append(r)
    known = [m for m in groups if m is not None]
    if None in groups and len(known) == 1:
        unknown = set(map(id, groups.pop(None)))
        groups[known[0]] = [r for r in runs if r.model == known[0] or id(r) in unknown]
    return groups


def build_campaign(
    dirs: Iterable[str | os.PathLike[str]], final: str | os.PathLike[str] | None = None
) -> Campaign:
    """Read every run under ``dirs`` and roll them up (see :mod:`sci_lightning.campaign.rollup`).
    With runs of several models, ``final`` names the model (its runs form the campaign).

    Raises:
        ConfigError: no run folder, ``final`` not a run, no completed run to take the functional unit
            from, or runs of several models and no ``final``.
    """
    runs = collect_runs(list(dirs))
    groups = split_by_model(runs)
    models = sorted(m for m in groups if m is not None)
    if len(models) > 1:
        if final is None:
            raise ConfigError(
                f"The folders hold runs of {len(models)} models ({', '.join(models)}): "
                "a campaign is one model's development. Pass one model's run folders, or --final RUN_DIR to "
                "take that run's model."
            )
        runs = groups.get(choose_final(runs, final).model, runs)
    attribute_parts(runs)
    return rollup(runs, choose_final(runs, final))


def campaigns_by_model(runs: Sequence[CampaignRun]) -> list[Campaign]:
    """One campaign per model (see :func:`split_by_model`); models without a completed run are left out."""
    out = []
    for group in split_by_model(runs).values():
        attribute_parts(group)
        try:
            out.append(rollup(group, choose_final(group)))
        except ConfigError:
            continue
    return out


def campaign_lines(campaigns: Sequence[Campaign]) -> str | None:
    """:func:`campaign_line` of each campaign, one per line; ``None`` for none."""
    return "\n".join(campaign_line(c) for c in campaigns) or None


def campaign_of_runs(run_dirs: Iterable[str | os.PathLike[str]]) -> list[Campaign]:
    """The campaigns of exactly these run folders (each read as one run, e.g. a comparison's jobs),
    one per model; empty when none of them completed with a report (no final model to take R from)."""
    return campaigns_by_model(_named([read_run(d) for d in run_dirs]))


_STATUS_ORDER = {"completed": 0, "interrupted": 1, "failed": 2, NO_MEASUREMENT: 3}


def _g(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4g}"


def campaign_line(campaign: Campaign) -> str:
    """One line for the end of a comparison: the campaign's energy, emissions and SCI."""
    statuses = sorted({r.status for r in campaign.runs}, key=lambda s: (_STATUS_ORDER.get(s, 9), s))
    counts = ", ".join(f"{campaign.count(s)} {s}" for s in statuses)
    model = f" of {campaign.final.model}" if campaign.final.model else ""
    return (
        f"Campaign{model} (all {len(campaign.runs)} runs: {counts}): {_g(campaign.energy_kwh)} kWh, "
        f"{_g(campaign.carbon_g)} gCO2e, "
        f"SCI {_g(campaign.sci)} {campaign.sci_unit} of the final model ({_label(campaign.final)})."
    )


def _label(run: CampaignRun) -> str:
    return f"{run.model}, {run.name}" if run.model and run.model != run.name else run.name

"""Section ``throttle``: the callback's overhead at real step rates, with and without the read throttle.

Steady-state ms per step of one model on a fixed device batch with no callback (``none``),
:class:`EnergyCarbonCallback` with the default read throttle (``min_read_interval_s=0.1``,
``throttled``) and reading the meters every step (``0``, ``every_step``): paired rounds in
rotated order, ratio = median over rounds of (arm / none in the same round), for a large
model and a fast-stepping small one; plus the mean cost of one ``EnergyMonitor.record_step``.
"""

from __future__ import annotations

import os
import statistics
import time

from lightning.pytorch.callbacks import Callback

from sci_lightning.energy import EnergyMonitor
from sci_lightning.lightning.callback import EnergyCarbonCallback

from .common import Budget, free_memory, guarded, save_progress
from .fits import StepTimer, SyntheticClassifier, calibrate_steps, fit_fixed
from .markdown import fmt, why

# read-throttle arms: EnergyConfig.min_read_interval_s (None: no callback)
THROTTLE_ARMS = {"none": None, "throttled": 0.1, "every_step": 0.0}


def throttle_specs(args) -> list[tuple[str, int, int]]:
    """``--throttle-models`` entries ``model:px:batch``."""
    out = []
    for item in args.throttle_models:
        name, px, batch = (item.split(":") + ["", ""])[:3]
        out.append((name, int(px or args.image_size), int(batch or args.batch)))
    return out


def read_cost_us(args, interval_s: float, calls: int) -> dict:
    """Mean cost of one ``EnergyMonitor.record_step`` (µs) with the default meters of this device."""
    from sci_lightning.settings import EnergyConfig

    indices = [0] if args.accelerator == "gpu" else None
    monitor = EnergyMonitor(config=EnergyConfig(), device_indices=indices, min_read_interval_s=interval_s)
    try:
        monitor.begin_window("w")
        t = time.perf_counter()
        for _ in range(calls):
            monitor.record_step(images=1)
        dt = time.perf_counter() - t
        m = monitor.end_window("w")
    finally:
        monitor.close()
    return {
        "min_read_interval_s": interval_s,
        "calls": calls,
        "us_per_call": dt / calls * 1e6,
        "methods": sorted({f"{c.component}: {c.method}" for c in m.components}),
        "resolution": list(m.resolution),
    }


def check_throttle(spec: tuple[str, int, int], args, budget: Budget) -> dict:
    """Steady-state step time with no callback, the callback reading at most every 0.1 s (the
    default) and reading every step (``min_read_interval_s=0``): paired rounds, rotated order."""
    name, px, batch = spec
    print(f"== throttle {name} {px} px batch {batch}: building", flush=True)
    model = SyntheticClassifier(name, px, batch)
    step_s, steps = calibrate_steps(model, args, args.throttle_seconds, 1e-5)
    print(f"   {step_s * 1e3:.2f} ms/step -> {steps} steps per run", flush=True)
    arms = list(THROTTLE_ARMS)
    times: dict[str, list[float]] = {a: [] for a in arms}
    ratios: dict[str, list[float]] = {a: [] for a in arms if a != "none"}
    seen: dict[str, dict] = {}
    round_s = 0.0
    for r in range(args.throttle_rounds):
        if r and budget.left() < round_s + 2:
            print(f"   stopping after {r} rounds: section cap", flush=True)
            break
        t_round = time.perf_counter()
        got = {}
        for arm in arms[r % len(arms) :] + arms[: r % len(arms)]:
            tm = StepTimer(skip=args.warmup)
            cbs: list[Callback] = [tm]
            cb = None
            if THROTTLE_ARMS[arm] is not None:
                cb = EnergyCarbonCallback(
                    energy={"min_read_interval_s": THROTTLE_ARMS[arm]},
                    compute_sci=False,
                    output_dir=os.path.join(args.scratch, f"throttle_{name}_{arm}_{r}"),  # a folder per fit
                )
                cbs.append(cb)
            fit_fixed(model, steps, args, cbs)
            got[arm] = tm.step_s
            times[arm].append(tm.step_s * 1e3)
            if cb is not None and cb.result is not None:
                seen[arm] = {
                    "read_interval_s": cb.monitor.read_interval_s if cb.monitor else None,
                    "methods": sorted({f"{c.component}: {c.method}" for c in cb.result.components}),
                    "resolution": list(getattr(cb.result, "resolution", [])),
                }
        for arm in ratios:
            ratios[arm].append(got[arm] / got["none"])
        round_s = time.perf_counter() - t_round
        print(f"   round {r + 1}: " + ", ".join(f"{a} {got[a] * 1e3:.3f} ms" for a in arms), flush=True)
    out = {
        "model": name,
        "image_size": px,
        "batch": batch,
        "precision": args.precision,
        "steps_per_run": steps,
        "rounds": len(times["none"]),
        "ms_per_step": {a: v for a, v in times.items()},
        "median_ms_per_step": {a: statistics.median(v) for a, v in times.items() if v},
        "median_ratio_to_none": {a: statistics.median(v) for a, v in ratios.items() if v},
        "ratios": ratios,
        "arms": {a: THROTTLE_ARMS[a] for a in arms},
        "callback": seen,
    }
    print(
        "   median ratio to none: "
        + ", ".join(f"{a} {v:.4f}" for a, v in out["median_ratio_to_none"].items()),
        flush=True,
    )
    del model
    free_memory()
    return out


def run(args, report: dict, budget: Budget) -> dict:
    """The section: the per-call read cost, then every ``--throttle-models`` entry."""
    sec: dict = {
        "arms": dict(THROTTLE_ARMS),
        "seconds_per_run": args.throttle_seconds,
        "models": [],
        "read_cost": [],
    }
    report["sections"]["throttle"] = sec
    for interval in (0.1, 0.0):  # one record_step call, on the meters this device has
        sec["read_cost"].append(
            guarded(
                report,
                budget,
                f"throttle/read_cost/{interval}",
                1,
                read_cost_us,
                args,
                interval,
                args.throttle_calls,
            )
        )
    for spec in throttle_specs(args):
        need = 4 * args.run_overhead_s / 2 + 3 * args.throttle_seconds
        got = guarded(report, budget, f"throttle/{spec[0]}", need, check_throttle, spec, args, budget)
        if "model" in got:
            sec["models"].append(got)
        else:
            sec["models"].append({"model": spec[0], **got})
        save_progress(args, report)
    return sec


def markdown(thr: dict) -> list[str]:
    """This section's Markdown: heading, explanation and table."""
    lines: list[str] = []
    lines += [
        "## Read throttle: callback overhead at real step rates",
        "",
        "Steady-state ms per step of the same model with no callback (`none`), `EnergyCarbonCallback` "
        "with the default read throttle (`min_read_interval_s=0.1`, `throttled`) and reading the meters "
        "every step (`min_read_interval_s=0`, `every_step`); paired rounds in rotated order, ratio = "
        "median over rounds of (arm / none in the same round).",
        "",
        "| model | px | batch | rounds | ms/step none | ms/step throttled | ms/step every_step "
        "| ratio throttled | ratio every_step |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for m in thr.get("models", []):
        if "median_ratio_to_none" not in m:
            lines.append(f"| {m.get('model')} | | | | {why(m)} | | | | |")
            continue
        ms, rt = m["median_ms_per_step"], m["median_ratio_to_none"]
        lines.append(
            f"| {m['model']} | {m['image_size']} | {m['batch']} | {m['rounds']} | {fmt(ms.get('none'), '.3f')} "
            f"| {fmt(ms.get('throttled'), '.3f')} | {fmt(ms.get('every_step'), '.3f')} "
            f"| {fmt(rt.get('throttled'), '.4f')} | {fmt(rt.get('every_step'), '.4f')} |"
        )
    costs = [c for c in thr.get("read_cost", []) if "us_per_call" in c]
    if costs:
        lines += [
            "",
            "One `EnergyMonitor.record_step` call, default meters of this machine: "
            + "; ".join(
                f"`min_read_interval_s={c['min_read_interval_s']:g}` {c['us_per_call']:.2f} µs/call over {c['calls']} calls"
                for c in costs
            )
            + f" (meters: {', '.join(costs[0]['methods'])}).",
        ]
    lines.append("")
    return lines

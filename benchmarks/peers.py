"""The same small Lightning fit under no tracker, sci-lightning and its peers, side by side.

Arms: ``none`` (no tracker), ``sci_lightning`` (:class:`EnergyCarbonCallback`, energy only),
``codecarbon`` (``OfflineEmissionsTracker``, ``country_iso_code``), ``carbontracker``
(``CarbonTracker``, one monitored epoch) and ``zeus`` (``ZeusMonitor`` window). Each run is
a fresh process (``--arm``), killed after ``--arm-timeout-s`` (120 s); the order rotates
every round. Offline: every HTTP(S) proxy points at a closed local port, so a tracker that
tries the network fails at once instead of reaching it, and CodeCarbon runs its offline
tracker. An arm whose package cannot be imported is reported as skipped, with the reason.

Printed, per arm, each paired with ``none`` within a round and the median taken over rounds:
the *train* ratio (wall time from ``on_train_start`` to ``on_train_end``, stamped by a tiny
callback in every arm: all steps and per-step hooks, no tracker start-up or stop, which for
the callback-based sci-lightning lie in ``setup`` / ``on_fit_start`` / ``on_fit_end`` and
for the others outside ``fit``), the same span's process-CPU-time ratio (not inflated by
waiting for a CPU on a shared machine), and the whole-``fit`` ratio; then the tracker's
start-up and stop time (sci-lightning: constructor + ``setup`` + ``on_fit_start``, and
``on_fit_end`` + ``teardown``, each hook timed), the energy it reports and the method it
states (its own words, or that it said nothing). ``peers.json`` also has, per run, the
span's involuntary context switches and the callback's time in each hook. On a GPU machine
``--device cuda`` runs the fit there (``benchmarks/gpu_check.py`` section ``peers``)::

    PYTHONPATH=src .venv/bin/python benchmarks/peers.py --rounds 3 --steps 256 --out docs/measurements
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

ARMS = ("none", "sci_lightning", "codecarbon", "carbontracker", "zeus")
OFFLINE_ENV = {
    "HTTP_PROXY": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "http_proxy": "http://127.0.0.1:9",
    "https_proxy": "http://127.0.0.1:9",
    "NO_PROXY": "",
    "no_proxy": "",
    "CODECARBON_LOG_LEVEL": "error",
    "WANDB_MODE": "offline",
    "HF_HUB_OFFLINE": "1",
}
_RESULT = "PEERS_RESULT "
_DEVICE = "cpu"  # the child's --device: "cpu", or "cuda" (GPU 0)


# --------------------------------------------------------------------------- one arm (child process)


def _span_callback():
    """A tiny callback that stamps ``on_train_start`` / ``on_train_end`` (wall and process CPU time).

    The span between them holds every training step and the per-step hooks of every
    callback, but not ``setup`` / ``on_fit_start`` / ``on_fit_end`` / ``teardown``, where a
    callback-based tracker does its start-up and stop; the other trackers start and stop
    outside ``fit`` altogether. So the span compares like with like for every arm.
    """
    from lightning.pytorch.callbacks import Callback

    class Span(Callback):
        def __init__(self) -> None:
            self.t: dict[str, float] = {}

        def on_train_start(self, trainer, pl_module) -> None:
            self.t["start"], self.t["start_cpu"] = time.perf_counter(), time.process_time()
            self.t["start_preempt"] = resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw

        def on_train_end(self, trainer, pl_module) -> None:
            self.t["end"], self.t["end_cpu"] = time.perf_counter(), time.process_time()
            self.t["end_preempt"] = resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw

    return Span()


def _fit(steps: int, callbacks: list, root: str) -> dict[str, float]:
    """One ``Trainer.fit`` of the small conv net on random tensors (CPU, 1 thread), timed.

    ``fit_s``: the whole ``Trainer.fit`` call; ``train_s`` / ``train_cpu_s``: wall / process
    CPU seconds from ``on_train_start`` to ``on_train_end`` (:func:`_span_callback`);
    ``train_preemptions``: involuntary context switches in it (the process was made to wait
    for a CPU: wall time that is not its own work); ``pre_s`` / ``post_s``: the parts of
    ``fit`` before and after that span.
    """
    import torch
    from lightning.pytorch import Trainer

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from callback_overhead import SmallNet

    torch.set_num_threads(1)
    span = _span_callback()
    trainer = Trainer(
        accelerator="gpu" if _DEVICE == "cuda" else "cpu",
        devices=1,
        max_epochs=1,
        callbacks=[span, *callbacks],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        default_root_dir=root,
    )
    model = SmallNet(steps, 32, 32)
    t = time.perf_counter()
    trainer.fit(model)
    end = time.perf_counter()
    return {
        "fit_s": end - t,
        "train_s": span.t["end"] - span.t["start"],
        "train_cpu_s": span.t["end_cpu"] - span.t["start_cpu"],
        "train_preemptions": span.t["end_preempt"] - span.t["start_preempt"],
        "pre_s": span.t["start"] - t,
        "post_s": end - span.t["end"],
    }


def _timed(call) -> tuple[Any, float]:
    t = time.perf_counter()
    out = call()
    return out, time.perf_counter() - t


def _hook_timer(orig: Callable[..., Any], hook: str, hook_s: dict[str, float]) -> Callable[..., Any]:
    """``orig`` wrapped so that each call adds its wall time to ``hook_s[hook]``."""

    def timed(self, *a, **k):
        t = time.perf_counter()
        try:
            return orig(self, *a, **k)
        finally:
            hook_s[hook] = hook_s.get(hook, 0.0) + time.perf_counter() - t

    return timed


def arm_none(steps: int, root: str) -> dict:
    return _fit(steps, [], root)


def arm_sci_lightning(steps: int, root: str) -> dict:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))
    from sci_lightning.lightning.callback import EnergyCarbonCallback

    hook_s: dict[str, float] = {}

    class Timed(EnergyCarbonCallback):
        """The callback, each hook it implements timed (start-up, per step, per epoch, stop)."""

    for hook in (
        "setup",
        "on_fit_start",
        "on_train_batch_end",
        "on_train_epoch_start",
        "on_train_epoch_end",
        "on_fit_end",
        "teardown",
    ):
        setattr(Timed, hook, _hook_timer(getattr(EnergyCarbonCallback, hook), hook, hook_s))

    cb, make_s = _timed(lambda: Timed(output_dir=root, compute_sci=False))
    out = _fit(steps, [cb], root)  # setup/on_fit_start and on_fit_end/teardown fall outside train_s
    res = cb.result
    return {
        **out,
        "start_s": make_s + hook_s.get("setup", 0.0) + hook_s.get("on_fit_start", 0.0),
        "stop_s": hook_s.get("on_fit_end", 0.0) + hook_s.get("teardown", 0.0),
        "hook_s": {"constructor": make_s, **hook_s},
        "steps_s": hook_s.get("on_train_batch_end", 0.0),
        "energy_kwh": res.it_energy_j / 3.6e6,
        "methods": sorted({f"{c.component}: {c.method} ({c.quality})" for c in res.components}),
        "said": list(res.warnings) + list(getattr(res, "resolution", [])),
    }


def arm_codecarbon(steps: int, root: str) -> dict:
    from codecarbon import OfflineEmissionsTracker

    tracker, make_s = _timed(
        lambda: OfflineEmissionsTracker(
            country_iso_code="USA", output_dir=root, save_to_file=False, log_level="error"
        )
    )
    _, start_s = _timed(tracker.start)
    fit = _fit(steps, [], root)
    _, stop_s = _timed(tracker.stop)
    d = tracker.final_emissions_data
    return {
        **fit,
        "start_s": make_s + start_s,
        "stop_s": stop_s,
        "energy_kwh": float(d.energy_consumed),
        "methods": [
            f"tracking_mode={d.tracking_mode}",
            f"cpu_power_w={d.cpu_power}",
            f"ram_power_w={d.ram_power}",
            f"gpu_power_w={d.gpu_power}",
            f"cpu_model={d.cpu_model}",
        ],
        "parts_kwh": {"cpu": d.cpu_energy, "gpu": d.gpu_energy, "ram": d.ram_energy},
    }


def arm_carbontracker(steps: int, root: str) -> dict:
    from carbontracker.tracker import CarbonTracker

    tracker, start_s = _timed(
        lambda: CarbonTracker(
            epochs=1, monitor_epochs=1, epochs_before_pred=0, log_dir=root, verbose=0, update_interval=1
        )
    )
    tracker.epoch_start()
    fit = _fit(steps, [], root)
    _, stop_s = _timed(lambda: (tracker.epoch_end(), tracker.stop()))
    energy_kwh = None
    said = []
    for name in sorted(os.listdir(root)):
        if name.endswith(".log"):
            with open(os.path.join(root, name), errors="replace") as f:
                said += [line.strip() for line in f if line.strip()][-12:]
    for line in said:  # e.g. "... Energy: 0.000012 kWh" : the number just before "kWh"
        words = line.replace(",", " ").split()
        for before, word in zip(words, words[1:]):
            if word.startswith("kWh") and energy_kwh is None:
                try:
                    energy_kwh = float(before)
                except ValueError:
                    continue
    return {**fit, "start_s": start_s, "stop_s": stop_s, "energy_kwh": energy_kwh, "said": said}


def arm_zeus(steps: int, root: str) -> dict:
    from zeus.monitor import ZeusMonitor

    monitor, start_s = _timed(lambda: ZeusMonitor())
    monitor.begin_window("fit")
    fit = _fit(steps, [], root)
    m, stop_s = _timed(lambda: monitor.end_window("fit"))
    total_j = m.total_energy
    return {
        **fit,
        "start_s": start_s,
        "stop_s": stop_s,
        "energy_kwh": float(total_j) / 3.6e6,
        "methods": [
            f"gpu_energy={m.gpu_energy}",
            f"cpu_energy={m.cpu_energy}",
            f"dram_energy={m.dram_energy}",
        ],
    }


PACKAGES = {"codecarbon": "codecarbon", "carbontracker": "carbontracker", "zeus": "zeus"}


def run_arm(name: str, steps: int, device: str = "cpu") -> None:
    """Child process: run one arm and print its result line (stdout/stderr keep what the tracker said)."""
    import logging
    import warnings

    global _DEVICE
    _DEVICE = device
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.simplefilter("default")
    with tempfile.TemporaryDirectory() as root:
        try:
            out = globals()[f"arm_{name}"](steps, root)
        except ImportError as err:
            out = {"skipped": f"cannot import: {err!r}"}
        except Exception as err:
            out = {"error": repr(err)}
    print(_RESULT + json.dumps(out, default=str), flush=True)


# --------------------------------------------------------------------------- the driver


def missing_arms(arms: list[str]) -> dict[str, str]:
    """Arms whose tracker package is not installed (checked without importing it), with why."""
    import importlib.util

    return {
        a: f"package {PACKAGES[a]!r} not installed"
        for a in arms
        if a in PACKAGES and importlib.util.find_spec(PACKAGES[a]) is None
    }


def spawn(name: str, steps: int, timeout_s: float, device: str = "cpu") -> dict:
    env = {**os.environ, **OFFLINE_ENV}
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--arm",
        name,
        "--steps",
        str(steps),
        "--device",
        device,
    ]
    t = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout_s:.0f} s"}
    wall_s = time.perf_counter() - t
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(_RESULT)]
    out = json.loads(lines[-1][len(_RESULT) :]) if lines else {"error": f"exit {proc.returncode}, no result"}
    told = [
        ln.strip()
        for ln in (proc.stderr + proc.stdout).splitlines()
        if ln.strip() and not ln.startswith(_RESULT) and "PossibleUserWarning" not in ln
    ]
    out["process_wall_s"] = wall_s
    out["output_tail"] = told[-15:]
    return out


def run_rounds(
    arms: list[str],
    rounds: int,
    steps: int,
    arm_timeout_s: float = 120.0,
    device: str = "cpu",
    deadline: float | None = None,
    log=print,
) -> list[dict[str, dict]]:
    """``rounds`` rounds of every arm (``none`` first in the list, the order rotated each round),
    each arm a fresh process; an arm whose package is missing is recorded as skipped without a
    process. With ``deadline`` (a ``time.perf_counter()`` value) no round starts whose estimate
    (the slowest round so far) would end after it, and no arm starts after it."""
    arms = [a for a in arms if a]
    if "none" not in arms:
        arms.insert(0, "none")
    missing = missing_arms(arms)
    live = [a for a in arms if a not in missing]
    out: list[dict[str, dict]] = []
    slowest = 0.0
    for r in range(rounds):
        if deadline is not None and time.perf_counter() + slowest > deadline:
            log(f"stopping before round {r + 1}: the deadline would pass (round ~{slowest:.0f} s)")
            break
        t_round = time.perf_counter()
        order = live[r % len(live) :] + live[: r % len(live)]
        got: dict[str, dict] = {a: {"skipped": why} for a, why in missing.items()}
        for name in order:
            if deadline is not None and time.perf_counter() > deadline:
                got[name] = {"error": "not run: deadline passed"}
                continue
            left = (
                arm_timeout_s
                if deadline is None
                else max(1.0, min(arm_timeout_s, deadline - time.perf_counter() + 5))
            )
            got[name] = res = spawn(name, steps, left, device)
            state = (
                f"fit {res['fit_s']:.2f} s, train {res['train_s']:.2f} s"
                if "fit_s" in res
                else (res.get("skipped") or res.get("error"))
            )
            log(f"round {r + 1}/{rounds} {name:14s} {state}")
        out.append(got)
        slowest = max(slowest, time.perf_counter() - t_round)
    return out


def _median(ok: list[tuple[dict, dict]], key: str) -> float:
    """Median of the arm's ``key`` over the paired rounds (a missing figure counts as 0)."""
    return statistics.median(a.get(key) or 0.0 for a, _ in ok)


def _ratio(ok: list[tuple[dict, dict]], key: str) -> float | None:
    pairs = [(a[key], b[key]) for a, b in ok if a.get(key) and b.get(key)]
    return statistics.median(x / y for x, y in pairs) if pairs else None


def summarize(rounds: list[dict[str, dict]]) -> dict[str, dict]:
    """Per arm: median ratios to ``none`` paired within each round (``train`` = on_train_start to
    on_train_end wall time, the like-for-like figure; ``train_cpu`` its process CPU time;
    ``fit`` = the whole ``Trainer.fit``), median seconds, the tracker's energy and words."""
    out: dict[str, dict] = {}
    for name in ARMS:
        runs = [r[name] for r in rounds if name in r]
        ok = [
            (r[name], r["none"])
            for r in rounds
            if "fit_s" in r.get(name, {}) and "fit_s" in r.get("none", {})
        ]
        if not ok:
            first = runs[0] if runs else {}
            out[name] = {
                "skipped": first.get("skipped") or first.get("error") or "no run",
                "output_tail": first.get("output_tail"),
            }
            continue
        last = ok[-1][0]
        out[name] = {
            "runs": len(ok),
            "median_train_ratio": _ratio(ok, "train_s"),
            "median_train_cpu_ratio": _ratio(ok, "train_cpu_s"),
            "median_fit_ratio": _ratio(ok, "fit_s"),
            "median_train_s": _median(ok, "train_s"),
            "median_fit_s": _median(ok, "fit_s"),
            "median_pre_s": _median(ok, "pre_s"),
            "median_post_s": _median(ok, "post_s"),
            "median_start_s": _median(ok, "start_s"),
            "median_stop_s": _median(ok, "stop_s"),
            "median_train_preemptions": _median(ok, "train_preemptions"),
            "median_callback_steps_s": _median(ok, "steps_s"),
            "hook_s": last.get("hook_s"),
            "energy_kwh": [a.get("energy_kwh") for a, _ in ok],
            "methods": last.get("methods"),
            "said": last.get("said"),
            "output_tail": last.get("output_tail"),
            "parts_kwh": last.get("parts_kwh"),
        }
    return out


def table(summary: dict[str, dict]) -> str:
    lines = [
        f"{'arm':14s}{'train ratio':>12s}{'cpu ratio':>10s}{'fit ratio':>10s}{'train s':>8s}{'fit s':>7s}"
        f"{'start s':>9s}{'stop s':>8s}  energy (kWh) / method"
    ]
    for name, s in summary.items():
        if "skipped" in s:
            lines.append(f"{name:14s} skipped: {s['skipped']}")
            continue
        es = [x for x in s["energy_kwh"] if x is not None]
        e = statistics.median(es) if es else None
        f = lambda v, w, d=3: f"{v:{w}.{d}f}" if v is not None else f"{'-':>{w}s}"  # noqa: E731
        lines.append(
            f"{name:14s}{f(s['median_train_ratio'], 12)}{f(s['median_train_cpu_ratio'], 10)}"
            f"{f(s['median_fit_ratio'], 10)}{f(s['median_train_s'], 8, 2)}{f(s['median_fit_s'], 7, 2)}"
            f"{f(s['median_start_s'], 9)}{f(s['median_stop_s'], 8)}  {e!r} / {s.get('methods') or 'stated no method'}"
        )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--arm", choices=ARMS, help=argparse.SUPPRESS)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=256)
    p.add_argument("--arms", default=",".join(ARMS))
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--arm-timeout-s", type=float, default=120.0)
    p.add_argument("--out", default=None, help="folder for peers.json")
    args = p.parse_args()
    if args.arm:
        run_arm(args.arm, args.steps, args.device)
        return
    rounds = run_rounds(args.arms.split(","), args.rounds, args.steps, args.arm_timeout_s, args.device)
    summary = summarize(rounds)
    print("\n" + table(summary))
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        path = os.path.join(args.out, "peers.json")
        data = {
            "command": " ".join(sys.argv),
            "rounds": args.rounds,
            "steps": args.steps,
            "device": args.device,
            "arms": summary,
            "raw": rounds,
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "offline_env": OFFLINE_ENV,
        }
        with open(path, "w") as f:
            json.dump(data, f, indent=2, default=str)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()

"""The same small Lightning fit under no tracker, sci-lightning and its peers, side by side.

Arms: ``none`` (no tracker), ``sci_lightning`` (:class:`EnergyCarbonCallback`, energy only),
``codecarbon`` (``OfflineEmissionsTracker``, ``country_iso_code``), ``carbontracker``
(``CarbonTracker``, one monitored epoch) and ``zeus`` (``ZeusMonitor`` window). Each run is
a fresh process (``--arm``), killed after ``--arm-timeout-s`` (120 s); the order rotates
every round. Offline: every HTTP(S) proxy points at a closed local port, so a tracker that
tries the network fails at once instead of reaching it, and CodeCarbon runs its offline
tracker. An arm whose package cannot be imported is reported as skipped, with the reason.

Printed, per arm: the median fit-time ratio against ``none`` (paired within each round),
start-up and stop time of the tracker, the energy it reports and the method it states
(its own words, or that it said nothing)::

    PYTHONPATH=src .venv/bin/python benchmarks/peers.py --rounds 3 --steps 256 --out docs/measurements
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

ARMS = ("none", "sci_lightning", "codecarbon", "carbontracker", "zeus")
OFFLINE_ENV = {
    "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
    "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9", "NO_PROXY": "", "no_proxy": "",
    "CODECARBON_LOG_LEVEL": "error", "WANDB_MODE": "offline", "HF_HUB_OFFLINE": "1",
}
_RESULT = "PEERS_RESULT "


# --------------------------------------------------------------------------- one arm (child process)


def _fit(steps: int, callbacks: list, root: str) -> float:
    """Seconds of one ``Trainer.fit`` of the small conv net on random tensors (CPU, 1 thread)."""
    import torch
    from lightning.pytorch import Trainer

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from callback_overhead import SmallNet  # noqa: PLC0415 - the same net as the overhead benchmark

    torch.set_num_threads(1)
    trainer = Trainer(accelerator="cpu", devices=1, max_epochs=1, callbacks=callbacks, logger=False,
                      enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
                      default_root_dir=root)
    model = SmallNet(steps, 32, 32)
    t = time.perf_counter()
    trainer.fit(model)
    return time.perf_counter() - t


def _timed(call) -> tuple[Any, float]:
    t = time.perf_counter()
    out = call()
    return out, time.perf_counter() - t


def arm_none(steps: int, root: str) -> dict:
    return {"fit_s": _fit(steps, [], root)}


def arm_sci_lightning(steps: int, root: str) -> dict:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))
    from sci_lightning.lightning.callback import EnergyCarbonCallback

    cb, start_s = _timed(lambda: EnergyCarbonCallback(output_dir=root, compute_sci=False))
    fit_s = _fit(steps, [cb], root)  # setup/on_fit_start and fit end are inside the fit
    res = cb.result
    return {"fit_s": fit_s, "start_s": start_s, "stop_s": 0.0, "energy_kwh": res.it_energy_j / 3.6e6,
            "methods": sorted({f"{c.component}: {c.method} ({c.quality})" for c in res.components}),
            "said": list(res.warnings) + list(getattr(res, "resolution", []))}


def arm_codecarbon(steps: int, root: str) -> dict:
    from codecarbon import OfflineEmissionsTracker

    tracker, make_s = _timed(lambda: OfflineEmissionsTracker(country_iso_code="USA", output_dir=root,
                                                             save_to_file=False, log_level="error"))
    _, start_s = _timed(tracker.start)
    fit_s = _fit(steps, [], root)
    _, stop_s = _timed(tracker.stop)
    d = tracker.final_emissions_data
    return {"fit_s": fit_s, "start_s": make_s + start_s, "stop_s": stop_s, "energy_kwh": float(d.energy_consumed),
            "methods": [f"tracking_mode={d.tracking_mode}", f"cpu_power_w={d.cpu_power}", f"ram_power_w={d.ram_power}",
                        f"gpu_power_w={d.gpu_power}", f"cpu_model={d.cpu_model}"],
            "parts_kwh": {"cpu": d.cpu_energy, "gpu": d.gpu_energy, "ram": d.ram_energy}}


def arm_carbontracker(steps: int, root: str) -> dict:
    from carbontracker.tracker import CarbonTracker

    tracker, start_s = _timed(lambda: CarbonTracker(epochs=1, monitor_epochs=1, epochs_before_pred=0, log_dir=root,
                                                    verbose=0, update_interval=1))
    tracker.epoch_start()
    fit_s = _fit(steps, [], root)
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
    return {"fit_s": fit_s, "start_s": start_s, "stop_s": stop_s, "energy_kwh": energy_kwh, "said": said}


def arm_zeus(steps: int, root: str) -> dict:
    from zeus.monitor import ZeusMonitor

    monitor, start_s = _timed(lambda: ZeusMonitor())
    monitor.begin_window("fit")
    fit_s = _fit(steps, [], root)
    m, stop_s = _timed(lambda: monitor.end_window("fit"))
    total_j = m.total_energy
    return {"fit_s": fit_s, "start_s": start_s, "stop_s": stop_s, "energy_kwh": float(total_j) / 3.6e6,
            "methods": [f"gpu_energy={m.gpu_energy}", f"cpu_energy={m.cpu_energy}", f"dram_energy={m.dram_energy}"]}


def run_arm(name: str, steps: int) -> None:
    """Child process: run one arm and print its result line (stdout/stderr keep what the tracker said)."""
    import logging
    import warnings

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.simplefilter("default")
    with tempfile.TemporaryDirectory() as root:
        try:
            out = globals()[f"arm_{name}"](steps, root)
        except ImportError as err:
            out = {"skipped": f"cannot import: {err!r}"}
        except Exception as err:  # noqa: BLE001 - report what the tracker did
            out = {"error": repr(err)}
    print(_RESULT + json.dumps(out, default=str), flush=True)


# --------------------------------------------------------------------------- the driver


def spawn(name: str, steps: int, timeout_s: float) -> dict:
    env = {**os.environ, **OFFLINE_ENV}
    cmd = [sys.executable, os.path.abspath(__file__), "--arm", name, "--steps", str(steps)]
    t = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout_s:.0f} s"}
    wall_s = time.perf_counter() - t
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(_RESULT)]
    out = json.loads(lines[-1][len(_RESULT):]) if lines else {"error": f"exit {proc.returncode}, no result"}
    told = [ln.strip() for ln in (proc.stderr + proc.stdout).splitlines()
            if ln.strip() and not ln.startswith(_RESULT) and "PossibleUserWarning" not in ln]
    out["process_wall_s"] = wall_s
    out["output_tail"] = told[-15:]
    return out


def summarize(rounds: list[dict[str, dict]]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for name in ARMS:
        runs = [r[name] for r in rounds if name in r]
        ok = [(r[name], r["none"]) for r in rounds if "fit_s" in r.get(name, {}) and "fit_s" in r.get("none", {})]
        if not ok:
            first = runs[0] if runs else {}
            out[name] = {"skipped": first.get("skipped") or first.get("error") or "no run", "output_tail": first.get("output_tail")}
            continue
        med = lambda key: statistics.median(a.get(key) or 0.0 for a, _ in ok)  # noqa: E731
        last = ok[-1][0]
        out[name] = {
            "runs": len(ok), "median_fit_ratio": statistics.median(a["fit_s"] / b["fit_s"] for a, b in ok),
            "median_fit_s": med("fit_s"), "median_start_s": med("start_s"), "median_stop_s": med("stop_s"),
            "energy_kwh": [a.get("energy_kwh") for a, _ in ok], "methods": last.get("methods"),
            "said": last.get("said"), "output_tail": last.get("output_tail"), "parts_kwh": last.get("parts_kwh"),
        }
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--arm", choices=ARMS, help=argparse.SUPPRESS)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=256)
    p.add_argument("--arms", default=",".join(ARMS))
    p.add_argument("--arm-timeout-s", type=float, default=120.0)
    p.add_argument("--out", default=None, help="folder for peers.json")
    args = p.parse_args()
    if args.arm:
        run_arm(args.arm, args.steps)
        return
    arms = [a for a in args.arms.split(",") if a]
    if "none" not in arms:
        arms.insert(0, "none")
    rounds = []
    for r in range(args.rounds):
        order = arms[r % len(arms):] + arms[: r % len(arms)]
        got = {}
        for name in order:
            got[name] = spawn(name, args.steps, args.arm_timeout_s)
            res = got[name]
            state = f"fit {res['fit_s']:.2f} s" if "fit_s" in res else (res.get("skipped") or res.get("error"))
            print(f"round {r + 1}/{args.rounds} {name:14s} {state}", flush=True)
        rounds.append(got)
    summary = summarize(rounds)
    print(f"\n{'arm':14s}{'fit ratio':>10s}{'fit s':>8s}{'start s':>9s}{'stop s':>8s}  energy (kWh) / method")
    for name, s in summary.items():
        if "skipped" in s:
            print(f"{name:14s} skipped: {s['skipped']}")
            continue
        e = statistics.median(x for x in s["energy_kwh"] if x is not None) if any(x is not None for x in s["energy_kwh"]) else None
        print(f"{name:14s}{s['median_fit_ratio']:10.3f}{s['median_fit_s']:8.2f}{s['median_start_s']:9.3f}{s['median_stop_s']:8.3f}"
              f"  {e!r} / {s.get('methods') or 'stated no method'}")
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        path = os.path.join(args.out, "peers.json")
        data = {"command": " ".join(sys.argv), "rounds": args.rounds, "steps": args.steps, "arms": summary,
                "raw": rounds, "python": platform.python_version(), "cpus": os.cpu_count(), "offline_env": OFFLINE_ENV}
        with open(path, "w") as f:
            json.dump(data, f, indent=2, default=str)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()

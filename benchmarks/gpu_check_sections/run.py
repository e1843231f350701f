"""The GPU check's run: device facts, the report skeleton, each section in turn within its cap
and the whole budget, and the JSON + Markdown written after every run.

``benchmarks/gpu_check.py`` is the driver that calls :func:`main`; the sections live in
``input_path``, ``mfu``, ``ablation``, ``energy``, ``throttle`` and ``peers_arms``.
"""

from __future__ import annotations

import faulthandler
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
import warnings
from datetime import datetime, timezone

import torch

from . import ablation, energy, input_path, mfu, peers_arms, throttle
from .common import SECTIONS, Budget, guarded, set_progress_writer
from .markdown import write_markdown
from .options import estimate, parse_args

# each section's module: ``run(args, report, budget) -> dict`` and ``markdown(section) -> lines``
SECTION_MODULES = {
    "input": input_path,
    "mfu": mfu,
    "ablation": ablation,
    "energy": energy,
    "throttle": throttle,
    "peers": peers_arms,
}


def gpu_info() -> dict:
    """GPU name, driver and NVML version where NVML is present."""
    try:
        import pynvml

        pynvml.nvmlInit()
        h = pynvml.nvmlDeviceGetHandleByIndex(0)
        info = {
            "gpu": str(pynvml.nvmlDeviceGetName(h)),
            "driver": str(pynvml.nvmlSystemGetDriverVersion()),
            "nvml": str(pynvml.nvmlSystemGetNVMLVersion()),
        }
        try:
            info["power_limit_w"] = pynvml.nvmlDeviceGetEnforcedPowerLimit(h) / 1000
        except pynvml.NVMLError:
            pass
        pynvml.nvmlShutdown()
        return info
    except Exception as err:
        return {"gpu": None, "driver": None, "nvml_error": repr(err)}


def device_info(cuda: bool) -> dict:
    """Versions of the stack, CPU count and, on a GPU, the card, driver, CUDA and cuDNN."""
    import lightning
    import timm

    info = gpu_info() if cuda else {"gpu": None, "driver": None}
    info.update(
        {
            "torch": torch.__version__,
            "lightning": lightning.__version__,
            "timm": timm.__version__,
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "cuda": torch.version.cuda if cuda else None,
            "cudnn": torch.backends.cudnn.version() if cuda else None,
        }
    )
    if cuda:
        info["cuda_device_name"] = torch.cuda.get_device_name(0)
        info["bf16_supported"] = torch.cuda.is_bf16_supported()
    return info


def command_line() -> str:
    """The command as typed, with the session's ``$OUT`` folder written as ``$OUT``."""
    cmd = " ".join(["python", os.path.relpath(sys.argv[0]) if sys.argv[0] else "gpu_check.py", *sys.argv[1:]])
    out = os.environ.get("OUT")
    return cmd.replace(out, "$OUT") if out and len(out) > 1 else cmd


def write_outputs(args, report: dict) -> None:
    """``gpu_check.json`` + ``.md`` (``gpu_check_tiny.*`` on CPU) in ``--out``; the JSON replaced atomically."""
    stem = os.path.join(args.out, "gpu_check" if args.accelerator == "gpu" else "gpu_check_tiny")
    with open(stem + ".json.tmp", "w") as f:
        json.dump(report, f, indent=2, default=str)
    os.replace(stem + ".json.tmp", stem + ".json")
    write_markdown(stem + ".md", report, {name: mod.markdown for name, mod in SECTION_MODULES.items()})


def prepare_process(args) -> bool:
    """Torch, logging and warning settings, the output and scratch folders; True if the data folder is ours."""
    if args.accelerator == "gpu":
        torch.backends.cudnn.benchmark = True
    else:
        # smoke run on a shared CPU: one intra-op thread, so that a busy neighbour core
        # cannot stall OpenMP barriers (its numbers measure nothing anyway)
        torch.set_num_threads(1)
        warnings.filterwarnings("ignore", message=r".*pin_memory.*no accelerator.*")
    os.makedirs(args.out, exist_ok=True)
    args.scratch = tempfile.mkdtemp(prefix="gpu_check_scratch_")
    own_data_dir = args.data_dir is None
    if own_data_dir:
        args.data_dir = tempfile.mkdtemp(prefix="gpu_check_data_")
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    logging.getLogger("lightning.fabric").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="lightning")
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
    return own_data_dir


def new_report(args, est: dict) -> dict:
    """The report before any section: mode, date, command, device, settings, estimate, caps, not measured."""
    return {
        "mode": "gpu" if args.accelerator == "gpu" else "tiny (CPU smoke run)",
        "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command_line(),
        "device": device_info(args.accelerator == "gpu"),
        "settings": {k: v for k, v in vars(args).items() if k not in ("scratch",)},
        "estimate_s": est,
        "estimate_total_s": sum(est.values()),
        "max_total_s": args.max_total_s,
        "section_caps_s": dict(args.section_caps),
        "sections": {},
        "section_s": {},
        "not_measured": [
            "head-only training energy with / without model.cache_features over 10 epochs (issue 7): the feature "
            "is being built separately; to be added once ImageClassifier / the data layer expose it",
            *([] if args.compile else ["torch.compile (run with --compile; compilation costs minutes)"]),
            *(
                []
                if "reference_no_persistent" in args.input_variants
                else [
                    "persistent_workers on/off: the default fast path reads in-process (no workers); run with "
                    "--input-variants reference reference_no_persistent to time it on the worker-based reference path"
                ]
            ),
        ],
    }


def run_sections(args, report: dict, budget: Budget) -> None:
    """Each asked section in order, within its own cap and never past the whole budget."""
    for name in SECTIONS:
        if name not in args.sections:
            continue
        t = time.perf_counter()
        print(f"# section {name} (at {budget.elapsed():.0f} s)", flush=True)
        cap = args.section_caps.get(name, budget.left())
        sec_budget = Budget(min(cap, budget.left()))  # this section's share, never past the whole budget
        got = guarded(report, sec_budget, name, 1, SECTION_MODULES[name].run, args, report, sec_budget)
        partial = report["sections"].get(name)
        if isinstance(partial, dict) and partial is not got:
            partial.update(got)  # failed or skipped after some runs: keep those
        else:
            report["sections"][name] = got
        report["section_s"][name] = round(time.perf_counter() - t, 1)
        report["total_s"] = budget.elapsed()
        write_outputs(args, report)


def main(argv=None, t_start: float | None = None) -> int:
    """Run the check; ``t_start`` is when the script started (the budget counts the imports too)."""
    args = parse_args(argv)
    budget = Budget(args.max_total_s, t_start)
    own_data_dir = prepare_process(args)
    # a hung run (e.g. a stuck loader worker) must not eat the device session: dump the
    # stacks and exit shortly after the budget; the JSON written so far stays
    faulthandler.enable()
    faulthandler.dump_traceback_later(max(1.0, budget.left() + 30), exit=True)
    est = estimate(args)
    report = new_report(args, est)
    print(
        f"gpu_check: {report['mode']}; sections {' '.join(args.sections)}; models {' '.join(args.models)}",
        flush=True,
    )
    print(
        f"time estimate: {report['estimate_total_s']:.0f} s "
        f"({', '.join(f'{k} {v:.0f}' for k, v in est.items())}); hard stop for new runs at {args.max_total_s:.0f} s",
        flush=True,
    )
    if report["estimate_total_s"] > args.max_total_s:
        print("WARNING: the estimate exceeds --max-total-s; the last runs will be skipped", flush=True)
    set_progress_writer(write_outputs)
    write_outputs(args, report)
    try:
        run_sections(args, report, budget)
    finally:
        shutil.rmtree(args.scratch, ignore_errors=True)
        if own_data_dir:
            shutil.rmtree(args.data_dir, ignore_errors=True)
    faulthandler.cancel_dump_traceback_later()
    report["total_s"] = budget.elapsed()
    write_outputs(args, report)
    print(
        f"wrote {os.path.join(args.out, 'gpu_check' if args.accelerator == 'gpu' else 'gpu_check_tiny')}.json/.md in "
        f"{report['total_s']:.0f} s (estimate {report['estimate_total_s']:.0f} s); "
        f"{len(report.get('errors', []))} errors, {len(report.get('skipped', []))} skipped",
        flush=True,
    )
    return 1 if report.get("errors") else 0

"""Section ``peers``: the same small fit under each energy tracker (``benchmarks/peers.py``).

No tracker, sci-lightning, CodeCarbon, carbontracker, Zeus on this device, each arm a fresh
process (arms whose package is not installed are skipped); as many rounds as fit the
section's cap. Ratios are wall time against no tracker, paired per round.
"""

from __future__ import annotations

import os
import sys
import time

from .common import Budget
from .markdown import why


def run(args, report: dict, budget: Budget) -> dict:
    """benchmarks/peers.py: the same small fit under no tracker, sci-lightning and the peers whose
    package is installed (the others skipped), each arm a fresh process, within this section's cap."""
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import peers

    device = "cuda" if args.accelerator == "gpu" else "cpu"
    deadline = time.perf_counter() + budget.left() - 3
    arms = list(args.peers_arms)
    missing = peers.missing_arms(arms)
    sec: dict = {
        "device": device,
        "steps": args.peers_steps,
        "rounds_asked": args.peers_rounds,
        "arms_asked": arms,
        "missing": missing,
    }
    report["sections"]["peers"] = sec
    rounds = peers.run_rounds(
        arms,
        args.peers_rounds,
        args.peers_steps,
        arm_timeout_s=args.peers_arm_timeout_s,
        device=device,
        deadline=deadline,
        log=lambda m: print(f"   {m}", flush=True),
    )
    summary = peers.summarize(rounds)
    for s in summary.values():
        if isinstance(s.get("output_tail"), list):
            s["output_tail"] = s["output_tail"][-6:]
    sec.update({"rounds_done": len(rounds), "arms": summary, "raw": rounds, "table": peers.table(summary)})
    print(sec["table"], flush=True)
    return sec


def markdown(prs: dict) -> list[str]:
    """This section's Markdown: heading, explanation and table."""
    lines: list[str] = []
    lines += ["## Peers: the same fit under each tracker (benchmarks/peers.py)", ""]
    if "arms" in prs:
        lines += [
            f"Device {prs['device']}, {prs['steps']} steps of the small conv net, {prs['rounds_done']} of "
            f"{prs['rounds_asked']} rounds asked (each arm a fresh process; rounds stop at the section cap). "
            "train ratio: on_train_start to on_train_end wall time against no tracker, paired per round "
            "(tracker start-up / stop outside it for every arm); fit ratio: the whole `Trainer.fit`.",
            "",
            "```",
            prs.get("table", ""),
            "```",
        ]
        if prs.get("missing"):
            lines += [
                "",
                "Not installed, skipped: " + ", ".join(f"{k} ({v})" for k, v in prs["missing"].items()),
            ]
    else:
        lines += [f"Not measured: {why(prs)}"]
    lines.append("")
    return lines

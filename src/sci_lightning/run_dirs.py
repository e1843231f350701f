"""The one walk that finds run folders under a folder (used by compare, campaign and publish).

A *run folder* is what a caller's ``is_run`` says it is (the comparison and the campaign
recognise slightly different markers); the walk is the same for both:

* ``root`` itself when it is a run folder;
* otherwise the run folders below it, searched ``max_depth`` levels deep, in name order,
  never descending into a run folder, skipping hidden folders and the names in ``skip``;
* in a Hydra sweep folder (one holding :data:`SWEEP_FILE`), numbered sub-folders are runs
  even when empty (a job that died before writing anything).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection
from pathlib import Path

__all__ = ["SWEEP_FILE", "walk_run_dirs"]

#: The file Hydra writes at the top of a multirun (sweep) folder.
SWEEP_FILE = "multirun.yaml"


def walk_run_dirs(
    root: str | os.PathLike[str],
    is_run: Callable[[Path], bool],
    *,
    max_depth: int,
    skip: Collection[str] = (),
) -> list[Path]:
    """Run folders at or under ``root`` (see the module docstring for the rule)."""
    root = Path(root)
    if is_run(root):
        return [root]
    found: list[Path] = []

    def walk(folder: Path, depth: int) -> None:
        try:
            children = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
        except OSError:
            return
        is_sweep = (folder / SWEEP_FILE).is_file()
        for child in children:
            if child.name in skip:
                continue
            if is_run(child) or (is_sweep and child.name.isdigit()):
                found.append(child)
            elif depth < max_depth:
                walk(child, depth + 1)

    walk(root, 1)
    return found

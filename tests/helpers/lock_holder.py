"""A real other process holding one of our file locks (:func:`sci_lightning.fileio.hold_lock`), for
the tests of what a second claimant is told."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_HOLD = """
import sys
from sci_lightning.fileio import hold_lock
assert hold_lock(sys.argv[1]) is None
print("held", flush=True)
sys.stdin.read()
"""


@contextmanager
def lock_held_elsewhere(target: str | Path) -> Iterator[int]:
    """Run a process that holds the lock of ``target`` until the block ends; yields its pid."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(target)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield holder.pid
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=60)

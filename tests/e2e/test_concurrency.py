"""Several processes on one cache: shared builds are atomic, waited for, and never deleted under a writer.

Real processes (``subprocess.Popen``) are started at the same instant (a go-file barrier)
on one empty cache folder; see sci_lightning.fileio for the lock/rename protocol.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from sci_lightning.data.synthetic import (
    SyntheticSpec,
    generate_synthetic_tiny_imagenet,
    is_generated,
    synthetic_root,
)
from sci_lightning.fileio import build_once, file_lock, lock_path, pid_alive, remove_orphans, unique_sibling

# ~700 JPEGs at 48 px: a second or two per process on a small CPU
SPEC = dict(classes=4, train_per_class=150, val_per_class=20, image_px=48, seed=5)

WORKER = r"""
import hashlib, json, os, sys, time
from pathlib import Path
cache, ready, go = sys.argv[1:4]
from sci_lightning.data.fast import build_uint8_cache
from sci_lightning.data.synthetic import SyntheticSpec, generate_synthetic_tiny_imagenet, synthetic_root
from sci_lightning.data.tiny_imagenet import scan_tiny_imagenet
spec = SyntheticSpec(**json.loads(sys.argv[4]))
Path(ready).touch()
while not os.path.exists(go):
    time.sleep(0.001)
t0 = time.perf_counter()
root = generate_synthetic_tiny_imagenet(synthetic_root(cache, spec), spec, progress=False)
idx = scan_tiny_imagenet(root)
npy = build_uint8_cache([p for p, _ in idx.train], Path(cache) / "fast", key="train", source_root=root, progress=False)
tree = {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}
print(json.dumps({"root": str(root), "npy": str(npy), "npy_sha": hashlib.sha256(npy.read_bytes()).hexdigest(),
                  "tree": tree, "s": time.perf_counter() - t0}))
"""

HOLDER = r"""
import sys, time
from sci_lightning.fileio import file_lock
with file_lock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _python(code: str, *args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *args], text=True, **kw)


def _wait_for(paths: list[Path], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not all(p.exists() for p in paths):
        assert time.monotonic() < deadline, "worker processes did not start"
        time.sleep(0.01)


def _start_holder(target: Path, hold_s: float) -> subprocess.Popen:
    proc = _python(HOLDER, str(target), str(hold_s), stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == "locked"
    return proc


@pytest.mark.slow
def test_two_processes_started_together_share_one_build(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    go = tmp_path / "go"
    ready = [tmp_path / f"ready{i}" for i in range(2)]
    procs = [
        _python(
            WORKER,
            str(cache),
            str(r),
            str(go),
            json.dumps(SPEC),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for r in ready
    ]
    try:
        _wait_for(ready, timeout_s=120)
        go.touch()  # both start generating at the same instant
        outs = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, (_out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    a, b = (json.loads(out.strip().splitlines()[-1]) for out, _ in outs)
    assert a["root"] == b["root"] and a["npy"] == b["npy"]
    assert a["tree"] == b["tree"] and a["npy_sha"] == b["npy_sha"]  # identical results
    spec = SyntheticSpec(**SPEC)
    root = Path(a["root"])
    assert is_generated(root, spec)  # complete
    n_jpeg = sum(k.endswith(".JPEG") for k in a["tree"])
    assert n_jpeg == spec.classes * (spec.train_per_class + spec.val_per_class)
    arr = np.load(a["npy"], mmap_mode="r")
    assert arr.shape == (spec.classes * spec.train_per_class, 48, 48, 3) and arr[-1].any()
    # nothing left behind: no temporaries, no lock files
    leftovers = [p.name for d in (root.parent, cache / "fast") for p in d.iterdir() if p.name.startswith(".")]
    assert leftovers == []
    print("worker wall s:", round(a["s"], 2), round(b["s"], 2))


def test_lock_of_a_dead_pid_is_taken_over_and_its_temporaries_swept(tmp_path):
    spec = SyntheticSpec(classes=2, train_per_class=3, val_per_class=2, image_px=16, seed=1)
    root = synthetic_root(tmp_path, spec)
    root.parent.mkdir(parents=True)
    holder = _start_holder(root, 600)
    holder.send_signal(signal.SIGKILL)  # dies holding the lock: the lock file stays behind
    holder.wait()
    assert lock_path(root).read_text().split() == [str(holder.pid)] and not pid_alive(holder.pid)
    orphan = root.parent / f".{root.name}.tmp-{holder.pid}-0badc0de"  # its half-built tree
    (orphan / "train").mkdir(parents=True)
    t0 = time.monotonic()
    generate_synthetic_tiny_imagenet(root, spec, progress=False, lock_timeout_s=30)
    assert time.monotonic() - t0 < 10  # taken over, not waited out
    assert is_generated(root, spec)
    assert not orphan.exists() and not lock_path(root).exists()


@pytest.mark.slow
def test_a_live_holder_is_waited_for_and_announced(tmp_path):
    target = tmp_path / "artefact"
    holder = _start_holder(target, 1.0)
    notes: list[str] = []
    t0 = time.monotonic()
    try:
        built = build_once(
            target, target.exists, target.touch, timeout_s=30, what="artefact", announce=notes.append
        )
    finally:
        holder.kill()
        holder.wait()
    assert built and target.exists()
    assert time.monotonic() - t0 >= 0.5
    assert notes and f"process {holder.pid} is building it" in notes[0]


def test_lock_wait_times_out_naming_the_holder(tmp_path):
    target = tmp_path / "artefact"
    holder = _start_holder(target, 60)
    try:
        with (
            pytest.raises(TimeoutError, match=rf"process {holder.pid}.*lock file"),
            file_lock(target, timeout_s=0.3, announce=lambda _m: None),
        ):
            pass
    finally:
        holder.kill()
        holder.wait()


def test_temporaries_of_live_processes_are_kept(tmp_path):
    target = tmp_path / "x.npy"
    mine = unique_sibling(target)
    mine.write_bytes(b"being written")
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    theirs = tmp_path / f".x.npy.tmp-{int(dead.stdout)}-12345678"
    theirs.write_bytes(b"abandoned")
    assert remove_orphans(target) == [theirs]
    assert mine.exists() and not theirs.exists()
    assert str(os.getpid()) in mine.name


def test_generation_into_a_fresh_cache_leaves_only_the_tree(tmp_path):
    spec = SyntheticSpec(classes=2, train_per_class=2, val_per_class=1, image_px=16, seed=2)
    root = generate_synthetic_tiny_imagenet(synthetic_root(tmp_path, spec), spec, progress=False)
    assert [p.name for p in root.parent.iterdir()] == [root.name]
    digest = hashlib.sha256((root / "wnids.txt").read_bytes()).hexdigest()
    generate_synthetic_tiny_imagenet(root, spec, progress=False)  # reused
    assert hashlib.sha256((root / "wnids.txt").read_bytes()).hexdigest() == digest

"""Issue 22 through the real CLI: one owner per run folder and per resumed checkpoint, one-line
refusals (exit 2) for settings that cannot work, resume settings compared, storage faults
(full disk, read-only folder) in the user's words, stale temporaries swept."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from tiny_run import SMALL_NET

pytestmark = pytest.mark.slow

_RUN = [
    "experiment=quickstart",
    "data.batch_size=2",
    "data.num_workers=0",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "trainer.num_sanity_val_steps=0",
    "checkpoint.every_n_steps=1",
]
# ownership, refusals and resume settings do not depend on the network: the small one
TINY = [*_RUN, *SMALL_NET]
# DenseNet-121 (32 px) where the size of its checkpoint matters (the full-disk test)
DENSENET = [*_RUN, "model=densenet", "model.image_size=32"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")  # the synthetic dataset, built once for the module


def _env(cache: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WATTTIME_", "ELECTRICITYMAPS_"))}
    env.update(PYTHONUNBUFFERED="1", HYDRA_FULL_ERROR="", SCI_LIGHTNING_CACHE=str(cache), **extra)
    return env


def _cli(cwd: Path, cache: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sci_lightning", *args],
        cwd=cwd,
        env=_env(cache, **env),
        capture_output=True,
        text=True,
        timeout=600,
    )


def _start_paused(cwd: Path, cache: Path, phase: str, *args: str) -> tuple[subprocess.Popen, Path]:
    marker = cwd / f"paused-{phase}-{time.monotonic_ns()}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sci_lightning", *args],
        cwd=cwd,
        env=_env(cache, SCI_LIGHTNING_TEST_PAUSE_AT=phase, SCI_LIGHTNING_TEST_PAUSE_FILE=str(marker)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 600
    while not marker.is_file():
        if proc.poll() is not None:
            pytest.fail(f"ended ({proc.returncode}) before pausing at {phase}:\n{proc.stdout.read()[-3000:]}")
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return proc, marker


def _one_line_refusal(proc: subprocess.CompletedProcess, *named: str, status: int = 2) -> str:
    """The process exited ``status`` with one ``error:`` line naming ``named``, and no traceback."""
    assert proc.returncode == status, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr[-3000:]
    for word in named:
        assert word in errors[0], errors[0]
    return errors[0]


@pytest.mark.parametrize(
    "override, named",
    [
        ("data.seed=-1", "data.seed=-1"),
        ("seed=-1", "seed=-1"),
        ("seed=4294967296", "< 4294967296"),
        ("trainer.limit_val_batches=nan", "trainer.limit_val_batches=nan"),
        ("trainer.accelerator=banana", "trainer.accelerator='banana'"),
        ("model.optimizer=日本", "model.optimizer=日本"),
        ("output_dir=" + "x" * 300, "too long"),
    ],
)
def test_settings_that_cannot_work_are_refused_in_one_line(tmp_path, cache, override, named):
    proc = _cli(tmp_path, cache, *TINY, override, f"hydra.run.dir={tmp_path / 'hydra'}")
    _one_line_refusal(proc, named)
    assert not list(tmp_path.rglob("run_summary.json"))


def test_a_second_run_into_an_owned_folder_is_refused_and_stale_temporaries_are_swept(tmp_path, cache):
    folder = tmp_path / "shared"
    (folder / "checkpoints").mkdir(parents=True)
    stale = folder / "checkpoints" / f".last.ckpt.{uuid.uuid4().hex}.tmp"  # a write killed by SIGKILL
    stale.write_bytes(b"")
    first, _ = _start_paused(tmp_path, cache, "setup", *TINY, f"hydra.run.dir={folder}")
    try:
        assert not stale.exists(), "the stale temporary of a killed checkpoint write was not removed"
        config_before = (folder / ".hydra" / "config.yaml").read_text()
        second = _cli(tmp_path, cache, *TINY, f"hydra.run.dir={folder}", "seed=7")
        line = _one_line_refusal(second, "hydra.run.dir", f"process {first.pid}", "its own folder")
        assert (folder / ".hydra" / "config.yaml").read_text() == config_before, (
            "the second run wrote .hydra/"
        )
        third = _cli(tmp_path, cache, *TINY, f"output_dir={folder}")  # the same folder named as output_dir
        _one_line_refusal(third, "output_dir", f"process {first.pid}")
    finally:
        first.send_signal(signal.SIGTERM)
        out, _ = first.communicate(timeout=120)
    assert first.returncode == 128 + signal.SIGTERM, out[-3000:]
    print(line)


def test_resume_refuses_other_classes_and_a_second_resume_and_records_what_changed(tmp_path, cache):
    first = _cli(
        tmp_path, cache, *TINY, f"output_dir={tmp_path / 'part1'}", f"hydra.run.dir={tmp_path / 'h1'}"
    )
    assert first.returncode == 0, first.stderr[-3000:]
    ckpt = tmp_path / "part1" / "checkpoints" / "last.ckpt"
    resume = [*TINY, f"ckpt_path={ckpt}", "trainer.max_epochs=2"]
    changed = ["data.batch_size=4", "energy.pue=1.5", "carbon=static"]
    # a resume with changed batch size, PUE and provider, paused in training: it holds the checkpoint
    holder, _ = _start_paused(
        tmp_path,
        cache,
        "training",
        *resume,
        *changed,
        f"output_dir={tmp_path / 'part2'}",
        f"hydra.run.dir={tmp_path / 'h2'}",
    )
    try:
        again = _cli(
            tmp_path, cache, *resume, f"output_dir={tmp_path / 'part3'}", f"hydra.run.dir={tmp_path / 'h3'}"
        )
        _one_line_refusal(again, "ckpt_path", f"process {holder.pid}", "is resuming this checkpoint")
    finally:
        holder.send_signal(signal.SIGTERM)
        out, _ = holder.communicate(timeout=300)
    assert holder.returncode == 128 + signal.SIGTERM, out[-3000:]
    report = json.loads((tmp_path / "part2" / "sci_report.json").read_text())
    recorded = report["settings"]["changed_on_resume"]
    for key in ("data.batch_size: 2 -> 4", "energy.pue: 1.0 -> 1.5", "carbon.provider: 'trace' -> 'static'"):
        assert any(key.replace("'", "") in r.replace("'", "") for r in recorded), recorded
    summary = json.loads((tmp_path / "part2" / "run_summary.json").read_text())
    assert summary["changed_on_resume"] == recorded

    classes = _cli(
        tmp_path,
        cache,
        *resume,
        "data.synthetic_classes=5",
        f"output_dir={tmp_path / 'part4'}",
        f"hydra.run.dir={tmp_path / 'h4'}",
    )
    _one_line_refusal(classes, "data.synthetic_classes", "classifies 10 classes")


# --------------------------------------------------------------------------- storage faults


@contextmanager
def _tmpfs(path: Path, size: str, *options: str):
    """A small tmpfs at ``path`` (root only; the test is skipped elsewhere)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    path.mkdir(parents=True, exist_ok=True)
    opts = ",".join([f"size={size}", *options])
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_a_full_disk_at_checkpoint_time_keeps_the_previous_checkpoint_and_says_so_in_one_line(
    tmp_path, cache
):
    # Room for one checkpoint (~84 MB) and the reports, not for the second one written beside it.
    with _tmpfs(tmp_path / "small", "130m") as disk:
        run = disk / "run"
        proc = _cli(tmp_path, cache, *DENSENET, f"output_dir={run}", f"hydra.run.dir={tmp_path / 'hydra'}")
        ckpt = run / "checkpoints" / "last.ckpt"
        line = _one_line_refusal(proc, str(ckpt), "no space is left", "previous checkpoint", status=1)
        saved = torch.load(ckpt, map_location="cpu", weights_only=False)
        assert saved["global_step"] == 1  # the first save, intact
        assert not [p for p in ckpt.parent.iterdir() if p.name.endswith(".tmp")]
    print(line)


def test_a_full_cache_disk_is_one_line_naming_the_cache(tmp_path):
    with _tmpfs(tmp_path / "cache", "256k") as disk:
        proc = _cli(
            tmp_path, disk, *TINY, f"output_dir={tmp_path / 'run'}", f"hydra.run.dir={tmp_path / 'hydra'}"
        )
        line = _one_line_refusal(proc, str(disk), "no space is left", "data.cache_dir", status=1)
    print(line)


def test_a_read_only_run_folder_is_refused_in_one_line(tmp_path, cache):
    if os.geteuid() == 0:
        context = _tmpfs(tmp_path / "ro", "1m", "ro")
    else:
        (tmp_path / "ro").mkdir()
        (tmp_path / "ro").chmod(0o555)
        context = _no_context(tmp_path / "ro")
    with context as folder:
        proc = _cli(
            tmp_path, cache, *TINY, f"output_dir={folder / 'run'}", f"hydra.run.dir={tmp_path / 'hydra'}"
        )
        _one_line_refusal(proc, "output_dir", str(folder / "run"))
        proc = _cli(tmp_path, cache, *TINY, f"hydra.run.dir={folder / 'run'}")
        _one_line_refusal(proc, "hydra.run.dir", str(folder / "run"))


@contextmanager
def _no_context(path: Path):
    yield path

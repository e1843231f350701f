"""Storage faults in the user's words, folder ownership locks and the sweep of dead writes'
temporaries (sci_lightning.fileio), without training."""

from __future__ import annotations

import errno
import subprocess
import sys
import uuid

import pytest

from sci_lightning.errors import SciLightningError
from sci_lightning.fileio import (
    StorageError,
    atomic_write_text,
    hold_lock,
    storage_error,
    sweep_stale_temporaries,
)


@pytest.mark.parametrize(
    "code, words",
    [
        (errno.ENOSPC, "no space is left on the device"),
        (errno.EROFS, "the file system is read-only"),
        (errno.EACCES, "permission denied"),
        (errno.ENAMETOOLONG, "the path is too long for the file system (7 characters)"),
    ],
)
def test_storage_error_is_one_line_with_path_kept_and_fix(code, words):
    err = storage_error(
        OSError(code, "x"),
        "/a/b.ck",
        kept="the previous checkpoint /a/b.ck is kept",
        fix="set output_dir to another folder",
    )
    text = str(err)
    assert "\n" not in text and text.startswith("Cannot write /a/b.ck: ") and words in text
    assert (
        "The previous checkpoint /a/b.ck is kept." in text and "(set output_dir to another folder)." in text
    )
    assert isinstance(err, OSError) and isinstance(err, SciLightningError) and err.errno == code


def test_atomic_write_on_a_read_only_folder_raises_the_one_line_error(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr("tempfile.mkstemp", refuse)
    with pytest.raises(StorageError, match="the file system is read-only"):
        atomic_write_text(tmp_path / "x.json", "{}")


def test_a_held_folder_is_refused_to_another_process_and_not_to_this_one(tmp_path):
    assert hold_lock(tmp_path / "run") is None
    assert hold_lock(tmp_path / "run") is None  # already ours
    code = (
        f"import sys; from sci_lightning.fileio import hold_lock; print(hold_lock({str(tmp_path / 'run')!r}))"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == str(__import__("os").getpid())


def test_only_the_temporaries_of_our_writers_are_swept(tmp_path):
    dead = [f".last.ckpt.{uuid.uuid4().hex}.tmp", ".run_summary.json.k2j_9xq1.tmp"]
    kept = [".notes.tmp", "x.tmp", ".run.lock", "last.ckpt"]
    for name in dead + kept:
        (tmp_path / name).write_text("")
    assert sorted(p.name for p in sweep_stale_temporaries(tmp_path)) == sorted(dead)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept)

"""The one run-folder walk (sci_lightning/run_dirs.py)."""

from __future__ import annotations

from pathlib import Path

from sci_lightning.run_dirs import SWEEP_FILE, walk_run_dirs


def _is_run(p: Path) -> bool:
    return (p / "report.json").is_file()


def _run(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text("{}")
    return folder


def test_root_that_is_a_run_is_the_only_answer(tmp_path):
    _run(tmp_path)
    _run(tmp_path / "inner")
    assert walk_run_dirs(tmp_path, _is_run, max_depth=4) == [tmp_path]


def test_runs_below_in_name_order_without_descending_into_runs(tmp_path):
    b = _run(tmp_path / "b")
    _run(b / "nested")  # inside a run: not visited
    a = _run(tmp_path / "x" / "a")
    (tmp_path / ".hidden").mkdir()
    _run(tmp_path / ".hidden" / "r")
    assert walk_run_dirs(tmp_path, _is_run, max_depth=4) == [b, a]


def test_depth_limit_and_skipped_names(tmp_path):
    deep = _run(tmp_path / "1" / "2" / "3")
    assert walk_run_dirs(tmp_path, _is_run, max_depth=2) == []
    assert walk_run_dirs(tmp_path, _is_run, max_depth=3) == [deep]
    assert walk_run_dirs(tmp_path, _is_run, max_depth=3, skip={"2"}) == []


def test_numbered_folders_of_a_sweep_are_runs_even_when_empty(tmp_path):
    (tmp_path / SWEEP_FILE).write_text("hydra: {}\n")
    (tmp_path / "0").mkdir()
    (tmp_path / "notes").mkdir()
    one = _run(tmp_path / "1")
    assert walk_run_dirs(tmp_path, _is_run, max_depth=1) == [tmp_path / "0", one]


def test_missing_root_gives_no_runs(tmp_path):
    assert walk_run_dirs(tmp_path / "absent", _is_run, max_depth=3) == []

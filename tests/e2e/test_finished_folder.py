"""Two runs in one folder, through the real CLI: a new run into a folder that holds a finished run
(its lock released) is refused before any work, in one line (exit 2), and the finished run's
files stay as they were; a resume of that run (``ckpt_path=last``) still writes there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_run import SMALL_NET, TINY_FIT

pytestmark = pytest.mark.slow

RUN = ["experiment=quickstart", *TINY_FIT, *SMALL_NET]
KEPT = ("run_summary.json", "sci_report.json", "sci_report.md", "impact.yml", "energy.json", "stages.json")


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WATTTIME_", "ELECTRICITYMAPS_"))}
    env.update(PYTHONUNBUFFERED="1", HYDRA_FULL_ERROR="")
    return subprocess.run(
        [sys.executable, "-m", "sci_lightning", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _refused(proc: subprocess.CompletedProcess, *named: str) -> str:
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr[-3000:]
    for word in named:
        assert word in errors[0], errors[0]
    return errors[0]


def _files(folder: Path) -> dict[str, bytes]:
    names = [*KEPT, ".hydra/config.yaml", ".hydra/overrides.yaml"]
    return {name: (folder / name).read_bytes() for name in names}


def test_a_new_run_into_a_finished_folder_is_refused_and_a_resume_still_writes_there(tmp_path):
    folder = tmp_path / "run"
    first = _cli(tmp_path, *RUN, f"hydra.run.dir={folder}")
    assert first.returncode == 0, first.stderr[-3000:]
    before = _files(folder)

    # the same folder as Hydra's run folder: refused before Hydra writes .hydra/ there
    again = _cli(tmp_path, *RUN, "seed=7", f"hydra.run.dir={folder}")
    line = _refused(again, f"hydra.run.dir='{folder}'", "finished run", "status completed", "ckpt_path=last")
    assert "hydra.run.dir=<another folder>" in line
    # the same folder as output_dir (Hydra's own folder elsewhere): refused, that folder removed
    other = _cli(tmp_path, *RUN, "seed=7", f"output_dir={folder}", f"hydra.run.dir={tmp_path / 'h2'}")
    _refused(other, f"output_dir='{folder}'", "finished run", "output_dir=<another folder>")
    assert not (tmp_path / "h2").exists()
    assert _files(folder) == before, "a refused run changed the finished run's files"

    resumed = _cli(tmp_path, *RUN, "trainer.max_epochs=2", "ckpt_path=last", f"hydra.run.dir={folder}")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    report = json.loads((folder / "sci_report.json").read_text())
    first_report = json.loads(before["sci_report.json"])
    assert [p["status"] for p in report["parts"]] == ["completed", "completed"]
    assert report["parts"][0]["energy_j"] == pytest.approx(first_report["parts"][0]["energy_j"])
    assert report["training"]["epochs"] == 2

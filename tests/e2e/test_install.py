"""The CLI from a non-editable install (a built wheel in a fresh venv), run from another
directory: the configs must travel inside the package. Offline: the wheel is built with
--no-build-isolation and the fresh venv borrows the test environment's dependencies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _run(cmd: list[str], cwd: Path, **kw) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, **kw)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("install")
    wheels = tmp / "wheels"
    out = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(wheels),
            str(REPO),
        ],
        tmp,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    (wheel,) = wheels.glob("sci_lightning-*.whl")
    venv = tmp / "venv"
    base_python = getattr(sys, "_base_executable", sys.executable)
    out = _run([base_python, "-m", "venv", str(venv)], tmp)
    assert out.returncode == 0, out.stderr
    py = venv / "bin" / "python"
    target = Path(
        _run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp).stdout.strip()
    )
    # dependencies from the test environment (read-only), the package itself from the wheel
    deps = sysconfig.get_paths()["purelib"]
    (target / "zz_test_deps.pth").write_text(deps + "\n")
    out = _run([str(py), "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)], tmp)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    return py


def test_installed_package_is_not_the_source_tree(installed, tmp_path):
    out = _run(
        [
            str(installed),
            "-c",
            "import sci_lightning, sci_lightning.conf as c; print(sci_lightning.__file__); print(list(c.__path__)[0])",
        ],
        tmp_path,
    )
    assert out.returncode == 0, out.stderr
    pkg, conf = out.stdout.split()
    assert str(REPO) not in pkg and str(REPO) not in conf
    assert (Path(conf) / "config.yaml").is_file() and (
        Path(conf) / "experiment" / "quickstart.yaml"
    ).is_file()


def test_installed_cli_shows_groups_and_composes(installed, tmp_path):
    out = _run([str(installed), "-m", "sci_lightning", "--help"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert "model: densenet, densenet169, inception" in out.stdout
    out = _run([str(installed), "-m", "sci_lightning", "experiment=gsf_case_study", "--cfg", "job"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert "limit_train_batches: 150" in out.stdout


def test_installed_cli_trains_and_accepts_a_user_config_dir(installed, tmp_path):
    user_conf = tmp_path / "my_conf" / "model"
    user_conf.mkdir(parents=True)
    (user_conf / "resnet.yaml").write_text("name: resnet18\ndisplay_name: resnet\nimage_size: 64\n")
    run_dir = tmp_path / "run"
    out = _run(
        [
            str(installed),
            "-m",
            "sci_lightning",
            "--config-dir",
            str(tmp_path / "my_conf"),
            "model=resnet",
            "experiment=quickstart",
            "trainer.max_epochs=1",
            "trainer.limit_train_batches=1",
            "trainer.limit_val_batches=1",
            "trainer.num_sanity_val_steps=0",
            "data.num_workers=0",
            "data.batch_size=4",  # the quickstart's 32 images a batch are not what is tested here
            "inference.limit_batches=1",
            f"hydra.run.dir={run_dir}",
        ],
        tmp_path,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads((run_dir / "run_summary.json").read_text())["model"] == "resnet18"

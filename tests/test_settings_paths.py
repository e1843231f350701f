"""The same callback settings given the ways users give them -- a Python dict, a dataclass,
an OmegaConf node, a LightningCLI YAML file (a real ``LightningCLI`` process) and Hydra
overrides of ``python -m sci_lightning`` -- give the same report (region, intensity,
functional unit), and a misspelt key or an unknown provider is refused in each path with
the same message, before training."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import lightning as L
import pytest
from fake_nvml import TinyModule
from omegaconf import OmegaConf
from tiny_run import TINY_FIT

from sci_lightning import EnergyCarbonCallback
from sci_lightning.carbon.static import lookup_static
from sci_lightning.errors import ConfigError
from sci_lightning.settings import CarbonConfig, SciConfig, coerce

HELPERS = Path(__file__).resolve().parent / "helpers"
FRANCE_G_PER_KWH = lookup_static("FR").g_per_kwh  # the static table's France row (Ember)
CARBON = {"provider": "static", "region": "FR"}
SCI = {"functional_unit": "epoch"}
MISSPELT_SCI = {"functional_unt": "epoch"}
UNKNOWN_PROVIDER = {"provider": "no_such"}


def _expected_message(cls, value, path) -> str:
    with pytest.raises(ConfigError) as err:
        coerce(cls, value, path)
    return str(err.value)


def _what_the_report_says(report: dict) -> tuple[str, float, str]:
    return report["intensity"]["region"], report["intensity"]["mean_g_per_kwh"], report["functional_unit"]


def _fit_with(tmp_path: Path, carbon, sci) -> dict:
    cb = EnergyCarbonCallback(output_dir=str(tmp_path), carbon=carbon, sci=sci)
    trainer = L.Trainer(
        max_epochs=1,
        callbacks=[cb],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(TinyModule())
    return json.loads((tmp_path / "sci_report.json").read_text())


@pytest.mark.parametrize(
    "carbon, sci",
    [
        (CARBON, SCI),
        (CarbonConfig(**CARBON), SciConfig(**SCI)),
        (OmegaConf.create(CARBON), OmegaConf.create(SCI)),
    ],
    ids=["dict", "dataclass", "omegaconf"],
)
def test_python_paths_report_france(tmp_path, carbon, sci):
    region, intensity, unit = _what_the_report_says(_fit_with(tmp_path, carbon, sci))
    assert region == "FR" and intensity == pytest.approx(FRANCE_G_PER_KWH) and unit == "epoch"


@pytest.mark.parametrize(
    "kwargs, cls, value, path",
    [
        ({"sci": MISSPELT_SCI}, SciConfig, MISSPELT_SCI, "sci"),
        ({"carbon": UNKNOWN_PROVIDER}, CarbonConfig, UNKNOWN_PROVIDER, "carbon"),
    ],
)
def test_python_paths_refuse_at_construction(kwargs, cls, value, path):
    with pytest.raises(ConfigError) as err:
        EnergyCarbonCallback(**kwargs)
    assert str(err.value) == _expected_message(cls, value, path)


def _cli_yaml(tmp_path: Path, carbon: dict, sci: dict) -> Path:
    cfg = {
        "trainer": {
            "max_epochs": 1,
            "accelerator": "cpu",
            "logger": False,
            "enable_checkpointing": False,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "callbacks": [
                {
                    "class_path": "sci_lightning.EnergyCarbonCallback",
                    "init_args": {"output_dir": str(tmp_path / "run"), "carbon": carbon, "sci": sci},
                }
            ],
        },
        "model": {"class_path": "fake_nvml.TinyModule"},
    }
    path = tmp_path / "cli.yaml"
    path.write_text(OmegaConf.to_yaml(OmegaConf.create(cfg)))
    return path


_CLI_SCRIPT = textwrap.dedent(
    """
    import sys
    from lightning.pytorch import LightningModule
    from lightning.pytorch.cli import LightningCLI

    LightningCLI(LightningModule, subclass_mode_model=True, args=sys.argv[1:], save_config_callback=None)
    """
)


def _run_cli(tmp_path: Path, config: Path) -> subprocess.CompletedProcess:
    script = tmp_path / "cli.py"
    script.write_text(_CLI_SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HELPERS), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, str(script), "fit", "--config", str(config)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_lightning_cli_yaml_reports_france(tmp_path):
    proc = _run_cli(tmp_path, _cli_yaml(tmp_path, CARBON, SCI))
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "run" / "sci_report.json").read_text())
    region, intensity, unit = _what_the_report_says(report)
    assert region == "FR" and intensity == pytest.approx(FRANCE_G_PER_KWH) and unit == "epoch"


@pytest.mark.slow
@pytest.mark.parametrize(
    "carbon, sci, cls, value, path",
    [
        (CARBON, MISSPELT_SCI, SciConfig, MISSPELT_SCI, "sci"),
        (UNKNOWN_PROVIDER, SCI, CarbonConfig, UNKNOWN_PROVIDER, "carbon"),
    ],
)
def test_lightning_cli_yaml_refuses_with_the_same_message(tmp_path, carbon, sci, cls, value, path):
    proc = _run_cli(tmp_path, _cli_yaml(tmp_path, carbon, sci))
    assert proc.returncode != 0
    assert _expected_message(cls, value, path) in proc.stderr
    assert not (tmp_path / "run" / "energy.json").exists()  # refused before training


def _run_hydra(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess:
    args = ["experiment=quickstart", *TINY_FIT, f"output_dir={tmp_path / 'run'}", *overrides]
    return subprocess.run(
        [sys.executable, "-m", "sci_lightning", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HYDRA_FULL_ERROR": ""},
    )


@pytest.mark.slow
def test_hydra_overrides_report_france(tmp_path):
    proc = _run_hydra(
        tmp_path, "carbon=static", "carbon.region=FR", "sci.functional_unit=epoch", "schedule=none"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "run" / "sci_report.json").read_text())
    region, intensity, unit = _what_the_report_says(report)
    assert region == "FR" and intensity == pytest.approx(FRANCE_G_PER_KWH) and unit == "epoch"


@pytest.mark.slow
@pytest.mark.parametrize(
    "override, cls, value, path",
    [
        ("sci.functional_unt=epoch", SciConfig, MISSPELT_SCI, "sci"),
        ("carbon.provider=no_such", CarbonConfig, UNKNOWN_PROVIDER, "carbon"),
    ],
)
def test_hydra_overrides_refuse_with_the_same_message(tmp_path, override, cls, value, path):
    proc = _run_hydra(tmp_path, override)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == f"error: {_expected_message(cls, value, path)}"
    assert "Traceback" not in proc.stderr

"""End to end: a two-model sweep through the real training CLI leaves the comparison.

Draft for the lead: it passes once train.py, __main__.py, the quickstart experiment and
the ``hydra.callbacks.comparison`` entry are integrated (skipped until then).
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:
        return False


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (_importable("sci_lightning.train") and _importable("sci_lightning.__main__")),
        reason="training CLI not integrated yet (sci_lightning.train / __main__ missing)",
    ),
]


def _quickstart_composes() -> str | None:
    """None when ``model=densenet experiment=quickstart`` composes, else why not."""
    try:
        from hydra import compose, initialize_config_module

        from sci_lightning.config import register_configs

        register_configs()
        with initialize_config_module("sci_lightning.conf", version_base="1.3"):
            cfg = compose("config", overrides=["model=densenet", "experiment=quickstart"], return_hydra_config=True)
        if "comparison" not in (cfg.hydra.callbacks or {}):
            return "hydra.callbacks.comparison is not registered in conf/config.yaml"
        return None
    except Exception as e:  # integration not finished
        return f"{type(e).__name__}: {e}"


def test_two_model_sweep_writes_comparison_and_named_tensorboard_runs(tmp_path: Path):
    why_not = _quickstart_composes()
    if why_not:
        pytest.skip(f"quickstart sweep not integrated yet: {why_not}")
    sweep = tmp_path / "sweep"
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), MPLBACKEND="Agg", CUDA_VISIBLE_DEVICES="")
    p = subprocess.run(
        [sys.executable, "-m", "sci_lightning", "-m", "model=inception,densenet", "experiment=quickstart",
         f"hydra.sweep.dir={sweep}", "compare.baseline=densenet"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
    )
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "Model comparison" in p.stdout

    for name in ("comparison.md", "comparison.json", "comparison.csv", "comparison.png"):
        assert (sweep / name).is_file(), name
    with open(sweep / "comparison.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["status"] for r in rows] == ["ok", "ok"]
    assert {r["model"] for r in rows} == {"inception_v3", "densenet121"}
    data = json.loads((sweep / "comparison.json").read_text())
    assert data["baseline"]["model"] == "densenet121"
    inception = next(j for j in data["jobs"] if j["model"] == "inception_v3")
    assert inception["sentence"].startswith("InceptionV3 had ") and inception["sentence"].endswith(" than DenseNet121")

    from sci_lightning.tb_layout import list_tensorboard_runs, read_custom_scalars_layout

    runs = list_tensorboard_runs(sweep)
    assert "model=inception" in runs and "model=densenet" in runs, runs
    assert "Energy" in read_custom_scalars_layout(sweep / "model=inception")

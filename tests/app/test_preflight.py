"""app.preflight: a value that cannot work is refused before torch is imported, as fast as a typo."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sci_lightning.app.preflight import MIN_IMAGE_PX, image_size_error, preflight
from sci_lightning.errors import ConfigError


def test_too_small_image_for_a_shipped_model_is_refused(compose):
    with pytest.raises(ConfigError, match=r"model.image_size=64: inception_v3 needs at least 75 px"):
        preflight(compose(["model=inception", "model.image_size=64"]))
    assert preflight(compose(["model=inception", "model.image_size=75"])).model.image_size == 75
    preflight(compose(["model=densenet", "model.image_size=32"]))  # DenseNet-121 takes 29 px and more


def test_values_out_of_range_are_refused_too(compose):
    with pytest.raises(ConfigError, match="energy.pue"):
        preflight(compose(["energy.pue=0.5"]))


@pytest.mark.slow
def test_the_table_holds_what_the_networks_accept_and_the_words_match_the_probe(compose):
    """Each shipped model's entry is the smallest size its network runs at (probed on the meta
    device), and the refusal reads as the probe's own."""
    from sci_lightning.lightning.classifier import check_image_size, smallest_image_size

    shipped = {compose([f"model={m}"]).model.name for m in ("inception", "densenet", "densenet169")}
    assert set(MIN_IMAGE_PX) == shipped
    for name, minimum in MIN_IMAGE_PX.items():
        assert smallest_image_size(name) == minimum, name
    with pytest.raises(ConfigError) as probed:
        check_image_size("inception_v3", 64)
    assert str(probed.value) == str(image_size_error("inception_v3", 64, 75))


@pytest.mark.slow
def test_cli_refuses_before_importing_torch_and_leaves_no_folder(tmp_path: Path):
    env = dict(os.environ, HYDRA_FULL_ERROR="", SCI_LIGHTNING_CACHE=str(tmp_path / "cache"))
    p = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "sci_lightning", "model=inception", "model.image_size=64"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 2, p.stderr[-3000:]
    errors = [line for line in p.stderr.splitlines() if line.startswith("error:")]
    assert errors == [str(image_size_error("inception_v3", 64, 75)).join(("error: ", ""))], errors
    imported = {
        line.rsplit("|", 1)[-1].strip() for line in p.stderr.splitlines() if line.startswith("import time:")
    }
    assert "torch" not in imported and "lightning" not in imported and "timm" not in imported
    assert not (tmp_path / "outputs").exists(), sorted(str(q) for q in (tmp_path / "outputs").rglob("*"))

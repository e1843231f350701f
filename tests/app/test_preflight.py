"""app.preflight: a value that cannot work is refused before torch is imported, as fast as a typo."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sci_lightning.app.preflight import (
    MIN_IMAGE_PX,
    claim_run_folder,
    image_size_error,
    made_run_folders,
    needs_intensity,
    preflight,
    run_folder,
)
from sci_lightning.errors import ConfigError
from sci_lightning.fileio import holds_lock


def test_too_small_image_for_a_shipped_model_is_refused(compose):
    with pytest.raises(ConfigError, match=r"model.image_size=64: inception_v3 needs at least 75 px"):
        preflight(compose(["model=inception", "model.image_size=64"]))
    assert preflight(compose(["model=inception", "model.image_size=75"])).model.image_size == 75
    preflight(compose(["model=densenet", "model.image_size=32"]))  # DenseNet-121 takes 29 px and more


def test_values_out_of_range_are_refused_too(compose):
    with pytest.raises(ConfigError, match="energy.pue"):
        preflight(compose(["energy.pue=0.5"]))


def test_missing_credentials_are_refused_only_when_intensity_is_read(compose, monkeypatch):
    for name in ("WATTTIME_USERNAME", "WATTTIME_PASSWORD", "ELECTRICITYMAPS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(
        ConfigError, match=r"carbon.provider='watttime': needs credentials .* WATTTIME_USERNAME"
    ):
        preflight(compose(["carbon=watttime"]))
    with pytest.raises(ConfigError, match="ELECTRICITYMAPS_TOKEN"):
        preflight(compose(["carbon=electricity_maps"]))
    # no SCI report and no schedule: the provider is never built, so its credentials are not needed
    quiet = preflight(compose(["carbon=watttime", "energy.enabled=false"]))
    assert not needs_intensity(quiet)
    monkeypatch.setenv("ELECTRICITYMAPS_TOKEN", "t0ken")
    assert needs_intensity(preflight(compose(["carbon=electricity_maps"])))


def test_pause_exit_needs_a_step_bound_and_a_checkpoint(compose):
    with pytest.raises(ConfigError, match=r"trainer.max_steps=-1"):
        preflight(compose(["carbon=static", "schedule=interrupt", "schedule.pause=exit"]))
    with pytest.raises(ConfigError, match=r"save_checkpoint=False"):
        preflight(
            compose(
                ["schedule=interrupt", "schedule.pause=exit", "trainer.max_steps=4", "save_checkpoint=false"]
            )
        )
    bounded = preflight(compose(["schedule=interrupt", "schedule.pause=exit", "trainer.max_steps=4"]))
    assert bounded.trainer.max_steps == 4


def test_the_run_folder_is_claimed_once_and_remembered_when_made(compose, tmp_path):
    settings = preflight(compose([f"output_dir={tmp_path / 'run'}"]))
    assert run_folder(settings) == run_folder(settings) == tmp_path / "run"  # a second claim is a no-op
    assert holds_lock(tmp_path / "run" / "run") and made_run_folders()[-1] == tmp_path / "run"
    (tmp_path / "kept").mkdir()
    claim_run_folder(tmp_path / "kept")  # it was there before: not this process's to remove
    assert tmp_path / "kept" not in made_run_folders()
    with pytest.raises(ConfigError, match=r"Invalid setting output_dir='.*x{300}': .*too long"):
        claim_run_folder(tmp_path / ("x" * 300))


@pytest.mark.slow
def test_the_table_holds_what_the_networks_accept_and_the_words_match_the_probe(compose, monkeypatch):
    """Each shipped model's entry is the smallest size its network runs at: it runs at the entry and
    not one pixel below (probed on the meta device; two probes instead of a search per model, the
    search itself is tested in tests/lightning/test_classifier.py), and the refusal reads as the
    probe's own."""
    from sci_lightning.lightning import classifier

    shipped = {compose([f"model={m}"]).model.name for m in ("inception", "densenet", "densenet169")}
    assert set(MIN_IMAGE_PX) == shipped
    for name, minimum in MIN_IMAGE_PX.items():
        assert classifier._probe(name, minimum) and not classifier._probe(name, minimum - 1), name
    monkeypatch.setattr(classifier, "smallest_image_size", lambda name: MIN_IMAGE_PX[name])  # probed above
    with pytest.raises(ConfigError) as probed:
        classifier.check_image_size("inception_v3", 64)
    assert str(probed.value) == str(image_size_error("inception_v3", 64, 75))


def _refused_without_torch(tmp_path: Path, *overrides: str) -> str:
    """Run the CLI under ``-X importtime``: exit 2, one ``error:`` line (returned), torch never imported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WATTTIME_", "ELECTRICITYMAPS_"))}
    env.update(HYDRA_FULL_ERROR="", SCI_LIGHTNING_CACHE=str(tmp_path / "cache"))
    p = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "sci_lightning", *overrides],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 2, p.stderr[-3000:]
    errors = [line for line in p.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, errors
    imported = {
        line.rsplit("|", 1)[-1].strip() for line in p.stderr.splitlines() if line.startswith("import time:")
    }
    assert "torch" not in imported and "lightning" not in imported and "timm" not in imported
    assert not (tmp_path / "cache").exists(), "data was built before the refusal"
    return errors[0]


@pytest.mark.slow
def test_cli_refuses_before_importing_torch_and_leaves_no_folder(tmp_path: Path):
    error = _refused_without_torch(tmp_path, "model=inception", "model.image_size=64")
    assert error == str(image_size_error("inception_v3", 64, 75)).join(("error: ", ""))
    assert not (tmp_path / "outputs").exists(), sorted(str(q) for q in (tmp_path / "outputs").rglob("*"))


@pytest.mark.slow
def test_missing_credentials_are_refused_before_torch_in_a_folder_given_by_name(tmp_path: Path):
    """The credential check and the claim of a ``hydra.run.dir`` / ``output_dir`` given on the
    command line both happen before torch is imported; the refused run's folders are removed."""
    error = _refused_without_torch(
        tmp_path, "carbon=electricity_maps", f"hydra.run.dir={tmp_path / 'h'}", f"output_dir={tmp_path / 'o'}"
    )
    assert error.startswith("error: Invalid setting carbon.provider='electricity_maps'") and (
        "ELECTRICITYMAPS_TOKEN" in error
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [], sorted(str(p) for p in tmp_path.rglob("*"))

"""Composition of every config group and experiment; bad settings refused with the field named."""

from __future__ import annotations

import importlib.resources as resources

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from sci_lightning.errors import ConfigError
from sci_lightning.settings import Config, coerce


def _group_options(group: str) -> list[str]:
    folder = resources.files("sci_lightning.conf") / group
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def test_every_group_has_options():
    for group in ("model", "data", "trainer", "experiment", "energy", "carbon", "sci", "schedule"):
        assert _group_options(group), f"conf/{group}/ has no options"


@pytest.mark.parametrize(
    "group", ["model", "data", "trainer", "experiment", "energy", "carbon", "sci", "schedule"]
)
def test_each_option_composes_and_validates(compose, group):
    for option in _group_options(group):
        cfg = compose([f"{group}={option}"])
        OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves
        coerce(Config, cfg)


def test_model_choices_map_to_timm_names(compose):
    assert compose(["model=inception"]).model.name == "inception_v3"
    assert compose(["model=densenet"]).model.name == "densenet121"
    assert compose(["model=densenet169"]).model.name == "densenet169"


def test_quickstart_is_small_and_offline(compose):
    cfg = compose(["experiment=quickstart"])
    assert cfg.data.name == "synthetic"
    assert cfg.trainer.accelerator == "cpu"
    assert cfg.trainer.max_epochs == 4 and cfg.trainer.limit_train_batches == 8  # 32 steps
    assert cfg.model.image_size >= 75  # inception_v3's minimum


def test_case_study_settings(compose):
    cfg = compose(["experiment=gsf_case_study", "model=densenet"])
    assert cfg.model.image_size == 224
    assert cfg.data.batch_size == 64
    assert cfg.trainer.limit_train_batches == 150
    assert cfg.trainer.max_epochs == 10
    assert cfg.data.name == "tiny_imagenet"
    assert cfg.model.freeze_backbone is None  # frozen exactly when weights are given
    assert cfg.sci.price_per_hour_usd == pytest.approx(1.204)


def test_misspelt_key_is_rejected_naming_it(compose):
    with pytest.raises(ConfigCompositionException) as err:
        compose(["model.imagesize=64"])
    assert "imagesize" in str(err.value) or "imagesize" in str(err.value.__cause__)


def test_wrong_type_is_rejected_naming_it(compose):
    with pytest.raises(ConfigCompositionException) as err:
        compose(["trainer.max_epochs=ten"])
    text = str(err.value) + str(err.value.__cause__)
    assert "max_epochs" in text


@pytest.mark.parametrize(
    "override, setting",
    [
        ("model.optimizer=adagrad", "model.optimizer"),
        ("model.lr=-1", "model.lr"),
        ("trainer.precision=8-bit", "trainer.precision"),
        ("data.batch_size=0", "data.batch_size"),
        ("model.cache_features=true", "model.cache_features"),
    ],
)
def test_semantic_errors_name_the_setting(compose, override, setting):
    cfg = compose([override])
    with pytest.raises(ConfigError, match=setting.replace(".", r"\.")):
        coerce(Config, cfg)


def test_secrets_are_not_config_fields(compose):
    cfg = compose(["carbon=watttime"])
    text = OmegaConf.to_yaml(cfg).lower()
    assert "password" not in text and "token" not in text

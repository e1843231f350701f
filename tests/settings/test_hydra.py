"""Hydra glue (settings/hydra.py): Hydra's refusals in the settings' own words."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf
from omegaconf.errors import ConfigKeyError, ValidationError

from sci_lightning.settings import Config, SciConfig
from sci_lightning.settings.hydra import explain_hydra_error, register_hydra_schemas


def _refusal(overrides: dict) -> BaseException:
    node = OmegaConf.structured(Config)
    with pytest.raises((ConfigKeyError, ValidationError)) as info:
        OmegaConf.merge(node, overrides)
    return info.value


def test_unknown_key_reads_like_coerce():
    err = explain_hydra_error(_refusal({"sci": {"functional_unitt": "job"}}))
    assert (
        err is not None
        and "sci.functional_unitt" in str(err)
        and "Did you mean sci.functional_unit?" in str(err)
    )


def test_wrong_type_names_the_expected_type():
    err = explain_hydra_error(_refusal({"trainer": {"max_epochs": "many"}}))
    assert err is not None and "trainer.max_epochs" in str(err) and "expected an integer" in str(err)


def test_other_errors_are_left_alone():
    assert explain_hydra_error(RuntimeError("boom")) is None


def test_register_makes_the_schemas_and_pid_resolver_available():
    from hydra.core.config_store import ConfigStore

    register_hydra_schemas()
    register_hydra_schemas()  # twice is harmless
    repo = ConfigStore.instance().repo
    assert "base_config.yaml" in repo and "plan_schema.yaml" in repo
    assert OmegaConf.create({"p": "${pid:}"}).p > 0
    assert SciConfig().functional_unit == "job"

"""The one coercion path: a dataclass, a dict and an OmegaConf node give the same checked
settings, and every path refuses a bad setting with the same message."""

from __future__ import annotations

import dataclasses

import pytest
from omegaconf import OmegaConf

from sci_lightning.errors import ConfigError
from sci_lightning.settings import (
    CarbonConfig,
    Config,
    EnergyConfig,
    PlanConfig,
    ScheduleConfig,
    SciConfig,
    TrainerConfig,
    coerce,
    explain_hydra_error,
)


def _message(fn) -> str:
    with pytest.raises(ConfigError) as err:
        fn()
    return str(err.value)


def test_dict_dataclass_and_omegaconf_give_the_same_settings():
    as_dict = {"provider": "static", "region": "FR", "fallback": ["static"], "timeout_s": 5}
    from_dict = coerce(CarbonConfig, as_dict, "carbon")
    from_dc = coerce(CarbonConfig, CarbonConfig(provider="static", region="FR", timeout_s=5.0), "carbon")
    from_node = coerce(CarbonConfig, OmegaConf.create(as_dict), "carbon")
    assert from_dict == from_dc == from_node
    assert from_dict.region == "FR" and isinstance(from_dict.timeout_s, float)


def test_none_gives_the_defaults():
    assert coerce(SciConfig, None, "sci") == SciConfig()


@pytest.mark.parametrize(
    "cls, path, value, expected",
    [
        (
            CarbonConfig,
            "carbon",
            {"regoin": "FR"},
            "Invalid setting carbon.regoin: no such setting. Did you mean carbon.region?",
        ),
        (SciConfig, "sci", {"functional_unt": "epoch"}, "Did you mean sci.functional_unit?"),
        (
            CarbonConfig,
            "carbon",
            {"provider": "no_such"},
            "Invalid setting carbon.provider='no_such': not one of the allowed values",
        ),
        (SciConfig, "sci", {"functional_unit": "per_year"}, "Choose one of: job, epoch, 1000_images"),
        (EnergyConfig, "energy", {"pue": float("inf")}, "energy.pue=inf: must be a finite number"),
        (EnergyConfig, "energy", {"pue": 0.9}, "energy.pue=0.9: must be >= 1"),
        (CarbonConfig, "carbon", {"retries": -1}, "carbon.retries=-1: must be >= 0"),
        (CarbonConfig, "carbon", {"timeout_s": -1}, "carbon.timeout_s=-1.0: must be > 0"),
        (SciConfig, "sci", {"price_per_hour_usd": -1}, "sci.price_per_hour_usd=-1.0: must be >= 0"),
        (CarbonConfig, "carbon", {"fallback": ["static", "nope"]}, "carbon.fallback='nope'"),
        (TrainerConfig, "trainer", {"max_epochs": "ten"}, "trainer.max_epochs='ten': expected an integer"),
        (TrainerConfig, "trainer", {"devices": "abc"}, "trainer.devices='abc': not a device count or list"),
        (TrainerConfig, "trainer", {"log_every_n_steps": True}, "expected an integer"),
        (
            SciConfig,
            "sci",
            {"embodied_total_kg": 100.0},
            "sci.lifespan_years=None: embodied emissions need both TE and EL",
        ),
        (
            SciConfig,
            "sci",
            {"resources_reserved": 2, "resources_total": 1},
            "sci.resources_reserved=2.0: exceeds",
        ),
        (ScheduleConfig, "schedule", {"duration": "90"}, "has no unit"),
        (CarbonConfig, "carbon", {"latitude": 10.0}, "a location needs both coordinates"),
    ],
)
def test_bad_settings_are_refused_naming_the_setting_and_the_fix(cls, path, value, expected):
    assert expected in _message(lambda: coerce(cls, value, path))


def test_message_is_the_same_from_a_dict_and_an_omegaconf_node():
    bad = {"provider": "static", "regoin": "FR"}
    assert _message(lambda: coerce(CarbonConfig, bad, "carbon")) == _message(
        lambda: coerce(CarbonConfig, OmegaConf.create(bad), "carbon")
    )


def test_nested_config_names_the_full_path():
    assert "Invalid setting energy.gpu='nvml'" in _message(
        lambda: coerce(Config, {"energy": {"gpu": "nvml"}})
    )
    assert "Invalid setting data.augment=True" in _message(
        lambda: coerce(Config, {"model": {"cache_features": True, "freeze_backbone": True}})
    )


def test_hydra_refusals_read_like_coerce_refusals(compose):
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException) as err:
        compose(["carbon.regoin=FR"])
    assert str(explain_hydra_error(err.value)) == _message(
        lambda: coerce(CarbonConfig, {"regoin": "FR"}, "carbon")
    )
    with pytest.raises(ConfigCompositionException) as err:
        compose(["trainer.max_epochs=ten"])
    assert str(explain_hydra_error(err.value)) == _message(
        lambda: coerce(TrainerConfig, {"max_epochs": "ten"}, "trainer")
    )


def test_every_hydra_default_passes_the_checks(compose):
    settings = coerce(Config, compose([]))
    assert isinstance(settings.carbon, CarbonConfig) and settings.trainer.max_epochs >= 1


def test_plan_settings_take_the_same_carbon_group():
    plan = coerce(PlanConfig, {"carbon": {"provider": "uk_grid", "region": "GB"}, "duration": "90m"})
    assert plan.carbon.provider == "uk_grid"
    assert _message(lambda: coerce(PlanConfig, {"duration": "soon"})).startswith(
        "Invalid setting duration='soon': is not a duration I can read."
    )


def test_trainer_settings_pass_through_to_lightning_by_name():
    import inspect

    import lightning as L

    kwargs = TrainerConfig().trainer_kwargs()
    accepted = set(inspect.signature(L.Trainer.__init__).parameters)
    assert set(kwargs) <= accepted, set(kwargs) - accepted
    assert not set(TrainerConfig.APP_FIELDS) & set(kwargs)


def test_every_field_of_every_group_has_a_default():
    for cls in (Config, PlanConfig):
        cfg = cls()
        for f in dataclasses.fields(cfg):
            assert f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING


@pytest.mark.parametrize("bad", [-1, "all", True])
def test_inference_limit_batches_must_be_a_number_of_batches(bad):
    with pytest.raises(ConfigError, match="inference.limit_batches"):
        coerce(Config, {"inference": {"limit_batches": bad}})
    assert coerce(Config, {"inference": {"limit_batches": 2}}).inference.limit_batches == 2
    assert coerce(Config, {}).inference.enabled and coerce(Config, {}).inference.stage == "predict"
    with pytest.raises(ConfigError, match="inference.stage"):
        coerce(Config, {"inference": {"stage": "validate"}})

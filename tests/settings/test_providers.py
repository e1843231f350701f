"""The provider registry (settings/providers.py) is the one home of the provider names."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sci_lightning.carbon import provider_class
from sci_lightning.settings import PROVIDERS, CarbonConfig, coerce
from sci_lightning.settings.providers import PROVIDER_NAMES

CONF = Path(__file__).resolve().parents[2] / "conf" / "carbon"


def test_names_are_the_registry_keys_in_order():
    assert tuple(PROVIDERS) == PROVIDER_NAMES


@pytest.mark.parametrize("name", PROVIDER_NAMES)
def test_each_class_states_its_registry_name(name):
    assert provider_class(name).name == name


@pytest.mark.parametrize("name", PROVIDER_NAMES)
def test_each_provider_has_its_hydra_group_option(name):
    assert yaml.safe_load((CONF / f"{name}.yaml").read_text())["provider"] == name


def test_settings_accept_exactly_the_registry():
    for name in PROVIDER_NAMES:
        assert coerce(CarbonConfig, {"provider": name.upper(), "fallback": [name]}).provider == name
    with pytest.raises(Exception, match="Choose one of: " + ", ".join(PROVIDER_NAMES)):
        coerce(CarbonConfig, {"provider": "nope"}, "carbon")


def test_the_texts_that_list_providers_name_every_one():
    import sci_lightning.carbon as carbon

    root = CONF.parents[1]
    help_line = next(
        line
        for line in (root / "conf/hydra/help/plan.yaml").read_text().splitlines()
        if "carbon=static" in line
    )
    listed = {name.strip().removeprefix("carbon=") for name in help_line.split("|")}
    assert listed == set(PROVIDER_NAMES)
    table = carbon.__doc__ or ""
    assert all(f"\n{name} " in table for name in PROVIDER_NAMES)

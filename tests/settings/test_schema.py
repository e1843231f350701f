"""The settings groups (settings/schema.py): fields declare what they allow, checks tie fields."""

from __future__ import annotations

import dataclasses

import pytest

from sci_lightning.errors import ConfigError
from sci_lightning.settings import FUNCTIONAL_UNITS, Config, SciConfig, TrainerConfig, coerce
from sci_lightning.settings.schema import setting


def test_setting_keeps_its_bounds_as_field_metadata():
    f = setting(1.0, gt=0.0, choices=None)
    assert f.default == 1.0 and dict(f.metadata) == {"gt": 0.0}
    listed = setting(factory=list, choices=("a",))
    assert listed.default_factory is list and dict(listed.metadata) == {"choices": ("a",)}


def test_functional_unit_choices_are_the_one_list():
    meta = {f.name: f.metadata for f in dataclasses.fields(SciConfig)}
    assert meta["functional_unit"]["choices"] == tuple(FUNCTIONAL_UNITS)
    assert all(unit.startswith("gCO2e/") for unit in FUNCTIONAL_UNITS.values())


def test_every_group_builds_with_its_defaults():
    cfg = Config()
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            assert coerce(type(value), None, f.name) == value


@pytest.mark.parametrize(
    ("devices", "ok"),
    [("auto", True), (2, True), (-1, True), ("0,1", True), ([0, 1], True), (0, False), ([], False)],
)
def test_trainer_devices(devices, ok):
    if ok:
        assert coerce(TrainerConfig, {"devices": devices}).devices == devices
    else:
        with pytest.raises(ConfigError, match="not a device count or list"):
            coerce(TrainerConfig, {"devices": devices}, "trainer")


def test_sci_embodied_needs_te_and_el_together():
    with pytest.raises(ConfigError, match="embodied emissions need both TE and EL"):
        coerce(SciConfig, {"embodied_total_kg": 100.0}, "sci")

"""The settings dataclasses as jsonargparse types (sci_lightning.lightning.cli_types): a LightningCLI YAML's
``carbon:``/``sci:`` mappings go through ``settings.coerce``, and a refused one stops the parse with our
one line on stderr (exit status 2). The whole LightningCLI process is run in tests/test_settings_paths.py."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from sci_lightning.errors import ConfigError
from sci_lightning.lightning import cli_types
from sci_lightning.settings import CarbonConfig, EnergyConfig, PrometheusConfig, SciConfig, coerce

jsonargparse = pytest.importorskip("jsonargparse")


def _coerce_message(cls, value, path) -> str:
    with pytest.raises(ConfigError) as err:
        coerce(cls, value, path)
    return str(err.value)


def test_every_settings_type_has_its_place_in_messages():
    assert {
        EnergyConfig: "energy",
        CarbonConfig: "carbon",
        SciConfig: "sci",
        PrometheusConfig: "prometheus",
    } == cli_types.SETTINGS_TYPES


def test_the_reader_coerces_a_mapping_and_passes_an_instance_through():
    read = cli_types._reader(SciConfig, "sci")
    assert read({"functional_unit": "epoch"}) == SciConfig(functional_unit="epoch")
    given = SciConfig(functional_unit="job")
    assert read(given) is given
    with pytest.raises(TypeError, match="^SciConfig settings are a mapping, got str$"):
        read("epoch")


def test_a_refused_mapping_exits_2_with_one_line(capsys):
    read = cli_types._reader(CarbonConfig, "carbon")
    with pytest.raises(SystemExit) as stop:
        read({"provider": "no_such"})
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err == f"error: {_coerce_message(CarbonConfig, {'provider': 'no_such'}, 'carbon')}\n"
    assert err.count("\n") == 1 and "Traceback" not in err


def test_a_jsonargparse_parser_reads_the_types(capsys):
    assert cli_types.register() is True and cli_types.register() is True  # idempotent
    assert cli_types.register_if_available() is True
    parser = jsonargparse.ArgumentParser(exit_on_error=False)
    # typed as EnergyCarbonCallback's parameters are: the settings class, a dict or None
    parser.add_argument("--sci", type=SciConfig | dict[str, Any] | None)
    parser.add_argument("--carbon", type=CarbonConfig | dict[str, Any] | None)
    cfg = parser.parse_args(
        ["--sci", "{functional_unit: epoch}", "--carbon", "{provider: static, region: FR}"]
    )
    assert cfg.sci == SciConfig(functional_unit="epoch")
    assert cfg.carbon == coerce(CarbonConfig, {"provider": "static", "region": "FR"}, "carbon")
    with pytest.raises(SystemExit) as stop:
        parser.parse_args(["--sci", "{functional_unt: epoch}"])
    assert stop.value.code == 2
    expected = _coerce_message(SciConfig, {"functional_unt": "epoch"}, "sci")
    assert "Did you mean sci.functional_unit?" in expected
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"error: {expected}"


def test_without_jsonargparse_nothing_is_registered(monkeypatch):
    monkeypatch.delitem(sys.modules, "jsonargparse", raising=False)
    monkeypatch.setattr(cli_types.importlib.util, "find_spec", lambda name: None)
    assert cli_types.register_if_available() is False
    monkeypatch.setattr(cli_types, "_registered", False)
    monkeypatch.setitem(sys.modules, "jsonargparse.typing", None)  # an import of it fails
    assert cli_types.register() is False

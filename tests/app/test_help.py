"""``--help`` (sci_lightning.app.help): the app's config groups listed from ``conf/<group>/*.yaml`` in Hydra's
compact form, and Hydra's slow group listing skipped for ``--help`` only. The whole ``--help`` text of
the real CLI is checked in tests/e2e/test_cli_ux.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra._internal.hydra import Hydra

from sci_lightning.app import help as H


@pytest.fixture
def hydra_listing(monkeypatch):
    """Hydra's ``format_config_groups`` replaced by a recorder (restored after the test)."""
    calls: list[tuple] = []

    def original(self, predicate, compact=True):
        calls.append((predicate, compact))
        return "hydra's own listing"

    monkeypatch.setattr(Hydra, "format_config_groups", original)
    return calls


def test_app_group_listing_of_a_conf_folder(tmp_path: Path):
    for group, options in {"model": ["inception", "densenet"], "carbon": ["static"], "hydra": ["x"]}.items():
        (tmp_path / group).mkdir()
        for o in options:
            (tmp_path / group / f"{o}.yaml").write_text("")
    (tmp_path / "empty").mkdir()
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "a.yaml").write_text("")
    (tmp_path / "model" / "notes.txt").write_text("")
    (tmp_path / "config.yaml").write_text("")
    assert H.app_group_listing(tmp_path) == "carbon: static\nmodel: densenet, inception"


def test_the_packaged_conf_folder_is_listed():
    conf = H.conf_dir()
    assert (conf / "config.yaml").is_file()
    lines = H.app_group_listing().splitlines()
    assert lines == sorted(lines) and not any(line.startswith("hydra:") for line in lines)
    model = next(line for line in lines if line.startswith("model: "))
    assert model == "model: " + ", ".join(sorted(p.stem for p in (conf / "model").glob("*.yaml")))


@pytest.mark.parametrize("argv", [[], ["model=densenet"], ["--help", "--hydra-help"], ["--hydra-help"]])
def test_left_alone_without_help(hydra_listing, argv):
    before = Hydra.format_config_groups
    assert H.skip_unused_group_listing(argv) is False
    assert Hydra.format_config_groups is before


def test_help_lists_the_app_groups_and_not_hydras(hydra_listing):
    assert H.skip_unused_group_listing(["-h"]) is True
    assert H.skip_unused_group_listing(["--help"]) is False  # already patched: not twice
    patched = Hydra.format_config_groups
    assert patched(None, lambda group: group == "hydra/help") == ""
    assert patched(None, lambda group: False) == H.app_group_listing()
    assert hydra_listing == []


def test_without_app_groups_nothing_is_listed(hydra_listing):
    assert H.skip_unused_group_listing(["--help"], app_groups=False) is True
    assert Hydra.format_config_groups(None, lambda group: False) == ""
    assert hydra_listing == []


def test_an_unreadable_conf_folder_falls_back_to_hydras_listing(hydra_listing, monkeypatch):
    def unreadable(conf=None):
        raise PermissionError("conf")

    monkeypatch.setattr(H, "app_group_listing", unreadable)
    assert H.skip_unused_group_listing(["--help"]) is True
    always = lambda group: False  # noqa: E731
    assert Hydra.format_config_groups("self", always) == "hydra's own listing"
    assert hydra_listing == [(always, True)]

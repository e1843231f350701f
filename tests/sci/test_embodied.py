"""The cited table of accelerators' embodied emissions (sci_lightning.sci.embodied)."""

from __future__ import annotations

import json

import pytest

from sci_lightning.errors import ConfigError
from sci_lightning.sci.embodied import TABLE_PATH, accelerator_embodied, accelerator_names


def test_every_row_of_the_table_is_cited_with_a_year_and_a_scope():
    rows = json.loads(TABLE_PATH.read_text(encoding="utf-8"))["accelerators"]
    assert accelerator_names() == sorted(rows)
    for name in accelerator_names():
        row = accelerator_embodied(name)
        assert row.te_kg_per_unit > 0 and row.source and row.scope, name
        assert 2015 <= row.year <= 2030 and row.kind in ("manufacturer PCF", "peer-reviewed estimate"), name


def test_the_a100_row_is_the_hotcarbon_2023_estimate():
    row = accelerator_embodied("nvidia_a100")
    assert row.te_kg_per_unit == 318.0 and row.year == 2023
    assert row.citation.startswith("peer-reviewed estimate (2023): Chien, Lin, Nguyen")
    assert row.citation.endswith("; scope: " + row.scope)


def test_names_are_matched_without_case_or_surrounding_spaces():
    assert accelerator_embodied("  NVIDIA_A100 ") == accelerator_embodied("nvidia_a100")


def test_an_accelerator_without_a_cited_figure_is_refused_with_the_known_ones_and_the_fix():
    with pytest.raises(ConfigError) as err:
        accelerator_embodied("tpu_v9")
    message = str(err.value)
    assert message.startswith("Invalid setting sci.accelerator=tpu_v9: no cited embodied-emissions figure")
    assert "known: nvidia_a100" in message and "sci.embodied_total_kg" in message

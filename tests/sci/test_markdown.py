"""sci_report.md (sci/markdown.py): words for every functional unit, read from the report type."""

from __future__ import annotations

from sci_lightning.sci import markdown
from sci_lightning.sci.report import build_report
from sci_lightning.settings import FUNCTIONAL_UNITS


def test_every_functional_unit_has_its_words():
    assert set(markdown._UNIT_WORDS) == set(FUNCTIONAL_UNITS)


def test_disclosure_states_the_headline_unit_and_value(small_run):
    result, energy = small_run(functional_unit="epoch")
    text = markdown.render_markdown(build_report(result, energy, {"model": "m"}))
    assert "one training epoch" in text and "gCO2e/epoch" in text
    assert f"{result.sci:.4g}" in text

"""The Impact Framework manifest (sci/manifest.py): its tables follow the one list of units."""

from __future__ import annotations

from sci_lightning.sci.manifest import IF_UNITS, build_impact_manifest
from sci_lightning.settings import FUNCTIONAL_UNITS


def test_every_functional_unit_has_its_manifest_names():
    assert set(IF_UNITS) == set(FUNCTIONAL_UNITS)


def test_pipeline_is_the_plugins_in_order_with_per_unit_outputs_for_counted_units(small_run):
    m = build_impact_manifest(small_run(functional_unit="epoch")[0], {"model": "m", "run_name": "r"})
    plugins = m["initialize"]["plugins"]
    child = m["tree"]["children"]["training-job"]
    assert child["pipeline"]["compute"] == list(plugins)
    assert list(plugins)[:4] == ["energy-with-pue", "operational-carbon", "total-carbon", "sci"]
    assert plugins["sci"]["config"]["functional-unit"] == "epochs"
    assert m["aggregation"]["metrics"][5:] == ["sci-per-job", "sci-per-epoch", "sci-per-thousand-images"]
    assert child["defaults"]["carbon-embodied"] == 0.0 and child["defaults"]["epochs"] == 2.0
    assert m["name"] == "sci-lightning m r" and "Embodied emissions out of scope" in m["description"]


def test_embodied_plugins_and_defaults_when_m_is_in_scope(small_run):
    m = build_impact_manifest(small_run(embodied_total_kg=1000.0, lifespan_years=4.0)[0])
    plugins = list(m["initialize"]["plugins"])
    assert plugins[2:5] == ["time-share", "resource-share", "embodied-carbon"]
    defaults = m["tree"]["children"]["training-job"]["defaults"]
    assert (
        defaults["device/emissions-embodied"] == 1e6
        and defaults["device/expected-lifespan"] == 4 * 365 * 86400
    )

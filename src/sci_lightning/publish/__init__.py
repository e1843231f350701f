"""Publish a run's energy and emissions where models are published.

``python -m sci_lightning.publish RUN_OR_SWEEP_DIR [--out DIR]`` writes, from each run's
typed :class:`~sci_lightning.sci.report.SciReport` (and ``preparation.json``):

- ``README.md``: a Hugging Face model card whose YAML front matter carries
  ``co2_eq_emissions`` (:mod:`~sci_lightning.publish.model_card`);
- ``bom.cdx.json``: a CycloneDX 1.6 ML-BOM with the model card's energy consumptions
  (:mod:`~sci_lightning.publish.cyclonedx`);
- ``model.spdx3.json``: an SPDX 3.0.1 AI package with its energy fields
  (:mod:`~sci_lightning.publish.spdx`).

Every figure's method is stated in the documents' free-text fields. The checks use the
ecosystems' own libraries, an optional extra: ``pip install sci-lightning[publish]``.

Example::

    from sci_lightning.publish import publish

    for done in publish("outputs/runs/densenet", "hub-upload"):
        print(done.files, done.checks)
"""

from sci_lightning.publish.activities import Activity, RunDocuments, run_activities
from sci_lightning.publish.cyclonedx import bom_document, check_bom
from sci_lightning.publish.model_card import check_model_card, co2_eq_emissions, model_card_text
from sci_lightning.publish.spdx import spdx_document
from sci_lightning.publish.writer import Published, publish, publish_run

__all__ = [
    "Activity",
    "Published",
    "RunDocuments",
    "bom_document",
    "check_bom",
    "check_model_card",
    "co2_eq_emissions",
    "model_card_text",
    "publish",
    "publish_run",
    "run_activities",
    "spdx_document",
]

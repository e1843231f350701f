"""An SPDX 3.0.1 document (JSON-LD) holding the model as an AI package with its energy fields.

The ``ai_AIPackage`` carries ``ai_energyConsumption`` (an ``ai_EnergyConsumption``) whose
``ai_trainingEnergyConsumption`` (or ``ai_finetuningEnergyConsumption`` when only part of
the model was trained) and ``ai_inferenceEnergyConsumption`` lists hold
``ai_EnergyConsumptionDescription`` entries: ``ai_energyQuantity`` (a decimal) and
``ai_energyUnit`` (``kilowattHour``). SPDX has no slot for data preparation, so its energy
and every figure's method are stated in ``ai_informationAboutTraining`` and the package's
``comment``. The package has what SPDX 3.0.1 requires of an AI package: ``suppliedBy``,
``software_downloadLocation``, ``software_packageVersion``, ``software_primaryPurpose``
and ``releaseTime``. No SPDX 3 validator is available offline; the tests check this
structure field by field.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sci_lightning.publish.activities import Activity, RunDocuments, training_type
from sci_lightning.publish.cyclonedx import document_uuid
from sci_lightning.timefmt import iso_seconds_z

__all__ = ["SPDX_NAME", "decimal_text", "spdx_document"]

SPDX_NAME = "model.spdx3.json"
SPEC_VERSION = "3.0.1"
CONTEXT = "https://spdx.org/rdf/3.0.1/spdx-context.jsonld"
_CREATION = "_:creationinfo"


def decimal_text(x: float) -> str:
    """``x`` as an xsd:decimal lexical form (no exponent), e.g. ``0.000123``."""
    text = f"{x:.12f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def _description(kwh: float) -> dict[str, Any]:
    return {
        "type": "ai_EnergyConsumptionDescription",
        "ai_energyQuantity": decimal_text(kwh),
        "ai_energyUnit": "kilowattHour",
    }


def _energy(docs: RunDocuments) -> dict[str, Any]:
    slot = (
        "ai_finetuningEnergyConsumption"
        if training_type(docs.report) == "fine-tuning"
        else "ai_trainingEnergyConsumption"
    )
    energy: dict[str, Any] = {"type": "ai_EnergyConsumption"}
    train = [a for a in docs.activities if a.activity == "training" and a.energy_kwh is not None]
    infer = [a for a in docs.activities if a.activity == "inference"]
    if train:
        energy[slot] = [_description(a.energy_kwh) for a in train]  # type: ignore[arg-type]
    if infer:
        energy["ai_inferenceEnergyConsumption"] = [_description(a.energy_kwh or 0.0) for a in infer]
    return energy


def _statement(a: Activity) -> str:
    kwh = "not measured" if a.energy_kwh is None else f"{a.energy_kwh:.6g} kWh"
    co2 = "" if a.carbon_g is None else f", {a.carbon_g:.4g} gCO2e"
    return f"{a.activity} ({a.name}): {kwh}{co2}. Method: {a.method}"


def spdx_document(docs: RunDocuments, download_location: str | None = None) -> dict[str, Any]:
    """The SPDX 3.0.1 JSON-LD document of the run's model.

    ``download_location``: where the model can be fetched (default: the run folder as a ``file:`` URI).
    """
    r = docs.report
    ns = f"https://spdx.org/spdxdocs/sci-lightning-{document_uuid(docs, 'spdx')}"
    created = r.generated_at or datetime.now(timezone.utc)
    when = iso_seconds_z(created)
    released = iso_seconds_z(r.ended_at or created)
    agent = {
        "type": "SoftwareAgent",
        "spdxId": f"{ns}#sci-lightning",
        "name": "sci-lightning",
        "creationInfo": _CREATION,
    }
    statements = [_statement(a) for a in docs.activities]
    if not any(a.activity == "inference" for a in docs.activities):
        statements.append("Inference energy: not measured for this run.")
    package = {
        "type": "ai_AIPackage",
        "spdxId": f"{ns}#model",
        "name": r.model or "model",
        "creationInfo": _CREATION,
        "suppliedBy": agent["spdxId"],
        "releaseTime": released,
        "software_packageVersion": r.run_name or docs.run_dir.name,
        "software_downloadLocation": download_location or docs.run_dir.resolve().as_uri(),
        "software_primaryPurpose": "model",
        "ai_typeOfModel": ["image classifier"],
        "ai_domain": ["computer vision"],
        "ai_energyConsumption": _energy(docs),
        "ai_informationAboutTraining": " ".join(statements),
        "comment": (
            f"Energy figures are facility energy (IT x PUE) obtained by sci-lightning; the training "
            f"energy is {r.quality.energy or 'of unknown quality'} (measured, estimated or mixed: each "
            f"figure's method is in ai_informationAboutTraining); SCI {r.sci.value} {r.sci.unit}. Data "
            "preparation has no SPDX energy slot and is stated in ai_informationAboutTraining."
        ),
    }
    document = {
        "type": "SpdxDocument",
        "spdxId": ns,
        "creationInfo": _CREATION,
        "name": f"{package['name']} AI BOM",
        "rootElement": [package["spdxId"]],
        "element": [agent["spdxId"], package["spdxId"]],
        "profileConformance": ["core", "software", "ai"],
    }
    creation = {
        "type": "CreationInfo",
        "@id": _CREATION,
        "specVersion": SPEC_VERSION,
        "created": when,
        "createdBy": [agent["spdxId"]],
    }
    return {"@context": CONTEXT, "@graph": [creation, agent, package, document]}

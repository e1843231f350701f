"""A CycloneDX 1.6 ML-BOM (JSON) with the model's energy consumptions.

The model is one ``machine-learning-model`` component; its
``modelCard.considerations.environmentalConsiderations.energyConsumptions`` holds one
entry per activity (``training`` or ``fine-tuning`` when only part of the model was
trained, ``inference``, ``data-preparation``: CycloneDX's own activity names) with ``activityEnergyCost`` in kWh, ``co2CostEquivalent`` in tCO2eq (the
operational emissions, E x I) and the grid as the ``energyProviders`` entry. The grid's
fuel mix is not known to us, so ``energySource`` is ``unknown``; the intensity used and
every figure's method are stated in the entry's ``properties`` (names prefixed
``sci-lightning:``). :func:`check_bom` validates a document with cyclonedx-python-lib's
strict JSON validator for 1.6 when the ``publish`` extra is installed.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from sci_lightning.publish.activities import Activity, RunDocuments, hardware_used, location, training_type
from sci_lightning.timefmt import iso_utc

__all__ = ["BOM_NAME", "bom_document", "check_bom", "document_uuid"]

BOM_NAME = "bom.cdx.json"
SPEC_VERSION = "1.6"
_G_PER_TONNE = 1e6
_NAMESPACE = uuid.UUID("6f1c8f2e-3b7a-4f55-9d3e-5c1a2b7e9d10")  # sci-lightning's UUIDv5 namespace


def _tool_version() -> str:
    try:
        return version("sci-lightning")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def document_uuid(docs: RunDocuments, kind: str) -> uuid.UUID:
    """A stable id per run and document kind (the same report gives the same id)."""
    r = docs.report
    stamp = r.generated_at.isoformat() if r.generated_at else ""
    return uuid.uuid5(_NAMESPACE, f"{kind}|{r.model}|{r.run_name}|{stamp}")


def _prop(name: str, value: Any) -> dict[str, str]:
    return {"name": f"sci-lightning:{name}", "value": str(value)}


def _consumption(a: Activity, docs: RunDocuments) -> dict[str, Any]:
    i = docs.report.intensity
    energy = {"value": float(a.energy_kwh or 0.0), "unit": "kWh"}  # called for measured activities only
    # CycloneDX names fine-tuning as its own activity (as SPDX and the model card do)
    fine_tuned = a.activity == "training" and training_type(docs.report) == "fine-tuning"
    entry: dict[str, Any] = {
        "activity": "fine-tuning" if fine_tuned else a.activity,
        "energyProviders": [
            {
                "description": (
                    f"electricity grid of {location(docs.report)}; intensity "
                    f"{i.mean_g_per_kwh if i.mean_g_per_kwh is not None else 'unknown'} gCO2e/kWh "
                    f"({i.kind or 'unknown kind'}) from {i.source or 'an unnamed source'}"
                ),
                "organization": {"name": f"electricity grid ({location(docs.report)})"},
                "energySource": "unknown",
                "energyProvided": energy,
            }
        ],
        "activityEnergyCost": energy,
        "properties": [_prop("part", a.name), _prop("method", a.method), _prop("embodied_g", a.embodied_g)],
    }
    if a.operational_g is not None:
        entry["co2CostEquivalent"] = {"value": a.operational_g / _G_PER_TONNE, "unit": "tCO2eq"}
    if a.amortised:
        entry["properties"].append(
            _prop("amortised", "reused cache: the energy of its one build, counted once")
        )
    if a.within_training:
        entry["properties"].append(
            _prop("included_in", "training: this energy is part of the training entry; do not add it again")
        )
    return entry


def bom_document(docs: RunDocuments) -> dict[str, Any]:
    """The CycloneDX 1.6 ML-BOM of the run's model as JSON data."""
    r = docs.report
    ref = f"model-{r.model or 'model'}"
    generated = r.generated_at or datetime.now(timezone.utc)
    component = {
        "type": "machine-learning-model",
        "bom-ref": ref,
        "name": r.model or "model",
        "version": r.run_name or docs.run_dir.name,
        "description": f"Image classifier trained with sci-lightning ({training_type(r)}, {hardware_used(r)}).",
        "modelCard": {
            "modelParameters": {"approach": {"type": "supervised"}, "task": "image-classification"},
            "considerations": {
                "environmentalConsiderations": {
                    "energyConsumptions": [
                        _consumption(a, docs) for a in docs.activities if a.energy_kwh is not None
                    ],
                    "properties": [
                        *(
                            _prop("not_measured", f"{a.activity} ({a.name})")
                            for a in docs.activities
                            if a.energy_kwh is None
                        ),
                        _prop("sci", f"{r.sci.value} {r.sci.unit}"),
                        _prop("functional_unit", r.functional_unit),
                        _prop("boundary", r.boundary or "not stated"),
                        _prop(
                            "units", "energy: facility kWh (IT x PUE); co2CostEquivalent: operational E x I"
                        ),
                    ],
                },
            },
        },
    }
    return {
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": f"urn:uuid:{document_uuid(docs, 'cyclonedx')}",
        "version": 1,
        "metadata": {
            "timestamp": iso_utc(generated),
            "tools": {
                "components": [{"type": "application", "name": "sci-lightning", "version": _tool_version()}]
            },
        },
        "components": [component],
    }


def check_bom(text: str) -> str:
    """Validate ``text`` with cyclonedx-python-lib's strict JSON validator for CycloneDX 1.6.

    Returns what was checked; raises ``ValueError`` naming the first error, ``ImportError``
    when the library is missing (``pip install sci-lightning[publish]``).
    """
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    if error is not None:
        detail = getattr(error, "data", error)
        where = "/".join(str(p) for p in getattr(detail, "absolute_path", []))
        raise ValueError(
            f"CycloneDX 1.6 validation failed at '{where}': {getattr(detail, 'message', detail)}"
        )
    return "cyclonedx-python-lib JsonStrictValidator(1.6): valid"

"""A Hugging Face model card (``README.md``) whose YAML front matter carries ``co2_eq_emissions``.

The Hub's model-card metadata (https://huggingface.co/docs/hub/model-cards-co2) takes
``co2_eq_emissions`` with ``emissions`` (grams of CO2 equivalent), ``source``,
``training_type`` (pre-training | fine-tuning), ``geographical_location`` and
``hardware_used``. We fill it from the typed report: ``emissions`` is the training job's
E x I + M; the card's body states every figure's method. Written with PyYAML (a core
dependency); :func:`check_model_card` reads it back with ``huggingface_hub.ModelCard``
when the ``publish`` extra is installed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

from sci_lightning.publish.activities import (
    Activity,
    RunDocuments,
    hardware_used,
    location,
    training_type,
)
from sci_lightning.redaction import scrub

__all__ = ["MODEL_CARD_NAME", "check_model_card", "co2_eq_emissions", "model_card_text"]

MODEL_CARD_NAME = "README.md"


def _g(x: float | None, digits: int = 4) -> str:
    return "not measured" if x is None else f"{x:.{digits}g}"


def _quality(quality: str | None) -> str:
    return {"mixed": "mixed: partly measured, partly estimated", None: "quality unknown"}.get(
        quality, str(quality)
    )


def co2_eq_emissions(docs: RunDocuments, secrets: Iterable[str] | None = None) -> dict[str, Any] | None:
    """The ``co2_eq_emissions`` metadata of the run (emissions in grams CO2e), redacted of
    ``secrets`` (default: :func:`~sci_lightning.redaction.secret_values`); ``None`` when
    the report has no emissions figure (no intensity): no number is made up."""
    report, training = docs.report, docs.training
    if training.carbon_g is None:
        return None
    embodied = "" if not training.embodied_g else f" + embodied {training.embodied_g:.4g} g"
    return scrub(
        {
            "emissions": round(float(training.carbon_g), 6),
            "source": (
                f"sci-lightning: training energy metered by sci-lightning ({_quality(report.quality.energy)}) "
                f"x grid intensity from {report.intensity.source or 'an unnamed source'} "
                f"({report.intensity.kind or 'unknown kind'}){embodied}; GSF SCI, see the card's Environmental impact"
            ),
            "training_type": training_type(report),
            "geographical_location": location(report),
            "hardware_used": hardware_used(report),
        },
        secrets,
    )[0]


def _row(a: Activity) -> str:
    shared = (
        " (reused cache, amortised)" if a.amortised else (" (inside training)" if a.within_training else "")
    )
    return (
        f"| {a.activity}{shared} | {a.name} | {_g(a.energy_kwh, 6)} | {_g(a.operational_g)} | "
        f"{_g(a.embodied_g)} | {_g(a.carbon_g)} |"
    )


def _body(docs: RunDocuments) -> list[str]:
    r = docs.report
    lines = [
        f"# {r.model or 'model'} ({r.run_name or docs.run_dir.name})",
        "",
        f"Image classifier trained with sci-lightning. Top-1 validation accuracy: {_g(r.val_acc)}.",
        "",
        "## Environmental impact",
        "",
        f"Software Carbon Intensity (GSF SCI): {_g(r.sci.value)} {r.sci.unit}. "
        "Figures in kWh (facility energy: IT energy x PUE) and gCO2e.",
        "",
        "| Activity | Part | Energy (kWh) | Operational (g) | Embodied (g) | Total (g) |",
        "|---|---|---|---|---|---|",
        *(_row(a) for a in docs.activities),
        "",
        "How each figure was obtained:",
        "",
        *(f"- **{a.activity} ({a.name})**: {a.method}" for a in docs.activities),
        "",
    ]
    if not any(a.activity == "inference" for a in docs.activities):
        lines += ["Inference energy: not measured for this run.", ""]
    if r.boundary:
        lines += [f"Boundary: {r.boundary}", ""]
    return lines


def model_card_text(docs: RunDocuments, secrets: Iterable[str] | None = None) -> str:
    """The ``README.md`` text: YAML front matter (``co2_eq_emissions``, tags) and the body,
    redacted of ``secrets`` before serialising (YAML folds long lines, which would split a
    secret so that a text search no longer finds it)."""
    metadata: dict[str, Any] = {"library_name": "timm", "tags": ["image-classification", "sci-lightning"]}
    co2 = co2_eq_emissions(docs, secrets)
    if co2 is not None:
        metadata["tags"].append("co2_eq_emissions")
        metadata["co2_eq_emissions"] = co2
    front = yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True)
    body, _ = scrub(_body(docs), secrets)
    return "---\n" + front + "---\n\n" + "\n".join(body)


def check_model_card(text: str, expected: dict[str, Any] | None) -> str:
    """Parse ``text`` with ``huggingface_hub.ModelCard`` and compare its ``co2_eq_emissions``.

    Returns what was checked; raises ``ValueError`` on a mismatch and ``ImportError`` when
    ``huggingface_hub`` is not installed (``pip install sci-lightning[publish]``).
    """
    from huggingface_hub import ModelCard

    found = ModelCard(text).data.to_dict().get("co2_eq_emissions")
    if found != expected:
        raise ValueError(f"the model card's co2_eq_emissions read back as {found!r}, expected {expected!r}")
    return "huggingface_hub.ModelCard: co2_eq_emissions read back unchanged"

"""Write the three documents for one run, or for every run of a sweep, and check them.

:func:`publish_run` writes ``README.md`` (model card), ``bom.cdx.json`` (CycloneDX 1.6)
and ``model.spdx3.json`` (SPDX 3.0.1) for one run folder; :func:`publish` does so for a
run folder or, for a sweep folder, for each run under it (one sub-folder per run).
With ``check`` the model card is read back with ``huggingface_hub`` and the BOM validated
with cyclonedx-python-lib (``pip install sci-lightning[publish]``); ``check=None`` checks
when those libraries are installed and says so when they are not. Every document is
redacted (:mod:`sci_lightning.redaction`) as data, before it is serialised, like the report.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from sci_lightning.campaign.rollup import find_run_dirs
from sci_lightning.errors import ConfigError
from sci_lightning.fileio import atomic_write_text
from sci_lightning.publish.activities import run_activities
from sci_lightning.publish.cyclonedx import BOM_NAME, bom_document, check_bom
from sci_lightning.publish.model_card import (
    MODEL_CARD_NAME,
    check_model_card,
    co2_eq_emissions,
    model_card_text,
)
from sci_lightning.publish.spdx import SPDX_NAME, spdx_document
from sci_lightning.redaction import scrub, secret_values
from sci_lightning.sci.report import JSON_NAME

__all__ = ["Published", "publish", "publish_run"]


@dataclass
class Published:
    """What :func:`publish_run` wrote for one run and what was checked."""

    run_dir: Path
    out_dir: Path
    files: list[Path]
    checks: list[str] = field(default_factory=list)


def _check(name: str, run, check: bool | None) -> str:
    try:
        return run()
    except ImportError as e:
        if check:
            raise ConfigError(
                f"cannot check the {name}: {e}. Install the checkers with "
                "`pip install sci-lightning[publish]` or pass --no-check."
            ) from None
        return (
            f"{name}: not checked ({e.name or 'library'} not installed; pip install sci-lightning[publish])"
        )


def publish_run(
    run_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    check: bool | None = None,
    download_location: str | None = None,
) -> Published:
    """Write the model card, CycloneDX BOM and SPDX document of ``run_dir`` into ``out_dir``.

    Raises:
        OSError / FormatError: the report cannot be read; ValueError: a check failed;
        ConfigError: ``check=True`` and a checker library is missing.
    """
    docs = run_activities(run_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    secrets = secret_values()  # the report on disk may predate a secret or be hand-edited
    card = model_card_text(docs, secrets)
    bom = json.dumps(scrub(bom_document(docs), secrets)[0], indent=2) + "\n"
    spdx = json.dumps(scrub(spdx_document(docs, download_location), secrets)[0], indent=2) + "\n"
    checks = []
    if check is not False:
        checks.append(
            _check("model card", lambda: check_model_card(card, co2_eq_emissions(docs, secrets)), check)
        )
        checks.append(_check("CycloneDX BOM", lambda: check_bom(bom), check))
    files = []
    for name, text in ((MODEL_CARD_NAME, card), (BOM_NAME, bom), (SPDX_NAME, spdx)):
        atomic_write_text(out / name, text)
        files.append(out / name)
    return Published(Path(run_dir), out, files, checks)


def publish(
    path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str] | None = None,
    *,
    check: bool | None = None,
    download_location: str | None = None,
) -> list[Published]:
    """Publish a run folder (into ``out_dir``) or every run with a report under a sweep folder
    (into ``out_dir/<run folder name>``). ``out_dir`` defaults to ``path/publish``.

    Raises:
        ConfigError: ``path`` holds no run with a ``sci_report.json``.
    """
    root = Path(path)
    out = Path(out_dir) if out_dir is not None else root / "publish"
    if (root / JSON_NAME).is_file():
        return [publish_run(root, out, check=check, download_location=download_location)]
    runs = [d for d in find_run_dirs(root) if (d / JSON_NAME).is_file()]
    if not runs:
        raise ConfigError(
            f"{root} holds no run with a {JSON_NAME}: give a run folder or a sweep folder "
            "whose jobs finished with a report."
        )
    return [
        publish_run(d, out / d.relative_to(root), check=check, download_location=download_location)
        for d in runs
    ]

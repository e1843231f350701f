"""Embodied emissions (TE) of accelerators from a cited table (``accelerator_embodied.json``).

Each row names its source and year; there is no row without one. ``sci.accelerator``
picks a row; ``sci.embodied_total_kg`` given by the user always wins over the table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from sci_lightning.errors import ConfigError

__all__ = ["accelerator_embodied", "accelerator_names"]

TABLE_PATH = Path(__file__).resolve().parent / "accelerator_embodied.json"


@dataclass(frozen=True)
class AcceleratorEmbodied:
    """One row: TE in kgCO2e per accelerator, what it covers and where it comes from."""

    name: str
    te_kg_per_unit: float
    scope: str
    source: str
    year: int
    kind: str  # manufacturer PCF | peer-reviewed estimate

    @property
    def citation(self) -> str:
        """The source as cited in the report."""
        return f"{self.kind} ({self.year}): {self.source}; scope: {self.scope}"


@lru_cache(maxsize=1)
def _table() -> dict[str, AcceleratorEmbodied]:
    rows = json.loads(TABLE_PATH.read_text(encoding="utf-8"))["accelerators"]
    return {name: AcceleratorEmbodied(name=name, **row) for name, row in rows.items()}


def accelerator_names() -> list[str]:
    """The accelerators the table has a cited figure for."""
    return sorted(_table())


def accelerator_embodied(name: str) -> AcceleratorEmbodied:
    """The table's row for ``name`` (case-insensitive).

    Raises:
        ConfigError: no cited figure exists for ``name``; the message lists those that do.
    """
    row = _table().get(name.strip().lower())
    if row is None:
        raise ConfigError(
            f"Invalid setting sci.accelerator={name}: no cited embodied-emissions figure for it "
            f"(known: {', '.join(accelerator_names()) or 'none'}). "
            "Set sci.embodied_total_kg and sci.embodied_source from your vendor's product carbon footprint."
        )
    return row

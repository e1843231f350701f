"""The work a training job did, as counted (SCI for AI functional units).

Plain data, no torch: :class:`sci_lightning.lightning.work_counter.WorkCounter` measures
it, :func:`sci_lightning.sci.compute.compute_sci` turns it into R counts
(``pflop``, ``billion_parameters``) and the report publishes it with its methods.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["WorkCounts"]

FLOPS_PER_PFLOP = 1e15
PARAMETERS_PER_BILLION = 1e9


@dataclass
class WorkCounts:
    """What the job computed and the model it produced, each figure with how it was obtained.

    ``train_flops`` = measured FLOPs of one optimizer step x steps run; ``val_flops`` the
    same for validation batches (forward only); ``extraction_flops`` the frozen backbone's
    one-off feature extraction (cached-features training), 0 otherwise.
    Gross and effective as SCI for AI §8.2.2 defines them: ``parameters_gross`` counts
    every parameter of the final model; ``parameters_effective`` the parameters *active per
    inference* (every parameter for a dense model such as the timm classifiers, fewer for a
    sparse or mixture-of-experts model); ``parameters_trainable`` those the job trained
    (``requires_grad``), a different figure (a frozen backbone trains only its head).
    The FLOPs are effective ("utilised") FLOPs: counted on the batches actually run.
    """

    train_flops: float = 0.0
    val_flops: float = 0.0
    extraction_flops: float = 0.0
    train_flops_per_step: float = 0.0
    val_flops_per_batch: float = 0.0
    train_steps: int = 0
    val_batches: int = 0
    parameters_gross: int = 0
    parameters_effective: int = 0
    parameters_trainable: int = 0
    images_seen: int = 0
    tokens_seen: int = 0  # sequence data: training tokens in the batches run (0 for images)
    methods: dict[str, str] = field(default_factory=dict)  # figure name -> how it was obtained
    notes: list[str] = field(default_factory=list)

    @property
    def total_flops(self) -> float:
        """All FLOPs counted: training + validation + feature extraction."""
        return self.train_flops + self.val_flops + self.extraction_flops

    @property
    def total_pflop(self) -> float:
        return self.total_flops / FLOPS_PER_PFLOP

    @property
    def billion_parameters(self) -> float:
        """Gross parameters of the final model, in billions (the R of ``billion_parameters``)."""
        return self.parameters_gross / PARAMETERS_PER_BILLION

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["total_flops"] = self.total_flops
        return d

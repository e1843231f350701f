"""The work a job did, as counted (sci_lightning.sci.work): totals and units of the SCI for AI R."""

from __future__ import annotations

import pytest

from sci_lightning.sci.work import WorkCounts


def test_totals_add_training_validation_and_feature_extraction():
    work = WorkCounts(train_flops=3e15, val_flops=5e14, extraction_flops=1.5e15, parameters_gross=25_000_000)
    assert work.total_flops == 5e15
    assert work.total_pflop == pytest.approx(5.0)
    assert work.billion_parameters == pytest.approx(0.025)


def test_the_record_carries_every_figure_and_the_total():
    work = WorkCounts(
        train_flops=2.0, val_flops=1.0, train_steps=4, methods={"train_flops": "FlopCounterMode"}
    )
    d = work.to_dict()
    assert d["total_flops"] == 3.0 and d["train_steps"] == 4
    assert d["methods"] == {"train_flops": "FlopCounterMode"} and d["notes"] == []
    assert WorkCounts(**{k: v for k, v in d.items() if k != "total_flops"}) == work


def test_nothing_counted_is_zero_not_missing():
    work = WorkCounts()
    assert (work.total_flops, work.total_pflop, work.billion_parameters) == (0.0, 0.0, 0.0)

"""model.cache_features=true: head-only training on cached backbone features.

The claims tested: (1) training the head on cached features is the same training as
training it on images through the frozen backbone (same per-step losses, same head),
(2) the backbone runs once per image instead of once per image per epoch, (3) the
extraction happens inside the energy window (after on_fit_start), (4) bad settings are
refused with the setting named, and (5) a full ``run(cfg)`` reports that it was used.
"""

from __future__ import annotations

import json

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import Callback

from sci_lightning.data import DataConfig, build_datamodule
from sci_lightning.errors import ConfigError
from sci_lightning.lightning.classifier import ImageClassifier
from sci_lightning.lightning.features import CachedFeaturesDataModule

MEAN = (0.5, 0.5, 0.5)
STD = (0.25, 0.25, 0.25)
EPOCHS = 4


def _dm(tmp_path, augment: bool = False):
    cfg = DataConfig(
        name="synthetic",
        cache_dir=str(tmp_path / "cache"),
        num_workers=0,
        batch_size=5,
        synthetic_classes=3,
        synthetic_train_per_class=7,
        synthetic_val_per_class=3,
        synthetic_image_px=32,
        augment=augment,
    )
    dm = build_datamodule(cfg, image_size=32, mean=MEAN, std=STD, progress=False)
    dm.validate()
    return dm


class _Record(Callback):
    """Per-step training losses, per-epoch val loss, and the order of fit events."""

    def __init__(self, events: list[str]) -> None:
        self.events = events
        self.step_losses: list[float] = []
        self.val_losses: list[float] = []

    def on_fit_start(self, trainer, pl_module) -> None:
        self.events.append("on_fit_start")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.step_losses.append(float(outputs["loss"]))

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self.val_losses.append(float(trainer.callback_metrics["val/loss"]))


def _fit(tmp_path, cache: bool, events: list[str] | None = None, sanity_steps: int = 1):
    """Head-only fit of resnet10t at 32 px for EPOCHS epochs; returns (model, recorder, backbone images)."""
    events = [] if events is None else events
    dm = _dm(tmp_path)
    L.seed_everything(7, workers=True)
    model = ImageClassifier(
        "resnet10t",
        num_classes=3,
        image_size=32,
        freeze_backbone=True,
        lr=0.05,
        weight_decay=0.0,
        scheduler="cosine",
    )
    seen = {"images": 0}

    def count(_module, inputs, _output):  # the backbone's stem: runs once per backbone forward
        seen["images"] += int(inputs[0].shape[0])

    model.model.conv1.register_forward_hook(count)
    bn_before = model.model.bn1.running_mean.clone()
    rec = _Record(events)
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=EPOCHS,
        deterministic=True,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=sanity_steps,
        callbacks=[rec],
    )
    trainer.fit(model, datamodule=CachedFeaturesDataModule(dm) if cache else dm)
    # a frozen backbone stays frozen through a real fit: batch-norm statistics included
    # (Lightning never calls .train(); the classifier sets the modes itself)
    assert torch.equal(model.model.bn1.running_mean, bn_before)
    return model, rec, seen["images"]


@pytest.mark.slow
@pytest.mark.parametrize("sanity_steps", [0, 1])  # extraction in train_dataloader() / in the sanity check
def test_cached_features_give_the_same_head_training_with_one_backbone_pass(
    tmp_path, monkeypatch, sanity_steps
):
    import sci_lightning.lightning.features as features

    events: list[str] = []
    real = features.compute_features

    def spy(*args, **kwargs):
        events.append("extract")
        return real(*args, **kwargs)

    monkeypatch.setattr(features, "compute_features", spy)

    ref_model, ref, ref_images = _fit(tmp_path, cache=False, sanity_steps=sanity_steps)
    model, rec, images = _fit(tmp_path, cache=True, events=events, sanity_steps=sanity_steps)

    # same steps, same losses: 21 train images / batch 5 -> 5 steps per epoch
    assert len(rec.step_losses) == len(ref.step_losses) == 5 * EPOCHS
    # The features differ from the image path's only by float rounding (the backbone runs
    # on other batch compositions): measured max relative difference of these losses 1e-7
    # (float32 epsilon), so rtol 1e-4 leaves a 1000x margin. A different shuffle order
    # (e.g. the extraction consuming a global RNG draw) changes them by up to 150 %.
    torch.testing.assert_close(
        torch.tensor(rec.step_losses), torch.tensor(ref.step_losses), rtol=1e-4, atol=1e-6
    )
    torch.testing.assert_close(
        torch.tensor(rec.val_losses), torch.tensor(ref.val_losses), rtol=1e-4, atol=1e-6
    )
    assert (
        max(abs(a - b) for a, b in zip(ref.step_losses[:5], ref.step_losses[5:10])) > 1e-3
    )  # losses do move
    head, ref_head = model.model.get_classifier(), ref_model.model.get_classifier()
    torch.testing.assert_close(head.weight, ref_head.weight, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(head.bias, ref_head.bias, rtol=1e-4, atol=1e-6)

    # backbone work: image path = every epoch's train + val images (+ the sanity batch);
    # cached = each train and val image once
    assert ref_images == EPOCHS * (21 + 9) + 5 * sanity_steps
    assert images == 21 + 9

    # the extraction happened inside the energy window, i.e. after on_fit_start
    assert events == ["on_fit_start", "extract", "extract"]


@pytest.mark.slow
def test_a_head_trained_on_features_is_an_image_classifier(tmp_path):
    model, _, _ = _fit(tmp_path, cache=True)
    model.eval()
    dm = _dm(tmp_path)
    dm.setup("fit")
    x, _ = dm.transform_batch(next(iter(dm.val_dataloader())), train=False)
    with torch.no_grad():
        from_images = model(x)
        from_features = model(model.pooled_features(x))
    torch.testing.assert_close(from_images, from_features, rtol=1e-5, atol=1e-5)
    # the head stayed in train mode after extraction during fit, the backbone in eval mode
    model.train()
    assert model.model.get_classifier().training and not model.model.training


def test_features_input_refused_while_training_end_to_end():
    model = ImageClassifier("resnet10t", num_classes=3, image_size=32, freeze_backbone=False)
    model.train()
    with pytest.raises(RuntimeError, match="freeze_backbone"):
        model(torch.zeros(2, model.model.num_features))


def test_augmented_data_is_refused_by_the_datamodule(tmp_path):
    with pytest.raises(ConfigError, match=r"data\.augment=false"):
        CachedFeaturesDataModule(_dm(tmp_path, augment=True))


@pytest.mark.slow
def test_config_refuses_cache_features_without_freeze_or_with_augment(compose):
    from sci_lightning.settings import Config, coerce

    def validate(cfg):
        return coerce(Config, cfg)

    with pytest.raises(ConfigError, match=r"model\.cache_features.*freeze_backbone=true"):
        validate(compose(["experiment=quickstart", "model.cache_features=true", "data.augment=false"]))
    with pytest.raises(ConfigError, match=r"(?i)data\.augment.*set data\.augment=false"):
        validate(
            compose(["experiment=quickstart", "model.cache_features=true", "model.freeze_backbone=true"])
        )
    validate(
        compose(
            [
                "experiment=quickstart",
                "model.cache_features=true",
                "model.freeze_backbone=true",
                "data.augment=false",
            ]
        )
    )


@pytest.mark.slow
def test_run_with_cache_features_reports_it(compose, tmp_path):
    from sci_lightning.app.train import run
    from sci_lightning.lightning.features import CACHE_FEATURES_NOTE

    cfg = compose(
        [
            "experiment=quickstart",
            "model=densenet",
            f"output_dir={tmp_path}",
            "model.freeze_backbone=true",
            "model.cache_features=true",
            "data.augment=false",
            "trainer.max_epochs=2",
            "trainer.limit_train_batches=2",
            "trainer.limit_val_batches=1",
            "trainer.num_sanity_val_steps=0",
            "data.batch_size=4",
            "data.num_workers=0",
            "data.synthetic_classes=3",
            "data.synthetic_train_per_class=4",
            "data.synthetic_val_per_class=2",
            "sci.boundary='One job on the lab box.'",
        ]
    )
    best = run(cfg)
    summary = json.loads((tmp_path / "run_summary.json").read_text())
    report = json.loads((tmp_path / "sci_report.json").read_text())
    assert summary["settings"]["cache_features"] is True and report["settings"]["cache_features"] is True
    assert summary["notes"] == [CACHE_FEATURES_NOTE] and summary["feature_extraction_s"] > 0
    assert (
        report["boundary"] == f"One job on the lab box. {CACHE_FEATURES_NOTE}"
    )  # the project's own text kept
    assert "model.cache_features=true" in (tmp_path / "sci_report.md").read_text()
    assert summary["steps"] == 4 and summary["images_seen"] == 16
    assert summary["trainable_parameters"] < summary["parameters"] / 100  # head only
    # data preparation (SCI for AI 7.2): the decode cache (built or reused) and the feature extraction, measured
    from sci_lightning.sci.preparation import read_preparation

    records = read_preparation(tmp_path)
    [features] = [r for r in records if r.activity == "feature_cache"]
    assert features.within_training and features.items == 12 + 6 and features.energy_kwh > 0
    assert features.quality in ("measured", "estimated", "mixed") and features.method
    decode = sorted((r for r in records if r.activity == "decode_cache"), key=lambda r: r.items)
    assert [r.items for r in decode] == [6, 12]  # val and train caches, each built (or reused) once
    assert all(not r.within_training and r.cache and r.energy_kwh >= 0 for r in decode)
    assert 0.0 <= best <= 1.0

    # the checkpoint is an ordinary image classifier
    ckpt = ImageClassifier.load_from_checkpoint(
        str(tmp_path / "checkpoints" / "last.ckpt"), map_location="cpu"
    )
    ckpt.eval()
    with torch.no_grad():
        assert ckpt(torch.zeros(2, 3, 75, 75)).shape == (2, 3)

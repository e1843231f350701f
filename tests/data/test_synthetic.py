"""The synthetic dataset: layout, determinism, manifest-driven regeneration, learnability."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import torch
from PIL import Image

from sci_lightning.data import DataConfig, build_datamodule, scan_tiny_imagenet
from sci_lightning.data.synthetic import (
    MANIFEST,
    SyntheticSpec,
    generate_synthetic_tiny_imagenet,
    is_generated,
    synthetic_root,
)
from sci_lightning.errors import DatasetError

SMALL = SyntheticSpec(classes=4, train_per_class=6, val_per_class=3, image_px=32, seed=3, grayscale_every=4)


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_layout_matches_tiny_imagenet(tmp_path):
    root = generate_synthetic_tiny_imagenet(tmp_path / "s", SMALL, progress=False)
    idx = scan_tiny_imagenet(root)  # the same loader as the real dataset
    assert idx.num_classes == 4 and len(idx.train) == 24 and len(idx.val) == 12
    for w in idx.wnids:
        boxes = (root / "train" / w / f"{w}_boxes.txt").read_text().splitlines()
        assert len(boxes) == 6 and boxes[0].startswith(f"{w}_0.JPEG\t")
        x0, y0, x1, y1 = map(int, boxes[0].split("\t")[1:])
        assert 0 <= x0 <= x1 < 32 and 0 <= y0 <= y1 < 32
    modes = {Image.open(p).mode for p, _ in idx.train + idx.val}
    assert modes == {"RGB", "L"}  # some grayscale JPEGs are included
    ann = (root / "val" / "val_annotations.txt").read_text().splitlines()
    assert len(ann) == 12 and all(len(line.split("\t")) == 6 for line in ann)
    val_labels = [lab for _, lab in idx.val]
    assert val_labels != sorted(val_labels)  # classes interleaved in val
    assert "synthetic 0" in idx.class_names[0]


def test_same_seed_gives_identical_files_other_seed_differs(tmp_path):
    a = generate_synthetic_tiny_imagenet(tmp_path / "a", SMALL, progress=False, workers=1)
    b = generate_synthetic_tiny_imagenet(tmp_path / "b", SMALL, progress=False, workers=1)
    assert tree_digest(a) == tree_digest(b)
    other = SyntheticSpec(**{**SMALL.__dict__, "seed": 4})
    c = generate_synthetic_tiny_imagenet(tmp_path / "c", other, progress=False, workers=1)
    da, dc = tree_digest(a), tree_digest(c)
    assert da.keys() == dc.keys()
    assert sum(da[k] != dc[k] for k in da if k.endswith(".JPEG")) > 30


def test_generated_once_then_reused_and_regenerated_when_params_change(tmp_path):
    root = tmp_path / "s"
    generate_synthetic_tiny_imagenet(root, SMALL, progress=False)
    probe = root / "val" / "images" / "val_0.JPEG"
    os.utime(probe, ns=(1, 1))
    generate_synthetic_tiny_imagenet(root, SMALL, progress=False)
    assert probe.stat().st_mtime_ns == 1  # untouched: reused
    bigger = SyntheticSpec(**{**SMALL.__dict__, "train_per_class": 7})
    assert not is_generated(root, bigger)
    generate_synthetic_tiny_imagenet(root, bigger, progress=False)
    assert probe.stat().st_mtime_ns != 1  # regenerated
    assert len(scan_tiny_imagenet(root).train) == 28 and is_generated(root, bigger)
    # different settings live in different folders of the cache
    assert synthetic_root(tmp_path, SMALL) != synthetic_root(tmp_path, bigger)


def test_interrupted_generation_is_redone(tmp_path):
    root = generate_synthetic_tiny_imagenet(tmp_path / "s", SMALL, progress=False)
    (root / ".generating").write_text("")
    (root / "wnids.txt").unlink()
    assert not is_generated(root, SMALL)
    generate_synthetic_tiny_imagenet(root, SMALL, progress=False)
    assert (root / "wnids.txt").is_file() and is_generated(root, SMALL)


def test_refuses_to_delete_foreign_folder(tmp_path):
    root = tmp_path / "mine"
    root.mkdir()
    (root / "thesis.tex").write_text("precious")
    with pytest.raises(DatasetError, match="holds other files"):
        generate_synthetic_tiny_imagenet(root, SMALL, progress=False)
    assert (root / "thesis.tex").read_text() == "precious"


@pytest.mark.slow
def test_parallel_generation_gives_the_same_files(tmp_path):
    spec = SyntheticSpec(classes=3, train_per_class=700, val_per_class=1, image_px=16, seed=1)
    a = generate_synthetic_tiny_imagenet(tmp_path / "a", spec, progress=False, workers=1)
    b = generate_synthetic_tiny_imagenet(tmp_path / "b", spec, progress=False, workers=2)
    assert tree_digest(a) == tree_digest(b)


def test_datamodule_synthetic_uses_cache_dir(tmp_path):
    cfg = DataConfig(
        name="synthetic",
        cache_dir=str(tmp_path),
        num_workers=0,
        batch_size=5,
        synthetic_classes=3,
        synthetic_train_per_class=4,
        synthetic_val_per_class=2,
        synthetic_image_px=24,
    )
    dm = build_datamodule(cfg, image_size=32, mean=(0.5,) * 3, std=(0.5,) * 3, progress=False)
    dm.validate()
    assert dm.num_classes == 3 and dm.root.parent == tmp_path / "synthetic"
    (dm.root / MANIFEST).is_file()
    dm.prepare_data()
    dm.setup("fit")
    x, y = dm.transform_batch(next(iter(dm.train_dataloader())), train=True)
    assert x.shape == (5, 3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64


@pytest.mark.slow
def test_small_cnn_learns_synthetic_classes_within_two_epochs(tmp_path):
    """The class signal is learnable: a tiny CNN trained for two epochs through Lightning
    (fast pipeline, augmentation on, transform in on_after_batch_transfer) reaches a
    validation accuracy far above chance (10 classes: chance = 0.1)."""
    import lightning.pytorch as pl
    from torch import nn

    torch.manual_seed(0)
    cfg = DataConfig(
        name="synthetic",
        cache_dir=str(tmp_path),
        num_workers=0,
        batch_size=32,
        synthetic_classes=10,
        synthetic_train_per_class=50,
        synthetic_val_per_class=10,
        synthetic_image_px=64,
        seed=0,
    )
    dm = build_datamodule(cfg, image_size=32, mean=(0.5,) * 3, std=(0.25,) * 3, progress=False)
    dm.validate()

    class Net(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(
                nn.Conv2d(3, 16, 3, padding=1),
                nn.BatchNorm2d(16),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Conv2d(16, 32, 3, padding=1),
                nn.BatchNorm2d(32),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Conv2d(32, 32, 3, padding=1),
                nn.ReLU(),
                nn.AdaptiveAvgPool2d(1),
                nn.Flatten(),
                nn.Linear(32, 10),
            )
            self.seen: list[tuple] = []
            self.correct = self.total = 0

        def training_step(self, batch, _):
            x, y = batch
            self.seen.append((x.dtype, tuple(x.shape[1:])))
            return nn.functional.cross_entropy(self.net(x), y)

        def validation_step(self, batch, _):
            x, y = batch
            self.correct += int((self.net(x).argmax(1) == y).sum())
            self.total += len(y)

        def on_validation_epoch_start(self):
            self.correct = self.total = 0

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=3e-3)

    model = Net()
    trainer = pl.Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        default_root_dir=str(tmp_path),
    )
    trainer.fit(model, datamodule=dm)
    assert set(model.seen) == {(torch.float32, (3, 32, 32))}
    accuracy = model.correct / model.total
    assert model.total == 100
    print(f"val accuracy after 2 epochs: {accuracy:.2f}")
    assert accuracy >= 0.5, accuracy

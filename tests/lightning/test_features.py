"""Cached backbone features (sci_lightning.lightning.features) for model.cache_features."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sci_lightning.data import DataConfig, build_datamodule
from sci_lightning.lightning.features import compute_features, feature_datamodule, pooled_features

MEAN = (0.5, 0.5, 0.5)
STD = (0.25, 0.25, 0.25)


@pytest.fixture(scope="module")
def backbone():
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    return timm.create_model("resnet10t", pretrained=False, num_classes=7)


@pytest.fixture
def dm(tmp_path):
    cfg = DataConfig(
        name="synthetic",
        cache_dir=str(tmp_path),
        num_workers=0,
        batch_size=8,
        synthetic_classes=3,
        synthetic_train_per_class=6,
        synthetic_val_per_class=2,
        synthetic_image_px=32,
    )
    d = build_datamodule(cfg, image_size=32, mean=MEAN, std=STD, progress=False)
    d.validate()
    d.prepare_data()
    d.setup("fit")
    return d


def test_features_equal_direct_forward_and_mode_is_restored(backbone, dm):
    backbone.train()
    transform = lambda b: dm.transform_batch(b, train=False)  # noqa: E731
    ds = compute_features(
        backbone, dm.val_dataloader(), device="cpu", batch_transform=transform, progress=False
    )
    feats, labels = ds.tensors
    assert feats.shape == (6, backbone.num_features) and labels.dtype == torch.int64
    assert labels.tolist() == [lab for _, lab in dm.index.val]
    assert backbone.training  # restored
    backbone.eval()
    with torch.no_grad():
        x, _ = transform(next(iter(dm.val_dataloader())))
        direct = pooled_features(backbone, x)
        # pooled pre-logits: what the classifier layer sees
        logits = backbone.get_classifier()(direct)
        assert torch.allclose(logits, backbone(x), atol=1e-5)
    backbone.train()
    assert torch.allclose(feats, direct, atol=1e-5)


def test_cache_file_is_reused_only_for_the_same_key(backbone, dm, tmp_path):
    transform = lambda b: dm.transform_batch(b, train=False)  # noqa: E731
    f = tmp_path / "feats.pt"
    a = compute_features(
        backbone, dm.val_dataloader(), batch_transform=transform, cache_file=f, cache_key="k1", progress=False
    )
    assert f.is_file()

    class Boom:
        def __iter__(self):
            raise AssertionError("should have been read from the cache")

    b = compute_features(backbone, Boom(), cache_file=f, cache_key="k1", progress=False)
    assert torch.equal(a.tensors[0], b.tensors[0])
    with pytest.raises(AssertionError, match="cache"):
        compute_features(backbone, Boom(), cache_file=f, cache_key="k2", progress=False)


def test_feature_datamodule_trains_a_head(backbone, dm):
    fdm = feature_datamodule(backbone, dm, device="cpu", batch_size=5, progress=False)
    assert fdm.feature_dim == backbone.num_features and fdm.num_classes == 3
    x, y = next(iter(fdm.train_dataloader()))
    head = nn.Linear(fdm.feature_dim, fdm.num_classes)
    loss = nn.functional.cross_entropy(head(x), y)
    loss.backward()
    assert head.weight.grad is not None and x.shape == (5, fdm.feature_dim)

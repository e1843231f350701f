"""The LightningModule around timm: size checks, local weights, head-only training."""

from __future__ import annotations

import pytest
import timm
import torch

from sci_lightning.errors import ConfigError
from sci_lightning.lightning import classifier
from sci_lightning.lightning.classifier import (
    ImageClassifier,
    check_image_size,
    check_model_name,
    smallest_image_size,
)


def test_the_smallest_size_is_found_by_bisection(monkeypatch):
    """The search over a scripted probe (a network that takes 75 px and more); that the real
    networks' boundaries are where :data:`MIN_IMAGE_PX` says is probed in tests/app/test_preflight.py."""
    probed: list[int] = []

    def probe(name: str, size: int) -> bool:
        probed.append(size)
        return size >= 75

    monkeypatch.setattr(classifier, "_probe", probe)
    assert smallest_image_size("inception_v3") == 75 and len(probed) <= 11  # 512, then bisection of 1..512
    monkeypatch.setattr(classifier, "_probe", lambda name, size: False)
    assert smallest_image_size("no_size_fits") is None


@pytest.mark.slow
def test_inception_minimum_size_is_named():
    """The refusal names the setting and the minimum the real search finds (one search: the
    smallest size itself, one probe each side of it, is checked in tests/app/test_preflight.py)."""
    check_image_size("inception_v3", 75)
    with pytest.raises(ConfigError) as err:
        check_image_size("inception_v3", 64)
    msg = str(err.value)
    assert "model.image_size=64" in msg and "at least 75 px" in msg


def test_densenet_accepts_tiny_imagenet_native_size():
    check_image_size("densenet121", 64)


def test_unknown_model_name_is_refused():
    with pytest.raises(ConfigError, match="model.name"):
        check_model_name("densnet121")


def test_local_weights_load_and_head_is_replaced(tmp_path):
    src = timm.create_model("resnet18", num_classes=1000)
    path = tmp_path / "resnet18.pth"
    torch.save(src.state_dict(), path)
    clf = ImageClassifier("resnet18", num_classes=7, image_size=32, weights=str(path))
    # backbone weights came from the file, the 7-class head is new
    assert torch.equal(clf.model.conv1.weight, src.conv1.weight)
    assert clf.model.get_classifier().out_features == 7


def test_missing_weights_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="model.weights"):
        ImageClassifier("resnet18", num_classes=3, image_size=32, weights=str(tmp_path / "nope.pth"))


def test_weights_of_another_architecture_are_refused(tmp_path):
    path = tmp_path / "other.pth"
    torch.save(timm.create_model("resnet18").state_dict(), path)
    with pytest.raises(ConfigError, match="could not load"):
        ImageClassifier("densenet121", num_classes=3, image_size=32, weights=str(path))


def test_freeze_backbone_trains_only_the_head():
    torch.manual_seed(0)
    clf = ImageClassifier("resnet18", num_classes=4, image_size=32, freeze_backbone=True, lr=0.1)
    total, trainable = clf.num_parameters()
    head = clf.model.get_classifier()
    assert trainable == sum(p.numel() for p in head.parameters()) < total
    clf.train()
    assert not clf.model.bn1.training and head.training  # frozen batch-norm statistics stay frozen
    before_conv = clf.model.conv1.weight.detach().clone()
    before_bn = clf.model.bn1.running_mean.detach().clone()
    before_head = head.weight.detach().clone()
    opt = torch.optim.SGD([p for p in clf.parameters() if p.requires_grad], lr=0.1)
    x, y = torch.randn(8, 3, 32, 32), torch.randint(0, 4, (8,))
    loss = torch.nn.functional.cross_entropy(clf(x), y)
    loss.backward()
    opt.step()
    assert torch.equal(clf.model.conv1.weight, before_conv)
    assert torch.equal(clf.model.bn1.running_mean, before_bn)
    assert not torch.equal(head.weight, before_head)


def test_safetensors_weights_with_matching_head_keep_the_head(tmp_path):
    from safetensors.torch import save_file

    src = timm.create_model("resnet18", num_classes=5)
    path = tmp_path / "r18.safetensors"
    save_file(src.state_dict(), str(path))
    clf = ImageClassifier("resnet18", num_classes=5, image_size=32, weights=str(path))
    assert torch.equal(clf.model.fc.weight, src.fc.weight)


def test_model_summary_counts_the_flops_of_one_image():
    """Lightning's summary runs ``example_input_array`` (one image): FLOPs and sizes, not "0 Total Flops"."""
    from lightning.pytorch.utilities.model_summary import ModelSummary

    model = ImageClassifier("resnet18", num_classes=10, image_size=32)
    assert tuple(model.example_input_array.shape) == (1, 3, 32, 32)
    summary = ModelSummary(model, max_depth=1)
    assert summary.total_flops > 1e7  # resnet18 at 32 px: about 0.07 GFLOPs per image
    assert "[1, 3, 32, 32]" in str(summary) and model.training  # the mode is restored


def test_the_datamodules_batch_hook_passes_the_summarys_example_through(tmp_path):
    """Lightning sends ``example_input_array`` (an image batch, no labels) through the datamodule's
    ``on_after_batch_transfer`` before the summary's forward pass."""
    from sci_lightning.data.tiny_imagenet import build_datamodule
    from sci_lightning.settings import DataConfig

    cfg = DataConfig(root=str(tmp_path / "absent"), cache_dir=str(tmp_path / "cache"), num_workers=0)
    dm = build_datamodule(cfg, image_size=32, mean=(0.5,) * 3, std=(0.5,) * 3, progress=False)
    example = torch.zeros(1, 3, 32, 32)
    assert dm.on_after_batch_transfer(example, 0) is example

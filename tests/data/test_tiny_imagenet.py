"""The Tiny ImageNet layout: class mapping, labels, validation errors, corrupt files (reference path)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sci_lightning.data import DataConfig, build_datamodule, load_rgb, scan_tiny_imagenet
from sci_lightning.data.tiny_imagenet import ImageListDataset, reference_transform
from sci_lightning.errors import ConfigError, DatasetError

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
# wnids.txt order deliberately differs from sorted order
WNIDS = ["n03000003", "n01000001", "n02000002"]


def write_mini_tree(
    root: Path, wnids=WNIDS, per_class: int = 3, val_per_class: int = 2, px: int = 32, seed: int = 0
):
    """A miniature Tiny ImageNet: colour-coded JPEGs, boxes files, one grayscale image per
    split, and val annotations in shuffled class order. Returns the val annotation rows."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    (root / "wnids.txt").write_text("".join(w + "\n" for w in wnids))
    (root / "words.txt").write_text(
        "".join(f"{w}\tclass {w[-1]}, thing\n" for w in wnids) + "n09999999\tunused\n"
    )
    for ci, w in enumerate(wnids):
        d = root / "train" / w / "images"
        d.mkdir(parents=True)
        boxes = []
        for i in range(per_class):
            arr = np.full((px, px, 3), 40 + 80 * ci, np.uint8)
            arr[: px // 2, :, i % 3] = rng.randrange(256)
            img = Image.fromarray(arr)
            if ci == 0 and i == 0:
                img = img.convert("L")  # a grayscale JPEG, as in the real dataset
            img.save(d / f"{w}_{i}.JPEG", quality=95)
            boxes.append(f"{w}_{i}.JPEG\t0\t0\t{px - 1}\t{px - 1}\n")
        (root / "train" / w / f"{w}_boxes.txt").write_text("".join(boxes))
    (root / "val" / "images").mkdir(parents=True)
    pairs = [(w, i) for w in wnids for i in range(val_per_class)]
    rng.shuffle(pairs)
    rows = []
    for k, (w, _) in enumerate(pairs):
        ci = wnids.index(w)
        img = Image.fromarray(np.full((px, px, 3), 40 + 80 * ci, np.uint8))
        if k == 1:
            img = img.convert("L")
        img.save(root / "val" / "images" / f"val_{k}.JPEG", quality=95)
        rows.append((f"val_{k}.JPEG", w))
    (root / "val" / "val_annotations.txt").write_text("".join(f"{n}\t{w}\t1\t2\t20\t30\n" for n, w in rows))
    return rows


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "tiny-imagenet-200"
    rows = write_mini_tree(root)
    return root, rows


def make_dm(root, tmp_path, image_size=48, **kw):
    cfg = DataConfig(
        root=str(root) if root else None, cache_dir=str(tmp_path / "cache"), num_workers=0, batch_size=4, **kw
    )
    return build_datamodule(cfg, image_size=image_size, mean=MEAN, std=STD, progress=False)


def test_class_indices_follow_wnids_txt_order_not_sorted_order(tree):
    root, _ = tree
    idx = scan_tiny_imagenet(root)
    assert idx.wnids == WNIDS != sorted(WNIDS)
    assert idx.class_names == ["class 3, thing", "class 1, thing", "class 2, thing"]
    for path, label in idx.train:
        assert Path(path).parent.parent.name == WNIDS[label]  # train/<wnid>/images/x.JPEG
    assert len(idx.train) == 9 and len(idx.val) == 6
    assert not any(p.endswith("_boxes.txt") for p, _ in idx.train)


@pytest.mark.parametrize("pipeline", ["reference", "fast"])
def test_val_labels_match_val_annotations(tree, tmp_path, pipeline):
    root, rows = tree
    dm = make_dm(root, tmp_path, pipeline=pipeline, augment=False)
    dm.validate()
    assert dm.num_classes == 3 and dm.wnids == WNIDS
    dm.prepare_data()
    dm.setup("fit")
    labels = torch.cat([y for _, y in dm.val_dataloader()])
    expected = torch.tensor([WNIDS.index(w) for _, w in rows])
    assert labels.dtype == torch.int64
    assert torch.equal(labels, expected)
    # train labels agree with the folders too
    train_labels = sorted(int(y) for b in dm.train_dataloader() for y in b[1])
    assert train_labels == [0, 0, 0, 1, 1, 1, 2, 2, 2]


def test_grayscale_jpeg_becomes_rgb_and_batches_are_model_ready(tree, tmp_path):
    root, _ = tree
    gray = root / "train" / WNIDS[0] / "images" / f"{WNIDS[0]}_0.JPEG"
    with Image.open(gray) as im:
        assert im.mode == "L"
    assert load_rgb(gray).mode == "RGB"
    dm = make_dm(root, tmp_path, pipeline="reference", augment=False)
    dm.setup("fit")
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (4, 3, 48, 48) and x.dtype == torch.float32
    # grayscale: all three channels equal after conversion (before normalization)
    img0, _ = dm.train_dataset[0]
    raw = img0 * torch.tensor(STD).view(3, 1, 1) + torch.tensor(MEAN).view(3, 1, 1)
    assert torch.allclose(raw[0], raw[1], atol=1e-5) and torch.allclose(raw[1], raw[2], atol=1e-5)


def test_train_augmentation_reference_shapes(tree, tmp_path):
    root, _ = tree
    dm = make_dm(root, tmp_path, pipeline="reference", augment=True)
    dm.setup("fit")
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (4, 3, 48, 48)


@pytest.mark.parametrize(
    "breakage, expected",
    [
        (lambda r: (r / "wnids.txt").unlink(), "wnids.txt"),
        (lambda r: __import__("shutil").rmtree(r / "train" / WNIDS[1] / "images"), WNIDS[1]),
        (lambda r: (r / "val" / "images" / "val_3.JPEG").unlink(), "val_3.JPEG"),
        (lambda r: (r / "val" / "val_annotations.txt").unlink(), "val_annotations.txt"),
        (
            lambda r: (r / "val" / "val_annotations.txt").write_text("val_0.JPEG\tn07777777\t0\t0\t1\t1\n"),
            "n07777777",
        ),
        (lambda r: (r / "val" / "val_annotations.txt").write_text("just-one-field\n"), "malformed"),
        (lambda r: (r / "wnids.txt").write_text("n01\nn01\n"), "twice"),
    ],
)
def test_validate_names_what_is_missing_and_how_to_fix(tree, tmp_path, breakage, expected):
    root, _ = tree
    breakage(root)
    dm = make_dm(root, tmp_path)
    with pytest.raises(DatasetError) as err:
        dm.validate()
    msg = str(err.value)
    assert expected in msg
    assert "tiny-imagenet-200.zip" in msg and "data.download=true" in msg and "data=synthetic" in msg


def test_missing_root_message(tmp_path):
    dm = make_dm(tmp_path / "nowhere", tmp_path)
    with pytest.raises(DatasetError, match="does not exist.*90528d7ca1a48142e341f4ef8d21d0de"):
        dm.validate()


def test_num_classes_needs_validate(tree, tmp_path):
    dm = make_dm(tree[0], tmp_path)
    with pytest.raises(RuntimeError, match="validate"):
        _ = dm.num_classes


def test_root_from_environment(tree, tmp_path, monkeypatch):
    root, _ = tree
    monkeypatch.setenv("TINY_IMAGENET_ROOT", str(root))
    dm = make_dm(None, tmp_path)
    dm.validate()
    assert dm.root == root and dm.num_classes == 3


def test_corrupt_jpeg_raises_naming_the_file(tree, tmp_path):
    root, _ = tree
    bad = root / "train" / WNIDS[2] / "images" / f"{WNIDS[2]}_1.JPEG"
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 3])  # truncated
    idx = scan_tiny_imagenet(root)
    ds = ImageListDataset(idx.train, reference_transform(32, MEAN, STD))
    i = [p for p, _ in idx.train].index(str(bad))
    with pytest.raises(DatasetError, match=f"{bad.name}.*corrupt"):
        ds[i]
    (root / "val" / "images" / "val_0.JPEG").write_bytes(b"not a jpeg at all")
    dm = make_dm(root, tmp_path, pipeline="reference", augment=False)
    dm.setup("fit")
    with pytest.raises(DatasetError, match="val_0.JPEG"):
        list(dm.val_dataloader())


def test_corrupt_jpeg_in_fast_cache_build_names_the_file(tree, tmp_path):
    root, _ = tree
    bad = root / "val" / "images" / "val_2.JPEG"
    bad.write_bytes(b"\xff\xd8\xff garbage")
    dm = make_dm(root, tmp_path, pipeline="fast")
    dm.validate()  # listing only: fine
    with pytest.raises(DatasetError, match="val_2.JPEG"):
        dm.prepare_data()


def test_subsets(tree, tmp_path):
    root, rows = tree
    dm = make_dm(root, tmp_path, max_classes=2, max_train_images=4, pipeline="reference", augment=False)
    dm.validate()
    assert dm.num_classes == 2 and dm.class_names == ["class 3, thing", "class 1, thing"]
    assert len(dm.index.train) == 4 and all(lab < 2 for _, lab in dm.index.train)
    assert len(dm.index.val) == sum(1 for _, w in rows if w in WNIDS[:2])


def test_bad_settings_raise_config_error(tree, tmp_path):
    with pytest.raises(ConfigError, match="pipeline"):
        make_dm(tree[0], tmp_path, pipeline="turbo")
    with pytest.raises(ConfigError, match="data.name"):
        make_dm(tree[0], tmp_path, name="cifar")
    with pytest.raises(ConfigError, match=r"data\.batchsize: no such setting"):
        build_datamodule({"name": "synthetic", "batchsize": 3}, image_size=32, mean=MEAN, std=STD)


def test_accepts_omegaconf_node(tree, tmp_path):
    from omegaconf import OmegaConf

    node = OmegaConf.structured(DataConfig(root=str(tree[0]), cache_dir=str(tmp_path / "c")))
    dm = build_datamodule(node, image_size=32, mean=MEAN, std=STD, progress=False)
    dm.validate()
    assert dm.num_classes == 3

"""The fast path: uint8 cache, fingerprint rebuilds, batched transforms vs the reference path."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from sci_lightning.data import DataConfig, build_datamodule
from sci_lightning.data.fast import (
    BatchTransform,
    CachedImageDataset,
    _CpuBufferPool,
    build_uint8_cache,
    cache_paths,
)
from sci_lightning.data.synthetic import SyntheticSpec, generate_synthetic_tiny_imagenet
from sci_lightning.data.tiny_imagenet import scan_tiny_imagenet

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
# one intensity level (see test_fast_matches_reference_without_augmentation) plus the
# float32 slack of converting normalized values back to levels in this test
TOL_LEVELS = 1.0 + 1e-2
SPEC = SyntheticSpec(classes=3, train_per_class=5, val_per_class=4, image_px=64, seed=7, grayscale_every=3)


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    return generate_synthetic_tiny_imagenet(tmp_path_factory.mktemp("synth") / "tree", SPEC, progress=False)


def to_levels(x: torch.Tensor) -> torch.Tensor:
    """Normalized images back to 0-255 intensity levels (the unit of PIL's rounding)."""
    m = torch.tensor(MEAN).view(1, 3, 1, 1)
    s = torch.tensor(STD).view(1, 3, 1, 1)
    return (x * s + m) * 255.0


def dm_for(root_cfg: dict, tmp_path, pipeline: str, image_size: int, **kw):
    kw.setdefault("batch_size", 64)
    cfg = DataConfig(cache_dir=str(tmp_path / "cache"), num_workers=0, pipeline=pipeline, **root_cfg, **kw)
    dm = build_datamodule(cfg, image_size=image_size, mean=MEAN, std=STD, progress=False)
    dm.validate()
    dm.prepare_data()
    dm.setup("fit")
    return dm


@pytest.mark.parametrize(
    "image_size", [299, 224, 96, 64, 40]
)  # upsample (Inception, DenseNet), same, downsample
def test_fast_matches_reference_without_augmentation(synth_root, tmp_path, image_size):
    """Same labels in the same order, same geometry, values within PIL's rounding.

    Bounds, in 0-255 intensity levels: the reference resizes with PIL, which runs the
    separable bilinear filter in two passes with fixed-point weights and rounds to uint8
    after each (<= 0.5 level per pass). The GPU path computes the same filter in float32
    without rounding: it may differ by PIL's rounding, <= 1 level. The CPU path runs
    torch's uint8 kernel, which also rounds after each pass but not always to the same
    side as PIL: <= 2 levels (seen at 224 px on ~0.003% of values; 1 level on ~8%), so the
    mean difference must also stay small. Anything geometric (a half-pixel shift, a flip,
    a wrong filter) moves edges by tens of levels and the mean far beyond these bounds.
    """
    root_cfg = {"root": str(synth_root)}
    ref = dm_for(root_cfg, tmp_path, "reference", image_size, augment=False)
    fast = dm_for(root_cfg, tmp_path, "fast", image_size, augment=False)
    for split in ("val", "train"):
        if split == "val":
            r_x, r_y = next(iter(ref.val_dataloader()))
            raw = next(iter(fast.val_dataloader()))
        else:
            r_x, r_y = next(iter(ref._loader(ref.train_dataset, shuffle=False)))
            raw = next(iter(fast._loader(fast.train_dataset, shuffle=False)))
        assert raw[0].dtype == torch.uint8 and raw[0].shape[1:] == (64, 64, 3)
        f_x, f_y = fast.transform_batch(raw, train=False)
        assert torch.equal(f_y, r_y)
        assert f_x.shape == r_x.shape == (len(r_y), 3, image_size, image_size)
        diff = (to_levels(f_x) - to_levels(r_x)).abs()
        assert diff.max() <= 2 * TOL_LEVELS and diff.mean() < 0.25, (float(diff.max()), float(diff.mean()))
        # the float path that runs on a GPU (exercised here on CPU tensors)
        d_x = fast._batch_transform._on_device(raw[0].permute(0, 3, 1, 2), False, None)
        d_diff = (to_levels(d_x) - to_levels(r_x)).abs()
        assert d_diff.max() <= TOL_LEVELS and d_diff.mean() < 0.5, (float(d_diff.max()), float(d_diff.mean()))


def test_a_geometric_error_would_be_caught(synth_root, tmp_path):
    """The tolerance above is tight enough: a horizontally flipped batch fails it."""
    ref = dm_for({"root": str(synth_root)}, tmp_path, "reference", 64, augment=False)
    r_x, _ = next(iter(ref.val_dataloader()))
    flipped = (to_levels(r_x.flip(-1)) - to_levels(r_x)).abs()
    assert flipped.max() > 20 and flipped.mean() > 1.0


def test_pure_flip_augmentation_is_an_exact_mirror(synth_root, tmp_path):
    fast = dm_for({"root": str(synth_root)}, tmp_path, "fast", 96, augment=False)
    raw = next(iter(fast.val_dataloader()))
    plain, _ = fast.transform_batch(raw, train=False)
    flipper = BatchTransform(96, MEAN, STD, crop_scale_min=1.0, flip_p=1.0, ratio=(1.0, 1.0))
    flipped = flipper(raw[0], augment=True)
    assert (to_levels(flipped) - to_levels(plain.flip(-1))).abs().max() <= TOL_LEVELS
    on_device = flipper._on_device(raw[0].permute(0, 3, 1, 2), True, None)
    # device path samples the crop straight at 96 px without antialias: same as upsampling
    assert (to_levels(on_device) - to_levels(plain.flip(-1))).abs().max() <= TOL_LEVELS


def test_random_crops_differ_per_image_and_follow_the_generator(synth_root, tmp_path):
    bt = BatchTransform(48, MEAN, STD, crop_scale_min=0.3)
    images = torch.from_numpy(
        np.stack(
            [np.asarray(Image.open(p).convert("RGB")) for p, _ in scan_tiny_imagenet(synth_root).val[:1]] * 8
        )
    )
    a = bt(images, augment=True, generator=torch.Generator().manual_seed(1))
    b = bt(images, augment=True, generator=torch.Generator().manual_seed(1)).clone()
    c = bt(images, augment=True, generator=torch.Generator().manual_seed(2))
    assert a.shape == (8, 3, 48, 48)
    assert torch.equal(a, b)
    assert not torch.equal(b, c)
    assert len({tuple(x.flatten()[:50].tolist()) for x in b}) == 8  # one image, eight different crops
    theta = bt.random_theta(1000, torch.Generator().manual_seed(0))
    area = theta[:, 0, 0].abs() * theta[:, 1, 1]
    assert area.min() >= 0.3 - 1e-6 and area.max() <= 1.0 + 1e-6
    # the crop stays inside the image
    assert ((theta[:, 0, 2].abs() + theta[:, 0, 0].abs()) <= 1 + 1e-6).all()
    assert 0.4 < (theta[:, 0, 0] < 0).float().mean() < 0.6  # flips at p = 0.5


def test_cache_reused_then_rebuilt_when_a_source_changes(tmp_path):
    root = generate_synthetic_tiny_imagenet(tmp_path / "tree", SPEC, progress=False)
    paths = [p for p, _ in scan_tiny_imagenet(root).train]
    npy = build_uint8_cache(paths, tmp_path / "c", key="train", source_root=root, progress=False)
    npy_again = build_uint8_cache(paths, tmp_path / "c", key="train", source_root=root, progress=False)
    assert npy == npy_again
    before = np.load(npy)
    st = npy.stat()
    # an unchanged source is not rebuilt (same inode and mtime)
    assert (npy.stat().st_ino, npy.stat().st_mtime_ns) == (st.st_ino, st.st_mtime_ns)
    assert before.shape == (15, 64, 64, 3)
    assert np.array_equal(before[4], np.asarray(Image.open(paths[4]).convert("RGB")))
    # rewrite one source image with other pixels
    Image.fromarray(np.full((64, 64, 3), 200, np.uint8)).save(paths[4], quality=95)
    os.utime(paths[4], ns=(st.st_mtime_ns + 10**9, st.st_mtime_ns + 10**9))
    npy2 = build_uint8_cache(paths, tmp_path / "c", key="train", source_root=root, progress=False)
    after = np.load(npy2)
    assert np.abs(after[4].astype(int) - 200).max() <= 2
    assert np.array_equal(after[3], before[3])
    meta = json.loads(cache_paths(tmp_path / "c", "train", root, 64)[1].read_text())
    assert meta["count"] == 15 and meta["image_px"] == 64
    # a removed file changes the list: rebuilt with one row fewer
    npy3 = build_uint8_cache(paths[:-1], tmp_path / "c", key="train", source_root=root, progress=False)
    assert np.load(npy3).shape[0] == 14


def test_multiprocess_cache_build_equals_single_process(tmp_path):
    root = generate_synthetic_tiny_imagenet(tmp_path / "tree", SPEC, progress=False)
    paths = [p for p, _ in scan_tiny_imagenet(root).train]
    one = np.load(build_uint8_cache(paths, tmp_path / "a", key="t", source_root=root, progress=False))
    two = np.load(
        build_uint8_cache(
            paths, tmp_path / "b", key="t", source_root=root, num_workers=2, chunk_images=4, progress=False
        )
    )
    assert np.array_equal(one, two)


def test_cache_resizes_other_sizes_to_cache_px(tmp_path):
    root = generate_synthetic_tiny_imagenet(tmp_path / "tree", SPEC, progress=False)
    paths = [p for p, _ in scan_tiny_imagenet(root).val]
    arr = np.load(
        build_uint8_cache(paths, tmp_path / "c", key="v", source_root=root, image_px=32, progress=False)
    )
    assert arr.shape == (12, 32, 32, 3)


def test_getitems_matches_getitem_in_any_order(tmp_path):
    arr = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.uint8, shape=(10, 4, 4, 3))
    arr[:] = np.arange(10, dtype=np.uint8)[:, None, None, None]
    arr.flush()
    ds = CachedImageDataset(
        tmp_path / "x.npy", labels=np.arange(6) * 10, positions=np.array([9, 2, 5, 0, 7, 3])
    )
    imgs, labels = ds.__getitems__([4, 0, 5, 1])
    assert imgs.dtype == torch.uint8 and imgs.shape == (4, 4, 4, 3)
    assert imgs[:, 0, 0, 0].tolist() == [7, 9, 3, 2]
    assert labels.tolist() == [40, 0, 50, 10]
    single = [ds[i] for i in [4, 0, 5, 1]]
    assert all(torch.equal(s[0], imgs[k]) and s[1] == labels[k] for k, s in enumerate(single))
    import pickle

    ds._rows()
    clone = pickle.loads(pickle.dumps(ds))  # what a worker process receives
    assert clone._array is None and torch.equal(clone.__getitems__([4])[0], imgs[:1])


def test_buffer_pool_never_recycles_a_buffer_in_use():
    pool = _CpuBufferPool(max_buffers=4)
    shape = (2, 3, 4, 4)
    a = pool.get(shape)
    assert pool.get(shape).data_ptr() != a.data_ptr()  # `a` is still referenced
    view = a[:, 0]
    ptr = a.data_ptr()
    del a
    assert all(pool.get(shape).data_ptr() != ptr for _ in range(3))  # a view is still alive
    del view
    w = torch.ones(2, 3, 4, 4, requires_grad=True)
    b = pool.get(shape)
    loss = (b * w).sum()  # autograd saves `b` for the backward pass
    ptr_b = b.data_ptr()
    del b
    assert all(pool.get(shape).data_ptr() != ptr_b for _ in range(3))
    del loss
    ptrs = {pool.get(shape).data_ptr() for _ in range(3)}
    assert ptrs & {ptr, ptr_b}  # released buffers are recycled


def test_buffer_pool_keeps_inference_and_normal_tensors_apart():
    pool = _CpuBufferPool()
    shape = (2, 3, 4, 4)
    with torch.inference_mode():
        pool.get(shape).fill_(1.0)  # e.g. a validation batch
    out = pool.get(shape)  # training batch: must be writable outside inference mode
    assert not out.is_inference()
    out.fill_(2.0)
    del out
    with torch.inference_mode():
        assert pool.get(shape).is_inference()


def test_transform_output_is_not_overwritten_while_held(synth_root, tmp_path):
    fast = dm_for({"root": str(synth_root)}, tmp_path, "fast", 48, augment=False)
    raw = next(iter(fast.val_dataloader()))
    first, _ = fast.transform_batch(raw, train=False)
    keep = first.clone()
    for _ in range(6):
        fast.transform_batch((raw[0].flip(1).contiguous(), raw[1]), train=False)
    assert torch.equal(first, keep)


def test_lightning_hook_transforms_on_the_batch_device(synth_root, tmp_path):
    import lightning.pytorch as pl

    # batch_size 4: validation and training batches share a shape, so recycled CPU
    # output buffers are handed from one stage to the other
    fast = dm_for({"root": str(synth_root)}, tmp_path, "fast", 40, augment=True, batch_size=4)
    raw = next(iter(fast.train_dataloader()))
    x, y = fast.on_after_batch_transfer(raw, 0)  # no trainer: eval transform
    assert x.shape == (len(y), 3, 40, 40) and x.dtype == torch.float32

    class Probe(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(3))
            self.batches = []

        def training_step(self, batch, _):
            self.batches.append(("train", batch[0].dtype, tuple(batch[0].shape), batch[0].device.type))
            return (batch[0].mean((0, 2, 3)) * self.w).sum()

        def validation_step(self, batch, _):
            self.batches.append(("val", batch[0].dtype, tuple(batch[0].shape), batch[0].device.type))

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    flags = []
    original = fast.transform_batch

    def recording(batch, *, train):
        flags.append(train)
        return original(batch, train=train)

    fast.transform_batch = recording
    probe = Probe()
    trainer = pl.Trainer(
        max_epochs=1,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
    )
    trainer.fit(probe, datamodule=fast)
    # augmentation only for training batches: sanity-check + val batches run with train=False
    assert [b[0] == "train" for b in probe.batches] == flags
    kinds = {b[0] for b in probe.batches}
    assert kinds == {"train", "val"}
    assert all(b[1] == torch.float32 and b[2][1:] == (3, 40, 40) and b[3] == "cpu" for b in probe.batches)


def test_loader_workers_setting(synth_root, tmp_path):
    base = {"root": str(synth_root), "cache_dir": str(tmp_path / "c"), "num_workers": 2}

    def mk(**kw):
        return build_datamodule(DataConfig(**base, **kw), image_size=32, mean=MEAN, std=STD, progress=False)

    assert mk(pipeline="fast").loader_workers == 0  # in-process slices by default
    assert mk(pipeline="fast", fast_num_workers=None).loader_workers == 2
    assert mk(pipeline="reference").loader_workers == 2


def test_fast_batches_from_worker_processes(synth_root, tmp_path):
    """The memmap dataset survives being sent to worker processes (opened lazily there)."""
    cfg = DataConfig(
        root=str(synth_root),
        cache_dir=str(tmp_path / "c"),
        num_workers=2,
        fast_num_workers=None,
        batch_size=4,
        augment=False,
    )
    dm = build_datamodule(cfg, image_size=32, mean=MEAN, std=STD, progress=False)
    dm.setup("fit")
    loader = dm.val_dataloader()
    assert loader.num_workers == 2
    labels = torch.cat([dm.transform_batch(b, train=False)[1] for b in loader])
    assert labels.tolist() == [lab for _, lab in dm.index.val]

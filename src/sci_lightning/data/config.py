"""Hydra schema for the ``data/`` config group (owned by the data layer)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class DataConfig:
    """Settings of the ``data`` config key.

    ``name`` picks the dataset: ``tiny_imagenet`` (the official tree under ``root``) or
    ``synthetic`` (generated into ``cache_dir`` in the same on-disk layout, then read by
    the same loader). ``pipeline`` picks the input path: ``fast`` (images decoded once
    into a uint8 cache, resize/augment/normalize done batched on the training device)
    or ``reference`` (per-image PIL + torchvision transforms in the workers).
    """

    name: str = "tiny_imagenet"  # tiny_imagenet | synthetic
    # Directory holding wnids.txt (e.g. .../tiny-imagenet-200). None: $TINY_IMAGENET_ROOT,
    # else <cache_dir>/tiny-imagenet-200. Resolved in code, not through ${oc.env:...}.
    root: str | None = None
    download: bool = False  # fetch + MD5-check + extract the official zip when root is missing
    download_url: str | None = None  # None: the official cs231n URL (set for a mirror)
    download_md5: str | None = None  # None: the official zip's MD5 (90528d7ca1a48142e341f4ef8d21d0de)
    batch_size: int = 64
    num_workers: int = 2
    pin_memory: bool = False
    persistent_workers: bool = False
    pipeline: str = "fast"  # fast | reference
    augment: bool = True  # random resized crop + horizontal flip on the train split
    # None: $SCI_LIGHTNING_CACHE, else ~/.cache/sci_lightning
    cache_dir: str | None = None
    # synthetic dataset
    synthetic_classes: int = 10
    synthetic_train_per_class: int = 50
    synthetic_val_per_class: int = 10
    synthetic_image_px: int = 64
    seed: int = 0
    # optional subsets (deterministic from `seed`); None: everything
    max_classes: int | None = None  # the first N classes in wnids.txt order
    max_train_images: int | None = None
    max_val_images: int | None = None
    # augmentation (train split only, when augment=true)
    crop_scale_min: float = 0.35  # smallest crop area as a fraction of the image
    flip_p: float = 0.5
    # fast pipeline: DataLoader workers serving the uint8 batches. A batch is one memmap
    # slice (< 1 ms), so handing it over from worker processes costs the main process more
    # than reading it itself; 0 (default) reads in-process. None: use num_workers.
    # num_workers still sets the processes that decode images when the cache is built.
    fast_num_workers: int | None = 0
    # fast pipeline: side of the cached uint8 images; None: the first train image's size
    # (64 for Tiny ImageNet, which then caches the decoded pixels unchanged)
    cache_image_px: int | None = None

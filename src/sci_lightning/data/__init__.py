"""Data layer: Tiny ImageNet (official layout), its synthetic stand-in, and the fast input path.

Public API::

    from sci_lightning.data import DataConfig, build_datamodule
    dm = build_datamodule(cfg.data, image_size=224, mean=(...), std=(...))
    dm.validate()            # DatasetError (what is missing, how to get it) before training
    dm.num_classes, dm.class_names
"""

from ..settings import DataConfig
from .download import TINY_IMAGENET_MD5, TINY_IMAGENET_URL, download_tiny_imagenet
from .fast import BatchTransform, CachedImageDataset, build_uint8_cache
from .synthetic import SyntheticSpec, generate_synthetic_tiny_imagenet, synthetic_root
from .tiny_imagenet import (
    ImageListDataset,
    TinyImageNetDataModule,
    TinyImageNetIndex,
    build_datamodule,
    load_rgb,
    reference_transform,
    resolve_cache_dir,
    resolve_root,
    scan_tiny_imagenet,
)

__all__ = [
    "TINY_IMAGENET_MD5",
    "TINY_IMAGENET_URL",
    "BatchTransform",
    "CachedImageDataset",
    "DataConfig",
    "ImageListDataset",
    "SyntheticSpec",
    "TinyImageNetDataModule",
    "TinyImageNetIndex",
    "build_datamodule",
    "build_uint8_cache",
    "download_tiny_imagenet",
    "generate_synthetic_tiny_imagenet",
    "load_rgb",
    "reference_transform",
    "resolve_cache_dir",
    "resolve_root",
    "scan_tiny_imagenet",
    "synthetic_root",
]

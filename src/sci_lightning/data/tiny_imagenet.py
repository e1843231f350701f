"""Tiny ImageNet: the on-disk layout, its validation, the per-image reference path and
the LightningDataModule that serves both input pipelines.

Layout read (the official ``tiny-imagenet-200.zip``; ``data=synthetic`` writes the same)::

    <root>/wnids.txt                       one wnid per line: defines the class indices
    <root>/words.txt                       wnid<TAB>words (optional: names fall back to wnids)
    <root>/train/<wnid>/images/*.JPEG      training images of that class
    <root>/train/<wnid>/<wnid>_boxes.txt   bounding boxes (not used for classification)
    <root>/val/images/*.JPEG               validation images
    <root>/val/val_annotations.txt         filename<TAB>wnid<TAB>x0<TAB>y0<TAB>x1<TAB>y1

Class indices: **the order of wnids.txt** (not sorted order). Index ``i`` is the wnid on
line ``i + 1`` of wnids.txt, for train and val alike, so a model trained here reports the
same indices as any other tool that follows the official file. (torchvision's
``ImageFolder`` sorts the folder names instead; for the official file both orders differ.)

Sample order: train images class by class in wnids.txt order, file names sorted within a
class; val images in the line order of val_annotations.txt.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from sci_lightning.errors import ConfigError, DatasetError
from sci_lightning.sci.preparation import PreparationFigures

from ..settings import DataConfig, EnergyConfig, coerce
from .images import load_rgb

IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")
ROOT_ENV = "TINY_IMAGENET_ROOT"
CACHE_ENV = "SCI_LIGHTNING_CACHE"


# --------------------------------------------------------------------------- paths


def resolve_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """The cache folder: ``cache_dir`` if given, else ``$SCI_LIGHTNING_CACHE``, else
    ``~/.cache/sci_lightning``."""
    if cache_dir:
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "sci_lightning"


def resolve_root(root: str | os.PathLike | None, cache_dir: str | os.PathLike | None = None) -> Path:
    """The Tiny ImageNet root (the folder holding wnids.txt): ``root`` if given, else
    ``$TINY_IMAGENET_ROOT``, else ``<cache_dir>/tiny-imagenet-200``."""
    if root:
        return Path(root).expanduser()
    env = os.environ.get(ROOT_ENV)
    if env:
        return Path(env).expanduser()
    return resolve_cache_dir(cache_dir) / "tiny-imagenet-200"


def how_to_get(root: Path) -> str:
    """The fix appended to every 'dataset missing/malformed' message."""
    from .download import TINY_IMAGENET_MD5, TINY_IMAGENET_URL

    return (
        f"To fix: download {TINY_IMAGENET_URL} (MD5 {TINY_IMAGENET_MD5}) and unzip it so that "
        f"'{root / 'wnids.txt'}' exists (or point data.root / ${ROOT_ENV} at the unzipped "
        "'tiny-imagenet-200' folder); or run with data.download=true to download, verify and "
        "extract it there automatically; or run with data=synthetic to use a generated "
        "stand-in in the same layout."
    )


# --------------------------------------------------------------------------- index


@dataclass
class TinyImageNetIndex:
    """What a scan of the tree found: the class mapping and the (path, label) samples."""

    root: Path
    wnids: list[str]
    words: dict[str, str]
    train: list[tuple[str, int]] = field(repr=False)
    val: list[tuple[str, int]] = field(repr=False)

    @property
    def num_classes(self) -> int:
        return len(self.wnids)

    @property
    def class_names(self) -> list[str]:
        """Human-readable names (the words.txt entry, else the wnid), in index order."""
        return [self.words.get(w, w) for w in self.wnids]

    @property
    def class_to_idx(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.wnids)}


def read_wnids(path: Path, root: Path) -> list[str]:
    """The class list of wnids.txt, in file order; rejects empty files and duplicates."""
    if not path.is_file():
        raise DatasetError(f"Tiny ImageNet class list '{path}' is missing. {how_to_get(root)}")
    wnids = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not wnids:
        raise DatasetError(f"'{path}' lists no classes (it is empty). {how_to_get(root)}")
    seen: set[str] = set()
    for w in wnids:
        if w in seen:
            raise DatasetError(
                f"'{path}' lists class '{w}' twice; each wnid must appear once. {how_to_get(root)}"
            )
        if "/" in w or "\\" in w or w in (".", ".."):
            raise DatasetError(
                f"'{path}' holds '{w}', which is not a wnid (a folder name). {how_to_get(root)}"
            )
        seen.add(w)
    return wnids


def read_words(path: Path) -> dict[str, str]:
    """wnid -> words from words.txt; an absent file gives an empty mapping (names = wnids)."""
    if not path.is_file():
        return {}
    words: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.rstrip("\n").split("\t", 1)
        if len(parts) == 2 and parts[0].strip():
            words[parts[0].strip()] = parts[1].strip()
    return words


def read_val_annotations(path: Path, root: Path) -> list[tuple[str, str]]:
    """(file name, wnid) per line of val_annotations.txt, in file order."""
    if not path.is_file():
        raise DatasetError(f"Tiny ImageNet validation labels '{path}' are missing. {how_to_get(root)}")
    rows: list[tuple[str, str]] = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) < 2 or not parts[0].strip() or not parts[1].strip():
            raise DatasetError(
                f"'{path}' line {lineno} is malformed: expected 'filename<TAB>wnid<TAB>x0<TAB>y0<TAB>x1<TAB>y1', "
                f"got {line!r}. {how_to_get(root)}"
            )
        rows.append((parts[0].strip(), parts[1].strip()))
    if not rows:
        raise DatasetError(f"'{path}' holds no annotations. {how_to_get(root)}")
    return rows


def _list_images(folder: Path) -> list[str]:
    with os.scandir(folder) as it:
        return sorted(e.name for e in it if e.is_file() and e.name.lower().endswith(IMAGE_SUFFIXES))


def scan_tiny_imagenet(root: str | os.PathLike) -> TinyImageNetIndex:
    """Read the class mapping and list every train/val image; raise DatasetError naming
    the first thing missing or malformed (with how to fix it). Reads no image data."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"Tiny ImageNet root '{root}' does not exist. {how_to_get(root)}")
    wnids = read_wnids(root / "wnids.txt", root)
    words = read_words(root / "words.txt")
    class_to_idx = {w: i for i, w in enumerate(wnids)}

    train: list[tuple[str, int]] = []
    train_dir = root / "train"
    if not train_dir.is_dir():
        raise DatasetError(f"Tiny ImageNet training folder '{train_dir}' is missing. {how_to_get(root)}")
    for label, wnid in enumerate(wnids):
        images_dir = train_dir / wnid / "images"
        if not images_dir.is_dir():
            raise DatasetError(
                f"Training images of class '{wnid}' (line {label + 1} of wnids.txt) are missing: "
                f"'{images_dir}' does not exist. {how_to_get(root)}"
            )
        names = _list_images(images_dir)
        if not names:
            raise DatasetError(
                f"'{images_dir}' holds no images (*.JPEG) for class '{wnid}'. {how_to_get(root)}"
            )
        train.extend((str(images_dir / n), label) for n in names)

    val_dir = root / "val"
    rows = read_val_annotations(val_dir / "val_annotations.txt", root)
    val_images = val_dir / "images"
    if not val_images.is_dir():
        raise DatasetError(
            f"Tiny ImageNet validation images folder '{val_images}' is missing. {how_to_get(root)}"
        )
    present = set(_list_images(val_images))
    val: list[tuple[str, int]] = []
    for name, wnid in rows:
        if wnid not in class_to_idx:
            raise DatasetError(
                f"'{val_dir / 'val_annotations.txt'}' labels '{name}' with class '{wnid}', which is not in "
                f"wnids.txt: the annotations and the class list come from different datasets. {how_to_get(root)}"
            )
        if name not in present:
            raise DatasetError(
                f"Validation image '{val_images / name}' (listed in val_annotations.txt) is missing. {how_to_get(root)}"
            )
        val.append((str(val_images / name), class_to_idx[wnid]))
    return TinyImageNetIndex(root=root, wnids=wnids, words=words, train=train, val=val)


def restrict_index(
    index: TinyImageNetIndex,
    *,
    max_classes: int | None = None,
    max_train_images: int | None = None,
    max_val_images: int | None = None,
    seed: int = 0,
) -> tuple[TinyImageNetIndex, np.ndarray, np.ndarray]:
    """A subset of ``index`` and, per split, the positions of the kept samples in the full
    split (so a cache built over the full split serves any subset).

    ``max_classes`` keeps the first N classes of wnids.txt (indices unchanged);
    ``max_*_images`` keep a seeded random subset, listed in the original order.
    """
    train_pos = np.arange(len(index.train))
    val_pos = np.arange(len(index.val))
    wnids = index.wnids
    if max_classes is not None:
        if max_classes < 1:
            raise ConfigError(f"data.max_classes={max_classes} must be >= 1 (or null for all classes)")
        wnids = wnids[:max_classes]
        k = len(wnids)
        train_pos = np.array([i for i in train_pos if index.train[i][1] < k], dtype=np.int64)
        val_pos = np.array([i for i in val_pos if index.val[i][1] < k], dtype=np.int64)
    rng = np.random.default_rng(seed)
    for name, limit in (("max_train_images", max_train_images), ("max_val_images", max_val_images)):
        if limit is None:
            continue
        if limit < 1:
            raise ConfigError(f"data.{name}={limit} must be >= 1 (or null for every image)")
        pos = train_pos if name == "max_train_images" else val_pos
        if limit < len(pos):
            pos = np.sort(rng.choice(pos, size=limit, replace=False))
        if name == "max_train_images":
            train_pos = pos
        else:
            val_pos = pos
    sub = TinyImageNetIndex(
        root=index.root,
        wnids=list(wnids),
        words=index.words,
        train=[index.train[i] for i in train_pos],
        val=[index.val[i] for i in val_pos],
    )
    return sub, np.asarray(train_pos, dtype=np.int64), np.asarray(val_pos, dtype=np.int64)


# --------------------------------------------------------------------------- reference path


def reference_transform(
    image_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    *,
    train: bool = False,
    crop_scale_min: float = 0.35,
    flip_p: float = 0.5,
):
    """The per-image torchvision transform of the reference path.

    Eval (and train without augmentation): Resize to image_size x image_size (PIL bilinear,
    antialiased) -> ToTensor -> Normalize(mean, std). Train with augmentation:
    RandomResizedCrop(image_size, scale=(crop_scale_min, 1)) -> RandomHorizontalFlip(flip_p)
    -> ToTensor -> Normalize.
    """
    from torchvision import transforms as T

    if train:
        head = [
            T.RandomResizedCrop((image_size, image_size), scale=(crop_scale_min, 1.0), antialias=True),
            T.RandomHorizontalFlip(flip_p),
        ]
    else:
        head = [
            T.Resize((image_size, image_size), interpolation=T.InterpolationMode.BILINEAR, antialias=True)
        ]
    return T.Compose([*head, T.ToTensor(), T.Normalize(list(mean), list(std))])


class ImageListDataset(Dataset):
    """(path, label) samples -> (transformed image, label), one PIL decode per item."""

    def __init__(self, samples: Sequence[tuple[str, int]], transform=None):
        self.samples = list(samples)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int):
        path, label = self.samples[i]
        img = load_rgb(path)
        if self.transform is not None:
            try:
                img = self.transform(img)
            except Exception as exc:
                raise DatasetError(f"Transforming image '{path}' failed: {exc}") from exc
        return img, label


# --------------------------------------------------------------------------- datamodule


class TinyImageNetDataModule(pl.LightningDataModule):
    """Tiny ImageNet (or its synthetic stand-in) for image classification.

    Batches that reach ``training_step`` / ``validation_step`` are ``(images, labels)``:
    float32 images of shape (N, 3, image_size, image_size) normalized with the model's
    ``mean``/``std``, and int64 labels (indices in wnids.txt order).

    ``pipeline="reference"``: workers decode each JPEG with PIL and apply torchvision
    transforms (:func:`reference_transform`).
    ``pipeline="fast"``: every image is decoded once into a uint8 cache on disk
    (:mod:`sci_lightning.data.fast`); workers hand out uint8 batches sliced from it, and
    :meth:`on_after_batch_transfer` converts, resizes, augments and normalizes the whole
    batch on the device it was moved to (the GPU when training there). Fast-path images
    are (N, 3, H, W) tensors in channels_last memory format.

    Args:
        cfg: the ``data`` settings (:class:`DataConfig`).
        image_size: side of the model's input, e.g. 299 for InceptionV3, 224 for DenseNet.
        mean, std: the model's normalization (e.g. from timm's pretrained_cfg).

    Example::

        dm = build_datamodule(cfg.data, image_size=224, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
        dm.validate()              # DatasetError with the fix, before any model is built
        model = make_model(num_classes=dm.num_classes)
        trainer.fit(model, datamodule=dm)
    """

    def __init__(
        self,
        cfg: DataConfig,
        *,
        image_size: int,
        mean: Sequence[float],
        std: Sequence[float],
        progress: bool = True,
    ):
        super().__init__()
        _check_arguments(image_size, mean, std)
        cfg = coerce(DataConfig, cfg, "data")
        self.cfg = cfg
        self.image_size = int(image_size)
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.progress = progress
        self.cache_dir = resolve_cache_dir(cfg.cache_dir)
        if cfg.name == "synthetic":
            from .synthetic import SyntheticSpec, synthetic_root

            self.synthetic_spec = SyntheticSpec.from_config(cfg)
            self.root = synthetic_root(self.cache_dir, self.synthetic_spec)
        else:
            self.synthetic_spec = None
            self.root = resolve_root(cfg.root, cfg.cache_dir)
        self.index: TinyImageNetIndex | None = None
        self._full_index: TinyImageNetIndex | None = None
        self._positions: dict[str, np.ndarray] = {}
        self.train_dataset: Dataset | None = None
        self.val_dataset: Dataset | None = None
        self._batch_transform = None
        #: Data preparation (SCI for AI): the decode-cache builds this module used, measured
        #: (see :func:`sci_lightning.data.fast.build_uint8_cache`); written to the run's preparation.json.
        self.preparation: list[PreparationFigures] = []
        self.preparation_energy: EnergyConfig | None = None  # the meters' settings (default: EnergyConfig())
        self.preparation_pue: float = 1.0  # facility factor applied to a build's IT energy

    # -- public facts ---------------------------------------------------------------

    @property
    def num_classes(self) -> int:
        return self._require_index().num_classes

    @property
    def class_names(self) -> list[str]:
        return self._require_index().class_names

    @property
    def wnids(self) -> list[str]:
        return list(self._require_index().wnids)

    def _require_index(self) -> TinyImageNetIndex:
        if self.index is None:
            raise RuntimeError("call validate() (or setup()) before reading num_classes / class_names")
        return self.index

    # -- preparation ----------------------------------------------------------------

    def _materialize(self) -> None:
        """Make the tree exist: generate the synthetic set, or download when allowed."""
        if self.synthetic_spec is not None:
            from .synthetic import generate_synthetic_tiny_imagenet

            generate_synthetic_tiny_imagenet(self.root, self.synthetic_spec, progress=self.progress)
        elif self.cfg.download and not (self.root / "wnids.txt").is_file():
            from .download import TINY_IMAGENET_MD5, TINY_IMAGENET_URL, download_tiny_imagenet

            download_tiny_imagenet(
                self.root,
                url=self.cfg.download_url or TINY_IMAGENET_URL,
                md5=self.cfg.download_md5 or TINY_IMAGENET_MD5,
                progress=self.progress,
            )

    def validate(self) -> None:
        """Check the dataset before any model or trainer is built.

        Generates the synthetic set / downloads the official zip first when configured
        to, then reads wnids.txt, words.txt, val_annotations.txt and lists every image
        (no image is decoded). Raises DatasetError saying what is missing and how to get
        it. Afterwards ``num_classes`` and ``class_names`` are available.
        """
        self._materialize()
        full = scan_tiny_imagenet(self.root)
        sub, train_pos, val_pos = restrict_index(
            full,
            max_classes=self.cfg.max_classes,
            max_train_images=self.cfg.max_train_images,
            max_val_images=self.cfg.max_val_images,
            seed=self.cfg.seed,
        )
        if not sub.train or not sub.val:
            raise DatasetError(
                f"The selected subset of '{self.root}' has no train or no val images; raise data.max_* ."
            )
        self._full_index, self.index = full, sub
        self._positions = {"train": train_pos, "val": val_pos}

    def prepare_data(self) -> None:
        """Lightning hook (one process per node): generate/download, then build the fast
        cache so that the workers of every rank find it ready."""
        if self.index is None:
            self.validate()
        if self.cfg.pipeline == "fast":
            for split in ("train", "val"):
                self._cache_path(split)

    def _cache_path(self, split: str) -> Path:
        from .fast import build_uint8_cache

        assert self._full_index is not None
        samples = self._full_index.train if split == "train" else self._full_index.val
        return build_uint8_cache(
            [p for p, _ in samples],
            self.cache_dir / "fast",
            key=f"{split}",
            source_root=self.root,
            image_px=self.cfg.cache_image_px,
            num_workers=self.cfg.num_workers,
            progress=self.progress,
            records=self.preparation,
            energy=self.preparation_energy,
            pue=self.preparation_pue,
        )

    def setup(self, stage: str | None = None) -> None:
        """Build the train and val datasets of the configured pipeline."""
        if self.index is None:
            self.validate()
        assert self.index is not None
        if self.cfg.pipeline == "reference":
            c = self.cfg
            train_tf = reference_transform(
                self.image_size,
                self.mean,
                self.std,
                train=c.augment,
                crop_scale_min=c.crop_scale_min,
                flip_p=c.flip_p,
            )
            val_tf = reference_transform(self.image_size, self.mean, self.std, train=False)
            self.train_dataset = ImageListDataset(self.index.train, train_tf)
            self.val_dataset = ImageListDataset(self.index.val, val_tf)
        else:
            from .fast import BatchTransform, CachedImageDataset

            labels = {
                s: np.array([lab for _, lab in getattr(self.index, s)], dtype=np.int64)
                for s in ("train", "val")
            }
            self.train_dataset = CachedImageDataset(
                self._cache_path("train"), labels["train"], self._positions["train"]
            )
            self.val_dataset = CachedImageDataset(
                self._cache_path("val"), labels["val"], self._positions["val"]
            )
            self._batch_transform = BatchTransform(
                self.image_size,
                self.mean,
                self.std,
                crop_scale_min=self.cfg.crop_scale_min,
                flip_p=self.cfg.flip_p,
            )

    # -- loaders --------------------------------------------------------------------

    @property
    def loader_workers(self) -> int:
        """DataLoader worker processes of this pipeline (see ``DataConfig.fast_num_workers``)."""
        c = self.cfg
        if c.pipeline == "fast" and c.fast_num_workers is not None:
            return int(c.fast_num_workers)
        return int(c.num_workers)

    def _loader(self, dataset: Dataset, *, shuffle: bool) -> DataLoader:
        c = self.cfg
        workers = self.loader_workers
        kwargs: dict[str, Any] = dict(
            batch_size=c.batch_size,
            shuffle=shuffle,
            num_workers=workers,
            pin_memory=c.pin_memory,
            persistent_workers=bool(c.persistent_workers and workers > 0),
            drop_last=False,
        )
        if c.pipeline == "fast":
            from .fast import collate_prebatched

            kwargs["collate_fn"] = collate_prebatched
            if workers == 0:
                # in-process by design (see DataConfig.fast_num_workers): Lightning's
                # "does not have many workers" hint does not apply to these loaders
                warnings.filterwarnings(
                    "ignore",
                    message=r"The '(train|val)_dataloader' does not have many workers",
                    category=UserWarning,
                )
        return DataLoader(dataset, **kwargs)

    def train_dataloader(self) -> DataLoader:
        if self.train_dataset is None:
            self.setup("fit")
        assert self.train_dataset is not None  # setup() builds both datasets
        return self._loader(self.train_dataset, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        if self.val_dataset is None:
            self.setup("validate")
        assert self.val_dataset is not None
        return self._loader(self.val_dataset, shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        """The validation images: what the app's inference measurement classifies (``inference.*``)."""
        return self.val_dataloader()

    def test_dataloader(self) -> DataLoader:
        """The validation images (Tiny ImageNet's test split has no labels)."""
        return self.val_dataloader()

    # -- device-side transform ------------------------------------------------------

    def transform_batch(
        self, batch: torch.Tensor | Sequence[torch.Tensor], *, train: bool
    ) -> torch.Tensor | Sequence[torch.Tensor]:
        """Turn a fast-path uint8 batch into model-ready floats on the batch's device;
        reference-path (already float) batches pass through unchanged."""
        if not isinstance(batch, (tuple, list)):  # an image batch alone (the model summary's example)
            return batch
        images, labels = batch
        if images.dtype != torch.uint8 or self._batch_transform is None:
            return batch
        augment = bool(train and self.cfg.augment)
        return self._batch_transform(images, augment=augment), labels

    def on_after_batch_transfer(
        self, batch: torch.Tensor | Sequence[torch.Tensor], dataloader_idx: int
    ) -> torch.Tensor | Sequence[torch.Tensor]:
        """Lightning hook: the fast path's resize/augment/normalize, on the batch's device.
        Augments only while the trainer is fitting (not in validation or sanity checks)."""
        trainer = getattr(self, "trainer", None)
        train = bool(trainer is not None and trainer.training)
        return self.transform_batch(batch, train=train)


def _check_arguments(image_size: int, mean: Sequence[float], std: Sequence[float]) -> None:
    """The arguments that are not settings (the data settings are checked by ``coerce``)."""
    if int(image_size) < 1:
        raise ConfigError(f"image_size={image_size} must be >= 1")
    if len(mean) != 3 or len(std) != 3 or any(float(s) <= 0 for s in std):
        raise ConfigError(f"mean/std must be 3 values with std > 0, got mean={tuple(mean)}, std={tuple(std)}")


def build_datamodule(
    cfg: DataConfig,
    *,
    image_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    progress: bool = True,
) -> TinyImageNetDataModule:
    """The LightningDataModule for ``cfg`` (``name`` = tiny_imagenet | synthetic).

    Accepts the dataclass or a Hydra/OmegaConf node with the same keys. Cheap: nothing is
    read until ``validate()`` / ``prepare_data()`` / ``setup()``.
    """
    cfg = coerce(DataConfig, cfg, "data")
    return TinyImageNetDataModule(cfg, image_size=image_size, mean=mean, std=std, progress=progress)

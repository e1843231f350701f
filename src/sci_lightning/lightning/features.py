"""Cached backbone features (``model.cache_features=true``): run a frozen backbone once.

When only the classifier head is trained, the frozen backbone computes the same pooled
features for an image every epoch. :func:`compute_features` runs it once over a
dataloader (in eval mode, without augmentation, on the given device, under
``torch.inference_mode``) and returns the pooled features with their labels as a
``TensorDataset``; the head then trains on those for as many epochs as wanted, at a
small fraction of the compute (and energy) per epoch. The one-off extraction is real
work too: run it inside the measured window so the job's energy includes it --
:class:`CachedFeaturesDataModule` (what ``train.run`` uses) does so inside ``trainer.fit``.

Example::

    backbone = timm.create_model("densenet121", pretrained=True, num_classes=0)
    dm.validate(); dm.prepare_data(); dm.setup("fit")
    fdm = feature_datamodule(backbone, dm, device="cuda", batch_size=256)
    head = torch.nn.Linear(fdm.feature_dim, dm.num_classes)
"""

from __future__ import annotations

import hashlib
import pickle
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightning.pytorch as pl
import torch
from torch import nn
from torch.utils.data import TensorDataset

from sci_lightning.fileio import atomic_write
from sci_lightning.sci.preparation import PreparationFigures, measure_build

if TYPE_CHECKING:
    from sci_lightning.data.tiny_imagenet import TinyImageNetDataModule

#: Stated in the report (software boundary) and the run summary of a cache_features run.
CACHE_FEATURES_NOTE = (
    "Head-only training with model.cache_features=true: at the start of the job the frozen backbone computed "
    "the pooled features of every train and val image once (without augmentation), and every epoch then "
    "trained and validated the classifier head on those cached features instead of re-running the backbone. "
    "The extraction ran inside the measured window, so its energy is included; compare with runs without "
    "cache_features knowing that they repeat the backbone's forward pass each epoch."
)


def pooled_features(backbone: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """(N, D) pooled pre-logit features of ``images`` from a timm model (or any module).

    timm models: ``forward_head(forward_features(x), pre_logits=True)``, i.e. the global
    pooled features the classifier would see, whatever ``num_classes`` the model was
    built with. Other modules: their output, flattened to (N, D).
    """
    if hasattr(backbone, "forward_features") and hasattr(backbone, "forward_head"):
        timm_model: Any = backbone  # timm's interface, which nn.Module's type does not declare
        return timm_model.forward_head(timm_model.forward_features(images), pre_logits=True).flatten(1)
    return backbone(images).flatten(1)


def compute_features(
    backbone: nn.Module,
    batches: Iterable[Any],
    *,
    device: str | torch.device | None = None,
    batch_transform: Callable[[Any], Any] | None = None,
    storage_device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    cache_file: str | Path | None = None,
    cache_key: str | None = None,
    progress: bool = True,
) -> TensorDataset:
    """Pooled features and labels of every batch, computed once with the frozen backbone.

    Args:
        backbone: the model whose features to cache (left in the train/eval mode it had).
        batches: (images, labels) batches, e.g. ``dm.val_dataloader()``; use batches
            without augmentation, the features are reused every epoch.
        device: where the backbone runs (default: where its parameters are).
        batch_transform: applied to each batch after it is moved to ``device`` (for the
            fast pipeline: ``lambda b: dm.transform_batch(b, train=False)``).
        storage_device: where the resulting features live (``"cpu"``, or the GPU to
            skip host-device copies when they fit).
        cache_file / cache_key: optional ``torch.save`` file; reused when its stored key
            equals ``cache_key`` (callers make the key from model name + weights + data).
            It is written atomically (a uniquely named temporary beside it, then renamed),
            so processes sharing it only ever see a whole file; an unreadable one is
            recomputed.
    """
    saved = _load_feature_cache(cache_file, cache_key, storage_device)
    if saved is not None:
        return saved
    run_on = _backbone_device(backbone) if device is None else torch.device(device)
    features, targets = _run_backbone(
        backbone, batches, run_on, batch_transform, storage_device, dtype, progress
    )
    if cache_file is not None and cache_key is not None:
        payload = {"key": cache_key, "features": features.cpu(), "labels": targets.cpu()}
        atomic_write(cache_file, lambda tmp: torch.save(payload, tmp))
    return TensorDataset(features, targets)


def _backbone_device(backbone: nn.Module) -> torch.device:
    """Where the backbone's parameters are (the CPU for a model without parameters)."""
    try:
        return next(backbone.parameters()).device
    except StopIteration:
        return torch.device("cpu")


def _run_backbone(
    backbone: nn.Module,
    batches: Iterable[Any],
    device: torch.device,
    batch_transform: Callable[[Any], Any] | None,
    storage_device: str | torch.device,
    dtype: torch.dtype,
    progress: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(features, labels) of every batch, the backbone in eval mode on ``device`` (its mode restored)."""
    was_training = backbone.training
    backbone.to(device).eval()
    feats: list[torch.Tensor] = []
    labels: list[torch.Tensor] = []
    n = 0
    try:
        with torch.inference_mode():
            for batch in batches:
                images, y = batch
                images = images.to(device, non_blocking=True)
                y = torch.as_tensor(y).to(device, non_blocking=True)
                if batch_transform is not None:
                    images, y = batch_transform((images, y))
                f = pooled_features(backbone, images)
                feats.append(f.to(storage_device, dtype=dtype))
                labels.append(y.to(storage_device, dtype=torch.int64))
                n += len(y)
                if progress and len(feats) % 50 == 0:
                    print(f"features: {n} images", file=sys.stderr)
    finally:
        backbone.train(was_training)
    if not feats:
        raise ValueError("compute_features got no batches")
    return torch.cat(feats), torch.cat(labels)


def _load_feature_cache(
    cache_file: str | Path | None, cache_key: str | None, storage_device: str | torch.device
) -> TensorDataset | None:
    """The cached features when ``cache_file`` holds ``cache_key``'s; None if absent, other or unreadable."""
    if cache_file is None or cache_key is None or not Path(cache_file).is_file():
        return None
    try:
        saved = torch.load(cache_file, map_location=storage_device, weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError):
        return None  # e.g. written by an old, non-atomic version and truncated
    if not isinstance(saved, dict) or saved.get("key") != cache_key:
        return None
    return TensorDataset(saved["features"], saved["labels"])


def feature_cache_key(model_name: str, backbone: nn.Module, data_fingerprint: str) -> str:
    """A cache key from the model name, its weights and a description of the data."""
    h = hashlib.sha256(f"{model_name}|{data_fingerprint}".encode())
    for name, t in sorted(backbone.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().view(-1)[:64].float().numpy().tobytes())
    return h.hexdigest()


def feature_datamodule(
    backbone: nn.Module,
    dm: TinyImageNetDataModule,
    *,
    device: str | torch.device | None = None,
    batch_size: int = 256,
    num_workers: int = 0,
    progress: bool = True,
):
    """A LightningDataModule over cached features of ``dm``'s train and val splits.

    ``dm`` is a set-up :class:`~sci_lightning.data.TinyImageNetDataModule`; its loaders
    are iterated once each, without augmentation (``transform_batch(..., train=False)``).
    The result has ``feature_dim`` and ``num_classes`` attributes.
    """
    if getattr(dm, "train_dataset", None) is None:
        dm.setup("fit")
    if dm.train_dataset is None or dm.val_dataset is None:
        raise RuntimeError("feature_datamodule: the datamodule's setup('fit') gave no train or val dataset")
    transform = lambda b: dm.transform_batch(b, train=False)  # noqa: E731
    train_loader = dm._loader(dm.train_dataset, shuffle=False)
    val_loader = dm._loader(dm.val_dataset, shuffle=False)
    if dm.cfg.pipeline == "reference" and dm.cfg.augment:
        from sci_lightning.data.tiny_imagenet import ImageListDataset, reference_transform

        plain = reference_transform(dm.image_size, dm.mean, dm.std, train=False)
        train_loader = dm._loader(ImageListDataset(dm._require_index().train, plain), shuffle=False)
    train = compute_features(
        backbone, train_loader, device=device, batch_transform=transform, progress=progress
    )
    val = compute_features(backbone, val_loader, device=device, batch_transform=transform, progress=progress)
    fdm = pl.LightningDataModule.from_datasets(
        train_dataset=train, val_dataset=val, batch_size=batch_size, num_workers=num_workers
    )
    fdm.feature_dim = int(train.tensors[0].shape[1])  # pyright: ignore[reportAttributeAccessIssue]
    fdm.num_classes = dm.num_classes  # pyright: ignore[reportAttributeAccessIssue]
    return fdm


def _extraction_monitor(energy: Any, device: torch.device) -> Any:
    """An EnergyMonitor of the configured meters on the training device (GPU-synced at its edges)."""
    from sci_lightning.energy.monitor import EnergyMonitor

    return EnergyMonitor(config=energy, device_indices=[device.index or 0] if device.type == "cuda" else [])


class CachedFeaturesDataModule(pl.LightningDataModule):
    """Head-only training on cached features: the image datamodule's data, run through the
    frozen backbone once, inside ``trainer.fit``.

    What ``train.run`` uses for ``model.cache_features=true``. The first time Lightning asks
    for a dataloader during ``fit`` (the sanity check's val loader, else the train loader)
    the model's frozen backbone (``trainer.lightning_module.model``) computes the pooled
    features of every train and val image once: without augmentation, in eval mode, on the
    training device, under the trainer's precision (autocast for the mixed precisions) and
    ``torch.inference_mode``. Every epoch then trains and validates the classifier head on
    those features; :class:`~sci_lightning.lightning.classifier.ImageClassifier` sends a 2-D batch
    through its classifier head only.

    Why this is the same training as the image path (with ``data.augment=false``):

    * inputs -- the head sees the same pooled features it would compute from the image
      (equal up to float rounding: the backbone runs once, in dataset order, instead of
      once per shuffled batch);
    * order -- the train loader is a ``DataLoader(shuffle=True)`` with the same batch size
      as the image loader, over the samples in the same (dataset) order; both draw their
      per-epoch permutation from the global torch RNG, and the extraction runs under
      ``torch.random.fork_rng`` so it draws nothing. Same seed, same batches, same steps
      (exactly so when the image loader has no persistent workers: those draw their base
      seed once per fit instead of once per epoch).

    Why the energy is honest: Lightning requests dataloaders only after every callback's
    ``on_fit_start``, so the extraction runs inside
    :class:`~sci_lightning.lightning.callback.EnergyCarbonCallback`'s measured window, wherever it sits
    in the callback list; its energy is part of the job's E (in the first interval of the
    energy timeline).

    Costs and limits: the features live in ``storage_device`` memory (Tiny ImageNet,
    100 000 images: 0.8 GB for InceptionV3's 2048-d features, 0.4 GB for DenseNet-121's
    1024-d); every image is extracted even when ``limit_train_batches`` uses only part of
    an epoch (a shuffled epoch may draw any image); under DDP every rank extracts the whole
    dataset (its distributed sampler may draw any image in a later epoch).

    Args:
        datamodule: the image datamodule (a :class:`~sci_lightning.data.TinyImageNetDataModule`)
            with augmentation off.
        batch_size: of the feature loaders (default: the image datamodule's, which is what
            keeps the training identical).
        storage_device: where the features live (``"cpu"``; a GPU skips the copies).

    Attributes after extraction: ``feature_dim``, ``extraction_s`` (wall seconds, measured
    with ``time.perf_counter``), ``images_extracted`` (train + val).

    Example::

        dm = build_datamodule(cfg.data, image_size=75, mean=..., std=...)   # data.augment=false
        model = ImageClassifier("inception_v3", dm.num_classes, 75, freeze_backbone=True)
        trainer.fit(model, datamodule=CachedFeaturesDataModule(dm))
    """

    def __init__(
        self,
        datamodule: TinyImageNetDataModule,
        *,
        batch_size: int | None = None,
        storage_device: str | torch.device = "cpu",
        progress: bool | None = None,
    ) -> None:
        super().__init__()
        cfg = getattr(datamodule, "cfg", None)
        if bool(getattr(cfg, "augment", False)):
            from sci_lightning.errors import ConfigError

            raise ConfigError(
                "Invalid setting data.augment=true with model.cache_features=true: cached features are computed "
                "once from un-augmented images, so training on them would not be the training you configured. "
                "Set data.augment=false (or model.cache_features=false to keep augmentation)."
            )
        self.images = datamodule
        if batch_size is not None:
            self.batch_size = int(batch_size)
        elif cfg is not None:
            self.batch_size = int(cfg.batch_size)
        else:
            raise TypeError("CachedFeaturesDataModule needs batch_size= for a datamodule without a cfg")
        self.storage_device = storage_device
        self.progress = bool(getattr(datamodule, "progress", True) if progress is None else progress)
        self.train_features: TensorDataset | None = None
        self.val_features: TensorDataset | None = None
        self.feature_dim: int | None = None
        self.extraction_s: float | None = None
        self.images_extracted = 0
        self.preparation_energy: Any = None  # EnergyConfig of the extraction's own window (default settings)
        self.preparation_pue: float = 1.0
        self.feature_record: PreparationFigures | None = None

    @property
    def preparation(self) -> list[PreparationFigures]:
        """Data preparation (SCI for AI): the image module's cache builds, then the feature extraction.

        The extraction is measured as its own EnergyMonitor window; it runs inside the fit,
        so its record is marked ``within_training`` (its energy is part of the training E)."""
        own = [self.feature_record] if self.feature_record is not None else []
        return [*getattr(self.images, "preparation", []), *own]

    @property
    def num_classes(self) -> int:
        return self.images.num_classes

    # -- delegated lifecycle -----------------------------------------------------------
    def prepare_data(self) -> None:
        self.images.prepare_data()

    def setup(self, stage: str | None = None) -> None:
        self.images.setup(stage)

    def teardown(self, stage: str) -> None:  # Lightning's hook: it always names the stage
        self.images.teardown(stage)

    # -- extraction --------------------------------------------------------------------
    def extract(self) -> None:
        """Compute the train and val features once (no-op when done); needs an attached trainer."""
        if self.train_features is not None and self.val_features is not None:
            return
        import time

        trainer = getattr(self, "trainer", None)
        module = getattr(trainer, "lightning_module", None) if trainer is not None else None
        backbone = getattr(module, "model", None)
        if trainer is None or module is None or backbone is None:
            raise RuntimeError(
                "CachedFeaturesDataModule extracts features with the model being fitted: pass it to "
                "trainer.fit(model, datamodule=...) with a LightningModule whose `.model` is the timm network "
                "(sci_lightning.ImageClassifier)."
            )
        dm = self.images
        if getattr(dm, "train_dataset", None) is None or getattr(dm, "val_dataset", None) is None:
            dm.setup("fit")
        channels_last = bool(getattr(module, "hparams", {}).get("channels_last", False))

        # what the image path feeds the network
        def transform(batch: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
            x, y = dm.transform_batch(batch, train=False)
            return (x.contiguous(memory_format=torch.channels_last) if channels_last else x), y

        device = trainer.strategy.root_device
        was_training = module.training
        t0 = time.perf_counter()
        self.feature_record = measure_build(
            "feature_cache",
            lambda: self._extract(backbone, dm, device, transform, trainer),
            cache=None,
            items=lambda: self.images_extracted,
            energy=self.preparation_energy,
            pue=self.preparation_pue,
            monitor_factory=lambda energy: _extraction_monitor(energy, device),
            within_training=True,
        )
        module.train(was_training)  # compute_features restores the network's mode, not the head's
        self.extraction_s = time.perf_counter() - t0

    def _extract(
        self, backbone: nn.Module, dm: Any, device: torch.device, transform: Any, trainer: Any
    ) -> None:
        """Run the frozen backbone over the train and val images once (see :meth:`extract`)."""
        # fork_rng: the extraction loaders must not consume global RNG draws, or the train
        # loader's shuffles would differ from the image path's
        with torch.random.fork_rng(devices=[]), trainer.precision_plugin.forward_context():
            sets = [
                compute_features(
                    backbone,
                    dm._loader(ds, shuffle=False),
                    device=device,
                    batch_transform=transform,
                    storage_device=self.storage_device,
                    progress=self.progress,
                )
                for ds in (dm.train_dataset, dm.val_dataset)
            ]
        self.train_features, self.val_features = sets
        self.feature_dim = int(sets[0].tensors[0].shape[1])
        self.images_extracted = sum(len(s) for s in sets)

    # -- loaders -----------------------------------------------------------------------
    def _feature_loader(self, dataset: TensorDataset, *, shuffle: bool):
        import warnings

        from torch.utils.data import DataLoader

        # in-memory tensors: worker processes would only add copies
        warnings.filterwarnings(
            "ignore", message=r"The '(train|val)_dataloader' does not have many workers", category=UserWarning
        )
        pin = bool(getattr(getattr(self.images, "cfg", None), "pin_memory", False))
        return DataLoader(dataset, batch_size=self.batch_size, shuffle=shuffle, num_workers=0, pin_memory=pin)

    def _extracted(self) -> tuple[TensorDataset, TensorDataset]:
        self.extract()
        if self.train_features is None or self.val_features is None:  # extract() sets both or raises
            raise RuntimeError("CachedFeaturesDataModule: the feature extraction gave no features")
        return self.train_features, self.val_features

    def train_dataloader(self):
        return self._feature_loader(self._extracted()[0], shuffle=True)

    def val_dataloader(self):
        return self._feature_loader(self._extracted()[1], shuffle=False)

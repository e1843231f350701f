"""Cached backbone features (``model.cache_features=true``): run a frozen backbone once.

When only the classifier head is trained, the frozen backbone computes the same pooled
features for an image every epoch. :func:`compute_features` runs it once over a
dataloader (in eval mode, without augmentation, on the given device, under
``torch.inference_mode``) and returns the pooled features with their labels as a
``TensorDataset``; the head then trains on those for as many epochs as wanted, at a
small fraction of the compute (and energy) per epoch. The one-off extraction is real
work too: run it inside the measured window so the job's energy includes it.

Example::

    backbone = timm.create_model("densenet121", pretrained=True, num_classes=0)
    dm.validate(); dm.prepare_data(); dm.setup("fit")
    fdm = feature_datamodule(backbone, dm, device="cuda", batch_size=256)
    head = torch.nn.Linear(fdm.feature_dim, dm.num_classes)
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
from torch import nn
from torch.utils.data import TensorDataset


def pooled_features(backbone: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """(N, D) pooled pre-logit features of ``images`` from a timm model (or any module).

    timm models: ``forward_head(forward_features(x), pre_logits=True)``, i.e. the global
    pooled features the classifier would see, whatever ``num_classes`` the model was
    built with. Other modules: their output, flattened to (N, D).
    """
    if hasattr(backbone, "forward_features") and hasattr(backbone, "forward_head"):
        return backbone.forward_head(backbone.forward_features(images), pre_logits=True).flatten(1)
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
    """
    if cache_file is not None and cache_key is not None and Path(cache_file).is_file():
        saved = torch.load(cache_file, map_location=storage_device, weights_only=True)
        if saved.get("key") == cache_key:
            return TensorDataset(saved["features"], saved["labels"])
    if device is None:
        try:
            device = next(backbone.parameters()).device
        except StopIteration:
            device = torch.device("cpu")
    device = torch.device(device)
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
    features = torch.cat(feats)
    targets = torch.cat(labels)
    if cache_file is not None and cache_key is not None:
        Path(cache_file).parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(str(cache_file) + ".tmp")
        torch.save({"key": cache_key, "features": features.cpu(), "labels": targets.cpu()}, tmp)
        tmp.replace(cache_file)
    return TensorDataset(features, targets)


def feature_cache_key(model_name: str, backbone: nn.Module, data_fingerprint: str) -> str:
    """A cache key from the model name, its weights and a description of the data."""
    h = hashlib.sha256(f"{model_name}|{data_fingerprint}".encode())
    for name, t in sorted(backbone.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().view(-1)[:64].float().numpy().tobytes())
    return h.hexdigest()


def feature_datamodule(
    backbone: nn.Module,
    dm: Any,
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
    import lightning.pytorch as pl

    if getattr(dm, "train_dataset", None) is None:
        dm.setup("fit")
    transform = lambda b: dm.transform_batch(b, train=False)  # noqa: E731
    train_loader = dm._loader(dm.train_dataset, shuffle=False)
    val_loader = dm._loader(dm.val_dataset, shuffle=False)
    if dm.cfg.pipeline == "reference" and dm.cfg.augment:
        from sci_lightning.data.tiny_imagenet import ImageListDataset, reference_transform

        plain = reference_transform(dm.image_size, dm.mean, dm.std, train=False)
        train_loader = dm._loader(ImageListDataset(dm.index.train, plain), shuffle=False)
    train = compute_features(backbone, train_loader, device=device, batch_transform=transform, progress=progress)
    val = compute_features(backbone, val_loader, device=device, batch_transform=transform, progress=progress)
    fdm = pl.LightningDataModule.from_datasets(
        train_dataset=train, val_dataset=val, batch_size=batch_size, num_workers=num_workers
    )
    fdm.feature_dim = int(train.tensors[0].shape[1])
    fdm.num_classes = dm.num_classes
    return fdm

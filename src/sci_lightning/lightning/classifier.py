"""The LightningModule: any timm classifier, trained end to end or head-only."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import lightning as L
import timm
import torch
import torch.nn.functional as F
from torchmetrics.classification import MulticlassAccuracy

from sci_lightning.errors import ConfigError

if TYPE_CHECKING:
    from lightning.pytorch.utilities.types import OptimizerLRSchedulerConfig

    from sci_lightning.settings import ModelConfig

__all__ = ["ImageClassifier", "check_image_size", "check_model_name", "smallest_image_size"]


def _probe(model_name: str, image_size: int) -> bool:
    """True when ``model_name`` runs a forward pass at ``image_size`` (on the meta device: no memory, no math)."""
    try:
        with torch.device("meta"):
            net = timm.create_model(model_name, pretrained=False, num_classes=2)
            net.eval()
            net(torch.empty(1, 3, image_size, image_size))
        return True
    except RuntimeError:
        return False


def smallest_image_size(model_name: str, upper: int = 512) -> int | None:
    """The smallest square input size ``model_name`` accepts (binary search on the meta device)."""
    if not _probe(model_name, upper):
        return None
    lo, hi = 1, upper  # invariant: hi works
    while lo < hi:
        mid = (lo + hi) // 2
        if _probe(model_name, mid):
            hi = mid
        else:
            lo = mid + 1
    return hi


def check_model_name(model_name: str) -> None:
    if not timm.is_model(model_name):
        close = timm.list_models(f"*{model_name.split('_')[0]}*")[:8]
        hint = f" Similar timm models: {', '.join(close)}." if close else ""
        raise ConfigError(
            f"Invalid setting model.name: {model_name!r} is not a timm model.{hint} "
            'List them with `python -c "import timm; print(timm.list_models())"`.'
        )


def check_image_size(model_name: str, image_size: int) -> None:
    """Refuse an input size the architecture cannot process, naming the setting and the minimum."""
    if _probe(model_name, image_size):
        return
    minimum = smallest_image_size(model_name)
    need = f"at least {minimum} px" if minimum else "a larger size"
    raise ConfigError(
        f"Invalid setting model.image_size={image_size}: {model_name} needs {need} "
        f"(its stride and pooling shrink smaller inputs to nothing). Set model.image_size={minimum or 224} or more."
    )


def _read_state_dict(path: str) -> dict[str, torch.Tensor]:
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        state = load_file(path)
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model", "model_state_dict"):  # training checkpoints wrap the weights
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise TypeError(f"expected a state dict, found {type(state).__name__}")
    for prefix in ("module.", "model."):  # DDP / LightningModule prefixes
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
    return state


def load_local_weights(net: torch.nn.Module, path: str, model_name: str) -> None:
    """Load a local checkpoint into ``net``; every backbone tensor must match.

    The classifier head is taken from the file only when its shape fits the configured
    number of classes; otherwise it stays freshly initialised. A file for another
    architecture is refused (timm alone would load it silently with strict=False).
    """
    try:
        state = _read_state_dict(path)
    except Exception as exc:
        raise ConfigError(
            f"Invalid setting model.weights={path!r}: cannot read it ({type(exc).__name__}: {str(exc)[:200]}). "
            "Give a .pth/.pt/.bin state dict or a .safetensors file."
        ) from exc
    head_name = (getattr(net, "pretrained_cfg", None) or {}).get("classifier") or "fc"
    own = net.state_dict()
    state = {
        k: v
        for k, v in state.items()
        if not (k.startswith(head_name + ".") and (k not in own or own[k].shape != v.shape))
    }
    result = net.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not k.startswith(head_name + ".")]
    if missing or result.unexpected_keys:
        raise ConfigError(
            f"Invalid setting model.weights={path!r}: could not load it into {model_name}: "
            f"{len(missing)} of its tensors are missing from the file (e.g. {missing[:3]}) and "
            f"{len(result.unexpected_keys)} in the file are unknown (e.g. {result.unexpected_keys[:3]}). "
            f"Check that the file holds {model_name} weights."
        )


def create_network(
    model_name: str, num_classes: int, weights: str | None = None, drop_rate: float = 0.0
) -> torch.nn.Module:
    """``timm.create_model`` with random weights, then ``weights`` (a local file) if given."""
    net = timm.create_model(model_name, pretrained=False, num_classes=num_classes, drop_rate=drop_rate)
    if weights:
        path = os.path.expanduser(weights)
        if not os.path.isfile(path):
            raise ConfigError(
                f"Invalid setting model.weights={weights!r}: no such file. Give the path of a local "
                f"{model_name} checkpoint (.pth, .bin or .safetensors), or remove model.weights to start from random weights."
            )
        load_local_weights(net, path, model_name)
    return net


class ImageClassifier(L.LightningModule):
    """A timm classifier with top-1/top-5 accuracy.

    Logs ``train/loss``, ``train/acc`` (per step and epoch), ``val/loss``, ``val/acc`` and
    ``val/acc_top5`` (per epoch); ``test/loss`` and ``test/acc`` in ``trainer.test``; ``predict_step``
    gives each image's predicted class. With ``freeze_backbone`` only the classifier head is
    trained and the backbone stays in eval mode (frozen batch-norm statistics too).

    Inputs: image batches (N, 3, H, W), or, for head-only training on cached features
    (``model.cache_features=true``, see :class:`sci_lightning.lightning.features.CachedFeaturesDataModule`),
    the backbone's pooled pre-logit features (N, D) as :meth:`pooled_features` computes
    them. A 2-D input goes through the classifier head only -- the very module
    (``self.model.get_classifier()``) that the image path ends in -- so a head trained
    on features is the head of an ordinary image classifier: its checkpoint loads and
    predicts on images as usual.

    ``example_input_array`` is one zero image of ``image_size``: Lightning's model summary
    runs it (no gradient) to give each layer's input and output sizes and the forward FLOPs
    of one image.
    """

    @classmethod
    def from_settings(
        cls, model: ModelConfig, num_classes: int, *, channels_last: bool = False
    ) -> ImageClassifier:
        """The classifier described by the ``model`` settings (a ``ModelConfig``)."""
        return cls(
            model_name=model.name,
            num_classes=num_classes,
            image_size=model.image_size,
            weights=model.weights,
            freeze_backbone=model.frozen,
            drop_rate=model.drop_rate,
            optimizer=model.optimizer,
            lr=model.lr,
            weight_decay=model.weight_decay,
            momentum=model.momentum,
            scheduler=model.scheduler,
            warmup_epochs=model.warmup_epochs,
            label_smoothing=model.label_smoothing,
            channels_last=channels_last,
        )

    def __init__(
        self,
        model_name: str,
        num_classes: int,
        image_size: int,
        weights: str | None = None,
        freeze_backbone: bool = False,
        drop_rate: float = 0.0,
        optimizer: str = "adamw",
        lr: float = 1e-3,
        weight_decay: float = 0.05,
        momentum: float = 0.9,
        scheduler: str = "cosine",
        warmup_epochs: int = 0,
        label_smoothing: float = 0.0,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.model = create_network(model_name, num_classes, weights, drop_rate)
        self.freeze_backbone = freeze_backbone
        if freeze_backbone:
            # the eval-mode backbone is intended (frozen batch-norm statistics)
            warnings.filterwarnings(
                "ignore", message=r"Found \d+ module\(s\) in eval mode at the start of training"
            )
            head = set(map(id, self._head().parameters()))
            for p in self.model.parameters():
                p.requires_grad = id(p) in head
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        # one image: Lightning's model summary runs it to give each layer's sizes and FLOPs
        self.example_input_array = torch.zeros(1, 3, image_size, image_size)
        top5 = min(5, num_classes)
        self.train_acc = MulticlassAccuracy(num_classes=num_classes, top_k=1, average="micro")
        self.val_acc = MulticlassAccuracy(num_classes=num_classes, top_k=1, average="micro")
        self.val_acc_top5 = MulticlassAccuracy(num_classes=num_classes, top_k=top5, average="micro")
        self.test_acc = MulticlassAccuracy(num_classes=num_classes, top_k=1, average="micro")
        self.best_val_acc: float | None = None
        self.last_val_acc: float | None = None
        self.last_val_acc_top5: float | None = None
        # Lightning does not call .train() when fit starts (it only saves and restores each
        # submodule's mode around validation), so set the frozen modes now.
        self.train()

    # -- model ---------------------------------------------------------------------
    def train(self, mode: bool = True) -> ImageClassifier:
        super().train(mode)
        if self.freeze_backbone:  # keep frozen batch-norm statistics frozen
            self.model.eval()
            self._head().train(mode)
        return self

    def on_fit_start(self) -> None:
        self.train(self.training)  # frozen backbone in eval mode even if a caller switched it

    def _head(self) -> torch.nn.Module:
        """timm's classifier head: every timm model has ``get_classifier()``, which ``nn.Module``'s
        typing (``__getattr__`` -> Tensor | Module) cannot see."""
        head = self.model.get_classifier()  # pyright: ignore[reportCallIssue]
        assert isinstance(head, torch.nn.Module)
        return head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of an image batch (N, 3, H, W), or of pooled backbone features (N, D)."""
        if x.ndim == 2:
            return self.forward_pooled(x)
        if self.hparams["channels_last"]:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.model(x)

    def pooled_features(self, images: torch.Tensor) -> torch.Tensor:
        """(N, D) pooled pre-logit features of an image batch: what the classifier head sees.

        timm's ``forward_head(forward_features(x), pre_logits=True)`` (global pooling, then
        the model's head dropout, an identity while the frozen backbone is in eval mode).
        """
        from sci_lightning.lightning.features import pooled_features

        if self.hparams["channels_last"]:
            images = images.contiguous(memory_format=torch.channels_last)
        return pooled_features(self.model, images)

    def forward_pooled(self, features: torch.Tensor) -> torch.Tensor:
        """Logits from pooled features (N, D): the classifier head alone, as in the image path."""
        if self.training and not self.freeze_backbone:
            raise RuntimeError(
                "ImageClassifier got pooled features (a 2-D batch) while training end to end: the backbone "
                "would not be trained. Train on features only with freeze_backbone=True "
                "(model.freeze_backbone=true), or feed images."
            )
        return self._head()(features)

    def num_parameters(self) -> tuple[int, int]:
        total = sum(p.numel() for p in self.model.parameters())
        trainable = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        return total, trainable

    # -- steps ---------------------------------------------------------------------
    def training_step(self, batch: Sequence[torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y, label_smoothing=self.hparams["label_smoothing"])
        self.train_acc(logits, y)
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=y.shape[0])
        self.log(
            "train/acc", self.train_acc, on_step=True, on_epoch=True, prog_bar=True, batch_size=y.shape[0]
        )
        return loss

    def validation_step(self, batch: Sequence[torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        self.val_acc(logits, y)
        self.val_acc_top5(logits, y)
        n = y.shape[0]
        self.log("val/loss", loss, on_epoch=True, prog_bar=True, batch_size=n, sync_dist=True)
        self.log("val/acc", self.val_acc, on_epoch=True, prog_bar=True, batch_size=n)
        self.log("val/acc_top5", self.val_acc_top5, on_epoch=True, batch_size=n)

    def test_step(self, batch: Sequence[torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        logits = self(x)
        self.test_acc(logits, y)
        n = y.shape[0]
        self.log("test/loss", F.cross_entropy(logits, y), on_epoch=True, batch_size=n, sync_dist=True)
        self.log("test/acc", self.test_acc, on_epoch=True, batch_size=n)

    def predict_step(
        self,
        batch: torch.Tensor | list[torch.Tensor] | tuple[torch.Tensor, ...],
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> torch.Tensor:
        """The predicted class of each image of an ``(images, labels)`` batch (or of an image batch)."""
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        return self(x).argmax(dim=1)

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            return
        acc = self.trainer.callback_metrics.get("val/acc")
        top5 = self.trainer.callback_metrics.get("val/acc_top5")
        if acc is not None:
            self.last_val_acc = float(acc)
            self.best_val_acc = max(self.best_val_acc or 0.0, self.last_val_acc)
        if top5 is not None:
            self.last_val_acc_top5 = float(top5)

    # -- optimisation --------------------------------------------------------------
    def configure_optimizers(self) -> torch.optim.Optimizer | OptimizerLRSchedulerConfig:
        hp = self.hparams
        params = [p for p in self.parameters() if p.requires_grad]
        if hp["optimizer"] == "sgd":
            opt = torch.optim.SGD(
                params, lr=hp["lr"], momentum=hp["momentum"], weight_decay=hp["weight_decay"], nesterov=True
            )
        elif hp["optimizer"] == "adam":
            opt = torch.optim.Adam(params, lr=hp["lr"], weight_decay=hp["weight_decay"])
        else:
            opt = torch.optim.AdamW(params, lr=hp["lr"], weight_decay=hp["weight_decay"])
        if hp["scheduler"] == "none":
            return opt
        epochs = max(1, self.trainer.max_epochs or 1)
        warmup = min(hp["warmup_epochs"], epochs - 1)
        if hp["scheduler"] == "step":
            main = torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, (epochs - warmup) // 3), gamma=0.1)
        else:
            main = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs - warmup))
        if warmup > 0:
            start = torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.1, total_iters=warmup)
            main = torch.optim.lr_scheduler.SequentialLR(opt, [start, main], milestones=[warmup])
        return {"optimizer": opt, "lr_scheduler": {"scheduler": main, "interval": "epoch"}}

    # -- checkpoint ------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["sci_lightning_val"] = {
            "best_val_acc": self.best_val_acc,
            "last_val_acc": self.last_val_acc,
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        saved = checkpoint.get("sci_lightning_val") or {}
        self.best_val_acc = saved.get("best_val_acc")
        self.last_val_acc = saved.get("last_val_acc")

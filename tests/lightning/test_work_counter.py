"""WorkCounter: FLOPs measured with FlopCounterMode against an analytic count."""

from __future__ import annotations

import lightning.pytorch as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from sci_lightning.lightning.work_counter import WorkCounter, forward_flops, training_flops

N, C_IN, C_OUT, HW, K, CLASSES = 4, 3, 5, 8, 3, 7


def _net() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(C_IN, C_OUT, K, padding=1),
        nn.BatchNorm2d(C_OUT),
        nn.Flatten(),
        nn.Linear(C_OUT * HW * HW, CLASSES),
    )


def _conv_forward(n: int) -> int:
    return 2 * n * C_OUT * HW * HW * C_IN * K * K


def _linear_forward(n: int) -> int:
    return 2 * n * (C_OUT * HW * HW) * CLASSES


def _analytic_training(n: int) -> int:
    # backward: the conv needs only its weight gradient (its input needs none): 1 x forward;
    # the linear layer needs input and weight gradients: 2 x forward
    return 2 * _conv_forward(n) + 3 * _linear_forward(n)


def _batch(n: int = N) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, C_IN, HW, HW, generator=g), torch.randint(0, CLASSES, (n,), generator=g)


def test_forward_flops_match_analytic_count():
    x, _ = _batch()
    assert forward_flops(_net().eval(), x) == _conv_forward(N) + _linear_forward(N)


def test_training_flops_match_analytic_count_and_leave_state_unchanged():
    net = _net().train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    assert training_flops(net, _batch()) == _analytic_training(N)
    assert all(p.grad is None for p in net.parameters())
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


class _Module(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = _net()

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.cross_entropy(self(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val/loss", nn.functional.cross_entropy(self(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def test_callback_counts_a_fit():
    x, y = _batch(10)  # batches of 4, 4 and 2: the last batch counts its own images
    loader = DataLoader(TensorDataset(x, y), batch_size=N)
    counter = WorkCounter()
    module = _Module()
    module.net[0].weight.requires_grad_(False)  # effective < gross
    trainer = pl.Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[counter],
        num_sanity_val_steps=1,
    )
    trainer.fit(module, loader, loader)
    work = counter.work_counts()
    assert work.train_steps == 6 and work.images_seen == 20
    # with the conv weight frozen its weight gradient is not computed: backward = the linear's 2 x forward
    per_image_train = (_conv_forward(N) + 3 * _linear_forward(N)) / N
    assert work.train_flops == per_image_train * 20
    assert work.val_flops == (_conv_forward(1) + _linear_forward(1)) * 20  # sanity check excluded
    gross = sum(p.numel() for p in module.parameters())
    assert work.parameters_gross == gross
    # SCI for AI effective = active per inference: a dense model uses every parameter
    assert work.parameters_effective == gross
    assert work.parameters_trainable == gross - module.net[0].weight.numel()
    assert work.extraction_flops == 0 and "extraction_flops" not in work.methods
    assert work.total_flops == work.train_flops + work.val_flops
    assert {
        "train_flops",
        "val_flops",
        "parameters_gross",
        "parameters_effective",
        "parameters_trainable",
    } <= set(work.methods)


def _trainer(max_epochs: int, counter: WorkCounter, root) -> pl.Trainer:
    return pl.Trainer(
        max_epochs=max_epochs,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[counter],
        num_sanity_val_steps=0,
        default_root_dir=str(root),
    )


def test_a_resumed_fit_counts_the_work_of_every_part(tmp_path):
    """The counts travel in the checkpoint: a fit resumed with a fresh counter (as a new process has) counts both parts."""
    x, y = _batch(8)
    loader = DataLoader(TensorDataset(x, y), batch_size=N)
    first = _trainer(1, WorkCounter(), tmp_path)
    first.fit(_Module(), loader, loader)
    ckpt = tmp_path / "first.ckpt"
    first.save_checkpoint(ckpt)

    resumed_counter = WorkCounter()
    _trainer(3, resumed_counter, tmp_path).fit(_Module(), loader, loader, ckpt_path=str(ckpt))
    work = resumed_counter.work_counts()
    per_image_train = (2 * _conv_forward(N) + 3 * _linear_forward(N)) / N
    assert work.train_steps == 6 and work.images_seen == 24  # 3 epochs x 2 batches of 4
    assert work.train_flops == per_image_train * 24
    assert work.val_flops == (_conv_forward(1) + _linear_forward(1)) * 24
    assert work.train_flops_per_step == per_image_train * N


def test_sci_report_of_a_fit_carries_the_work_counts(tmp_path):
    """The SCI step reads the WorkCounter from the trainer's callbacks (as the app wires it)."""
    import json

    from sci_lightning.lightning.callback import EnergyCarbonCallback

    x, y = _batch(8)
    loader = DataLoader(TensorDataset(x, y), batch_size=N)
    energy = EnergyCarbonCallback(energy={"rapl_root": str(tmp_path / "no-rapl")}, output_dir=str(tmp_path))
    trainer = pl.Trainer(
        max_epochs=1,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[WorkCounter(), energy],
        num_sanity_val_steps=0,
    )
    trainer.fit(_Module(), loader, loader)
    data = json.loads((tmp_path / "sci_report.json").read_text())
    per_image = (2 * _conv_forward(N) + 3 * _linear_forward(N)) / N
    assert data["work"]["train_flops"] == per_image * 8
    assert data["functional_unit_counts"]["pflop"] == data["work"]["total_flops"] / 1e15
    assert data["sci_per"]["pflop"] is not None and data["sci_per"]["billion_parameters"] is not None


def test_cached_features_add_the_backbone_extraction_once():
    """A head trained on cached features: the extraction is backbone forward FLOPs per image x images."""
    from types import SimpleNamespace

    from lightning.pytorch.utilities.parsing import AttributeDict

    class _Cached(_Module):
        hparams = AttributeDict(image_size=HW)  # what save_hyperparameters() gives

        def pooled_features(self, images):
            return self.net[:3](images)  # the "backbone": conv, batch norm, flatten

    counter = WorkCounter()
    counter._module = _Cached()
    counter._trainer = SimpleNamespace(datamodule=SimpleNamespace(images_extracted=10), world_size=1)
    work = counter.work_counts()
    assert work.extraction_flops == _conv_forward(1) * 10
    assert "extraction_flops" in work.methods and work.total_flops == work.extraction_flops

"""Checkpoints while training: ``last.ckpt`` often, atomically, and once more when a part ends.

- :class:`AtomicCheckpointIO` writes every checkpoint to a temporary file in the same
  folder, fsyncs it and ``os.replace``-s it over the target, so a process killed while
  saving (even with SIGKILL) leaves the previous ``last.ckpt`` intact, never half a file.
- :class:`LastCheckpoint` writes ``last.ckpt`` at the end of every training epoch and every
  ``every_min`` minutes (or every ``every_n_steps`` optimizer steps) while training, and
  again when the fit ends or is interrupted (SIGINT, SIGTERM, SIGUSR1), *after* the other
  callbacks' ``on_fit_end`` / ``on_exception``: the energy callback has then closed its
  window, so the checkpoint carries the part's final energy, time and images, and a resumed
  job's totals are exactly the sum of its parts. Lightning runs checkpoint callbacks last.
- :func:`checkpoint_callbacks` builds it from :class:`~sci_lightning.settings.CheckpointConfig`,
  plus a best-k :class:`~lightning.pytorch.callbacks.ModelCheckpoint` when ``save_top_k != 0``.

A failure inside training does not overwrite ``last.ckpt`` (the model may be in a broken
state); the previous checkpoint stays the resume point.
"""

from __future__ import annotations

import errno
import os
import shutil
import uuid
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_warn
from typing_extensions import override

from sci_lightning.lightning.signal_guard import run_end
from sci_lightning.settings import CheckpointConfig

if TYPE_CHECKING:
    from lightning.pytorch import LightningModule, Trainer

__all__ = ["LAST_NAME", "AtomicCheckpointIO", "LastCheckpoint", "SettingsRecord", "checkpoint_callbacks"]

LAST_NAME = "last.ckpt"


class AtomicCheckpointIO(TorchCheckpointIO):
    """``torch.save`` to a temporary file beside the target, fsync, then ``os.replace``."""

    @override
    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | os.PathLike[str], storage_options: object = None
    ) -> None:
        target = Path(path)
        tmp = target.parent / f".{target.name}.{uuid.uuid4().hex}.tmp"
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(
                tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666
            )  # the umask applies, as for torch.save
        except OSError as exc:
            raise _storage_error(exc, target) from None
        try:
            with os.fdopen(fd, "wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException as exc:
            full = _disk_full(target.parent)  # measured before the temporary's space is given back
            tmp.unlink(missing_ok=True)
            if isinstance(exc, OSError) or (isinstance(exc, RuntimeError) and full):
                raise _storage_error(exc, target, full) from None
            raise
        _fsync_dir(target.parent)


#: Below this many free bytes a failed ``torch.save`` is taken as a full disk (torch's zip
#: writer reports ENOSPC as "RuntimeError: [enforce fail at inline_container.cc] unexpected pos").
_FULL_BELOW_BYTES = 1 << 20


def _disk_full(folder: Path) -> bool:
    try:
        return shutil.disk_usage(folder).free < _FULL_BELOW_BYTES
    except OSError:
        return False


def _storage_error(exc: BaseException, target: Path, full: bool = False) -> BaseException:
    """A checkpoint write refused by the storage, in one line naming the path and what was kept."""
    from sci_lightning.fileio import STORAGE_ERRNOS, storage_error

    if not isinstance(exc, OSError) or exc.errno is None:
        if not full:
            return exc
        exc = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target))
    if exc.errno not in STORAGE_ERRNOS:
        return exc
    try:
        had_one = target.is_file()
    except OSError:  # the path itself may be what the storage refuses (ENAMETOOLONG)
        had_one = False
    kept = (
        f"the previous checkpoint {target} is kept unchanged (resume with ckpt_path={target})"
        if had_one
        else "no earlier checkpoint of this run exists"
    )
    return storage_error(exc, target, kept=kept, fix="set output_dir to another folder")


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable (best effort; not every file system allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class LastCheckpoint(ModelCheckpoint):
    """``last.ckpt`` at every epoch end, every ``every_min`` minutes or ``every_n_steps`` steps,
    and at the end of the part (completed or interrupted), with the final state of every callback.

    Args:
        dirpath: the folder of ``last.ckpt`` (a run folder's ``checkpoints/``).
        every_min: minutes of training between saves (``None``: epoch ends only).
        every_n_steps: optimizer steps between saves; replaces ``every_min`` when set
            (Lightning allows one trigger per ModelCheckpoint).
    """

    def __init__(
        self, dirpath: str | os.PathLike[str], every_min: float | None = 5.0, every_n_steps: int | None = None
    ) -> None:
        interval = timedelta(minutes=every_min) if every_min and not every_n_steps else None
        super().__init__(
            dirpath=os.fspath(dirpath),
            save_last=True,
            save_top_k=0,
            enable_version_counter=False,
            every_n_train_steps=every_n_steps or None,
            train_time_interval=interval,
        )

    @property
    def last_path(self) -> str:
        """Where ``last.ckpt`` is written."""
        return os.path.join(str(self.dirpath), LAST_NAME)

    def save_last_now(self, trainer: Trainer) -> None:
        """Write ``last.ckpt`` now (all ranks call it; rank 0 writes)."""
        self.last_model_path = self.last_path
        self._save_checkpoint(trainer, self.last_path)

    @override
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Every epoch end (Lightning's own rule skips it when no best-k checkpoint is kept)."""
        if not self._should_skip_saving_checkpoint(trainer):
            self.save_last_now(trainer)

    @override
    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Nothing: saves follow training epochs, steps and time, never validation."""

    @override
    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Nothing: the final save is in ``on_fit_end``, after the energy window is closed."""

    @override
    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """The completed part's final state (energy window closed, totals final)."""
        if not trainer.fast_dev_run:  # pyright: ignore[reportAttributeAccessIssue]  # set by a Trainer connector, undeclared
            self.save_last_now(trainer)

    @override
    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        """An interrupted part's final state; after a failure the previous ``last.ckpt`` stays."""
        end = run_end(exception)
        fast_dev_run = trainer.fast_dev_run  # pyright: ignore[reportAttributeAccessIssue]  # set by a Trainer connector, undeclared
        if end.status != "interrupted" or fast_dev_run or trainer.sanity_checking:
            return
        if getattr(trainer, "world_size", 1) > 1 and not end.ranks_in_step:
            rank_zero_warn(f"{end.signal}: not saving {LAST_NAME} under DDP (the ranks are not in step)")
            return
        try:
            self.save_last_now(trainer)
        except Exception as err:
            rank_zero_warn(f"could not save {self.last_path} on {end.signal} ({type(err).__name__}: {err})")


class SettingsRecord(Callback):
    """Saves the run's settings (a flat dict) in every checkpoint, so a resume can compare them."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = dict(settings)

    @override
    def state_dict(self) -> dict[str, Any]:
        return {"settings": dict(self.settings)}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Nothing: this run's own settings stay (the resume compared them already)."""


def checkpoint_callbacks(config: CheckpointConfig, dirpath: str | os.PathLike[str]) -> list[Callback]:
    """:class:`LastCheckpoint`, plus best-k by ``config.monitor`` when ``config.save_top_k != 0``."""
    out: list[Callback] = [LastCheckpoint(dirpath, config.every_min, config.every_n_steps)]
    if config.save_top_k != 0:
        out.append(
            ModelCheckpoint(
                dirpath=os.fspath(dirpath),
                filename="best-{epoch}-{step}",
                monitor=config.monitor,
                mode=config.mode,
                save_top_k=config.save_top_k,
                save_last=False,
                auto_insert_metric_name=False,
            )
        )
    return out

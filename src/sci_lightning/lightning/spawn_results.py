"""Results where the user is: the energy callback's results back in a ``ddp_spawn`` launcher.

Under ``strategy="ddp_spawn"`` the fit runs in worker processes; the callback object the
user holds in the launching process never sees a hook. Lightning's spawn launcher sends
rank 0's ``trainer.callback_metrics`` back to the launching process (its
``get_extra_results`` / ``update_main_process_results``: ``torch.save`` there,
``torch.load(weights_only=True)`` here). :func:`send_home` puts a :class:`_Delivery` of
plain data there, in ``teardown`` (after the last checkpoint, which must not carry it);
when the launching process loads it, :func:`_deliver` (allowed for ``weights_only`` loads
with ``torch.serialization.add_safe_globals``) hands the payload to the callback object
registered under the same token (:func:`register`, done in the callback's constructor,
which unpickling in a worker does not run). The metric key is then left holding ``None``.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any, Protocol

import torch

if TYPE_CHECKING:
    from lightning.pytorch import Trainer

__all__ = ["register", "send_home"]

#: The ``trainer.callback_metrics`` key the results travel under.
RESULTS_KEY = "sci_lightning/results"


class ResultsReceiver(Protocol):
    """What receives the results sent home from spawned processes (the energy callback)."""

    def receive_results(self, payload: dict[str, Any]) -> None: ...


_callbacks: weakref.WeakValueDictionary[str, ResultsReceiver] = weakref.WeakValueDictionary()


def register(token: str, callback: ResultsReceiver) -> None:
    """Make ``callback`` the receiver of deliveries for ``token`` in this process."""
    _callbacks[token] = callback


def _deliver(token: str, payload: dict[str, Any]) -> None:
    receiver = _callbacks.get(token)
    if receiver is not None:
        receiver.receive_results(payload)


torch.serialization.add_safe_globals([_deliver])  # it only hands plain data to a registered callback


class _Delivery:
    """Carries ``payload`` to the process that unpickles it."""

    def __init__(self, token: str, payload: dict[str, Any]) -> None:
        self.token, self.payload = token, payload

    def __reduce__(self) -> tuple[Any, tuple[str, dict[str, Any]]]:
        return _deliver, (self.token, self.payload)


def spawned(trainer: Trainer) -> bool:
    """Whether this fit runs in processes spawned by Lightning's multiprocessing launcher."""
    from lightning.pytorch.strategies.launchers.multiprocessing import _MultiProcessingLauncher

    launcher = getattr(getattr(trainer, "strategy", None), "launcher", None)
    return isinstance(launcher, _MultiProcessingLauncher)


def send_home(trainer: Trainer, token: str, payload: dict[str, Any]) -> None:
    """Rank 0 of a spawned fit: queue ``payload`` (plain data: dicts, lists, str, numbers) for the
    launching process's callback."""
    if trainer.is_global_zero and spawned(trainer):
        trainer.callback_metrics[RESULTS_KEY] = _Delivery(token, payload)  # type: ignore[assignment]

"""Results back in a ddp_spawn launcher (sci_lightning.lightning.spawn_results): the delivery survives
Lightning's ``torch.save`` / ``torch.load(weights_only=True)`` and reaches the registered callback."""

from __future__ import annotations

import io
from types import SimpleNamespace

import torch
from lightning.pytorch import Trainer

from sci_lightning.lightning import spawn_results
from sci_lightning.lightning.spawn_results import RESULTS_KEY, _Delivery, register, send_home, spawned


class _Receiver:
    def __init__(self) -> None:
        self.received: list[dict] = []

    def receive_results(self, payload: dict) -> None:
        self.received.append(payload)


def _round_trip(obj) -> object:
    """What Lightning's spawn launcher does with ``callback_metrics`` between the processes."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def test_a_delivery_loaded_with_weights_only_hands_its_payload_to_the_registered_callback():
    receiver = _Receiver()
    register("token-a", receiver)
    payload = {"energy_j": 123.5, "parts": [{"status": "completed"}], "note": "measured"}
    _round_trip({RESULTS_KEY: _Delivery("token-a", payload)})
    assert receiver.received == [payload]


def test_a_delivery_for_an_unknown_token_is_dropped():
    receiver = _Receiver()
    register("token-b", receiver)
    _round_trip(_Delivery("token-nobody-registered", {"energy_j": 1.0}))
    assert receiver.received == []


def test_a_garbage_collected_callback_no_longer_receives():
    register("token-c", _Receiver())  # no reference kept: the weak registry lets it go
    assert "token-c" not in spawn_results._callbacks


def test_a_plain_fit_is_not_spawned_and_sends_nothing_home():
    trainer = Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False)
    assert not spawned(trainer)
    send_home(trainer, "token-d", {"energy_j": 1.0})
    assert RESULTS_KEY not in trainer.callback_metrics


def test_send_home_queues_the_delivery_on_rank_0_of_a_spawned_fit(monkeypatch):
    monkeypatch.setattr(spawn_results, "spawned", lambda trainer: True)
    rank0, rank1 = (SimpleNamespace(is_global_zero=z, callback_metrics={}) for z in (True, False))
    send_home(rank0, "token-e", {"energy_j": 2.0})
    send_home(rank1, "token-e", {"energy_j": 3.0})
    assert rank1.callback_metrics == {}
    delivery = rank0.callback_metrics[RESULTS_KEY]
    assert (delivery.token, delivery.payload) == ("token-e", {"energy_j": 2.0})

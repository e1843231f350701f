"""Warn once per key (sci_lightning/warn_once.py)."""

from __future__ import annotations

import pickle
import threading
import warnings

import pytest

from sci_lightning.warn_once import WarnOnce


class _Category(UserWarning):
    pass


def test_first_is_true_once_per_key():
    once = WarnOnce()
    assert once.first("a") and once.first("b")
    assert not once.first("a")
    assert "a" in once and "c" not in once
    once.reset()
    assert once.first("a")


def test_warn_issues_one_warning_per_key_pointing_at_the_caller():
    once = WarnOnce()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            once.warn("k", "broken", _Category)
        assert once.warn("other", "also broken", _Category)
        assert not once.warn("other", "again", _Category)
    assert [str(w.message) for w in caught] == ["broken", "also broken"]
    assert all(w.category is _Category and w.filename == __file__ for w in caught)


def test_one_thread_wins_when_many_ask_at_once():
    once, wins, barrier = WarnOnce(), [], threading.Barrier(8)

    def ask():
        barrier.wait()
        wins.append(once.first("same"))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False] * 7 + [True]


@pytest.mark.parametrize("key", [None, ("logger", "kind"), 3])
def test_any_hashable_key(key):
    once = WarnOnce()
    assert once.first(key) and not once.first(key)


def test_pickles_with_the_keys_it_has_seen():
    once = WarnOnce()
    once.first("seen")
    clone = pickle.loads(pickle.dumps(once))
    assert "seen" in clone and not clone.first("seen") and clone.first("new")
    assert "new" not in once

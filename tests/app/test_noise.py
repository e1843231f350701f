"""Third-party noise filtered by the CLI (sci_lightning.app.noise): each filter drops exactly its message
from its module, nothing else; Lightning's own console handler goes when the root logger prints.
The CLI's output without the noise is checked in tests/e2e/test_cli_ux.py."""

from __future__ import annotations

import logging
import warnings

import pytest

from sci_lightning.app import noise

TIP = "💡 Tip: For seamless cloud logging and experiment tracking, try installing [litlogger]"


@pytest.fixture
def fresh(monkeypatch):
    """quiet_third_party() not yet applied; the loggers' filters restored after the test."""
    monkeypatch.setattr(noise, "_applied", False)
    for name in noise.LOG_FILTERS:
        lg = logging.getLogger(name)
        monkeypatch.setattr(lg, "filters", list(lg.filters))


def test_each_warning_filter_needs_its_message_and_its_module(fresh):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        before = len(warnings.filters)
        noise.quiet_third_party()
        noise.quiet_third_party()  # idempotent: the filters are installed once
        installed = len(warnings.filters) - before
        warnings.warn_explicit(
            "The `srun` command is available on your system but is not used. HINT",
            UserWarning,
            "slurm.py",
            1,
            module="lightning.fabric.plugins.environments.slurm",
        )
        warnings.warn_explicit(  # the same words from another module: shown
            "The `srun` command is available on your system but is not used.",
            UserWarning,
            "mine.py",
            1,
            module="my_project.launch",
        )
        warnings.warn_explicit(  # another message of the same module: shown
            "SLURM auto-requeueing enabled",
            UserWarning,
            "slurm.py",
            2,
            module="lightning.fabric.plugins.environments.slurm",
        )
    assert installed == len(noise.WARNING_FILTERS)
    assert [str(w.message) for w in caught] == [
        "The `srun` command is available on your system but is not used.",
        "SLURM auto-requeueing enabled",
    ]


def test_the_litlogger_tip_is_dropped_and_other_records_kept(fresh, caplog):
    noise.quiet_third_party()
    noise.quiet_third_party()
    lg = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    assert sum(isinstance(f, noise._DropMessages) for f in lg.filters) == 1  # installed once
    with caplog.at_level(logging.INFO, logger=lg.name):
        lg.info(TIP)
        lg.info("GPU available: False, used: False")
    assert [r.msg for r in caplog.records] == ["GPU available: False, used: False"]


def test_drop_messages_filter_on_its_own():
    f = noise._DropMessages(("needle",))
    record = logging.LogRecord("x", logging.INFO, "f.py", 1, "a %s here", ("needle",), None)
    assert f.filter(record) is False
    assert f.filter(logging.LogRecord("x", logging.INFO, "f.py", 1, "hay", (), None)) is True
    bad = logging.LogRecord("x", logging.INFO, "f.py", 1, "%s %s needle", ("one",), None)
    assert f.filter(bad) is True  # getMessage() fails: kept, never an error raised in a filter


def test_one_handler_per_message_removes_only_plain_propagating_stream_handlers(monkeypatch):
    root = logging.getLogger()
    loggers = {
        n: logging.getLogger(n)
        for n in ("lightning", "pytorch_lightning", "lightning.pytorch", "lightning.fabric")
    }
    for lg in [root, *loggers.values()]:
        monkeypatch.setattr(lg, "handlers", [])
    monkeypatch.setattr(loggers["lightning.fabric"], "propagate", False)

    class Custom(logging.StreamHandler):
        pass

    plain, custom, file_like, not_propagating = (
        logging.StreamHandler(),
        Custom(),
        logging.NullHandler(),
        logging.StreamHandler(),
    )
    loggers["lightning"].handlers = [plain, custom, file_like]
    loggers["lightning.fabric"].handlers = [not_propagating]
    assert noise.one_handler_per_message() == 0  # no root handler: nothing removed
    root.handlers = [logging.NullHandler()]
    assert noise.one_handler_per_message() == 1
    assert loggers["lightning"].handlers == [custom, file_like]
    assert loggers["lightning.fabric"].handlers == [not_propagating]  # it would print nothing otherwise


def test_noise_filters_keep_our_warnings():
    import warnings

    from sci_lightning.app.noise import quiet_third_party
    from sci_lightning.energy import EnergyMeterWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_third_party()
        warnings.warn_explicit(
            "`isinstance(treespec, LeafSpec)` is deprecated, use x",
            FutureWarning,
            "_pytree.py",
            21,
            module="lightning.pytorch.utilities._pytree",
        )
        warnings.warn("meter fell back", EnergyMeterWarning, stacklevel=1)
        warnings.warn(
            "`isinstance(treespec, LeafSpec)` is deprecated, in user code", FutureWarning, stacklevel=1
        )
        warnings.warn_explicit(
            "The `srun` command is available on your system but is not used. HINT: ...",
            UserWarning,
            "slurm.py",
            204,
            module="lightning.fabric.plugins.environments.slurm",
        )
    messages = [str(w.message) for w in caught]
    assert messages == ["meter fell back", "`isinstance(treespec, LeafSpec)` is deprecated, in user code"]


def test_lightning_info_lines_go_through_one_handler():
    import logging

    import lightning  # noqa: F401 - its import adds a console handler to the "lightning" logger

    from sci_lightning.app.noise import one_handler_per_message

    lightning_logger, root = logging.getLogger("lightning"), logging.getLogger()
    saved_lightning, saved_root = list(lightning_logger.handlers), list(root.handlers)
    try:
        if not any(type(h) is logging.StreamHandler for h in lightning_logger.handlers):
            lightning_logger.addHandler(logging.StreamHandler())
        root.handlers = []
        assert one_handler_per_message() == 0  # no root handler (a user's script): Lightning keeps its own
        root.addHandler(logging.NullHandler())  # Hydra's, in the CLI
        assert one_handler_per_message() >= 1
        assert not any(type(h) is logging.StreamHandler for h in lightning_logger.handlers)
    finally:
        lightning_logger.handlers, root.handlers = saved_lightning, saved_root

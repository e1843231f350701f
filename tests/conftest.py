"""Shared test fixtures. Tests run without a GPU and without network access.

The test helpers (fake_nvml, scripted, stub_server, tiny_run, slurm_cluster, ...) live in
tests/helpers/ and are imported by their bare names (``from fake_nvml import FakeNvml``) from a test
at any depth: that folder goes on ``sys.path`` here (never tests/ itself, whose lightning/ and data/
folders would hide the real packages). Processes started with multiprocessing inherit that
``sys.path``; scripts run by path (multihost_worker.py) put their own folder on it. See tests/README.md.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
HELPERS = TESTS / "helpers"
REPO = TESTS.parent
if str(HELPERS) not in sys.path:
    sys.path.insert(0, str(HELPERS))
SHARED_TRACES = REPO.parent / "shared" / "data" / "carbon-intensity"


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Synthetic datasets and decoded-image caches go to a per-session temp folder."""
    if "SCI_LIGHTNING_CACHE" not in os.environ:
        os.environ["SCI_LIGHTNING_CACHE"] = str(tmp_path_factory.mktemp("sci_cache"))


@pytest.fixture
def compose():
    """Compose the app's config exactly as the CLI does: ``compose(["model=densenet", ...])``."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    from sci_lightning.settings import register_hydra_schemas

    register_hydra_schemas()

    def _compose(overrides: list[str] | None = None, return_hydra_config: bool = False):
        with initialize_config_module(config_module="sci_lightning.conf", version_base="1.3"):
            return hydra_compose(
                "config", overrides=list(overrides or []), return_hydra_config=return_hydra_config
            )

    return _compose


@pytest.fixture(scope="session")
def slurm_cluster():
    """A real one-node SLURM cluster for the session (tests/helpers/slurm_cluster.py); skips with the reason
    when it cannot start here (not root, no slurm-wlm/munge and no way to install them)."""
    from slurm_cluster import ClusterUnavailable, start_cluster

    try:
        cluster = start_cluster()
    except (ClusterUnavailable, OSError, TimeoutError) as err:
        pytest.skip(f"no local SLURM cluster: {err}")
    try:
        yield cluster
    finally:
        cluster.stop()


# The shared fakes (one definition each, in tests/helpers/), offered as fixtures.


@pytest.fixture
def script_clock():
    """POSIX seconds that move only when the test calls ``advance`` (helpers/clocks.py)."""
    from clocks import ScriptClock

    return ScriptClock()


@pytest.fixture
def sleeps():
    """An injected ``sleep(seconds)`` that records the waits instead of sleeping (helpers/clocks.py)."""
    from clocks import Sleeps

    return Sleeps()


@pytest.fixture
def batch_step_clock():
    """``batch_step_clock(now, step)``: a datetime clock ``step`` later after every training batch,
    whose ``sleep`` moves it on; also a Trainer callback (helpers/scripted.py)."""
    from scripted import BatchStepClock

    return BatchStepClock


@pytest.fixture
def scripted_meter():
    """``scripted_meter(clock, power_w=10.0, ...)``: a meter of constant power on a ScriptClock, so a
    window's energy is exactly power x scripted seconds (helpers/scripted.py)."""
    from scripted import ConstantPowerMeter

    return ConstantPowerMeter


@pytest.fixture
def fake_nvml(monkeypatch: pytest.MonkeyPatch):
    """``fake_nvml(FakeGpu(...), ...)``: the scripted fake NVIDIA driver installed in place of pynvml's
    functions for this test; returns the driver (helpers/fake_nvml.py)."""
    from fake_nvml import FakeNvml

    def _install(*gpus, **kw) -> FakeNvml:
        return FakeNvml(gpus=list(gpus), **kw).install(monkeypatch)

    return _install


@pytest.fixture
def stub_server():
    """``stub_server({("GET", "/path"): handler})``: a started loopback HTTP stub, stopped after the
    test (helpers/stub_server.py)."""
    from stub_server import StubServer

    started: list[StubServer] = []

    def _start(routes=None) -> StubServer:
        started.append(StubServer(routes).start())
        return started[-1]

    yield _start
    for server in started:
        server.stop()

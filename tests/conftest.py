"""Shared test fixtures. Tests run without a GPU and without network access."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
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
    """A real one-node SLURM cluster for the session (tests/slurm_cluster.py); skips with the reason
    when it cannot start here (not root, no slurm-wlm/munge and no way to install them)."""
    from tests.slurm_cluster import ClusterUnavailable, start_cluster

    try:
        cluster = start_cluster()
    except (ClusterUnavailable, OSError, TimeoutError) as err:
        pytest.skip(f"no local SLURM cluster: {err}")
    try:
        yield cluster
    finally:
        cluster.stop()

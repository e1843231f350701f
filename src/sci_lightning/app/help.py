"""``--help`` of the command lines: Hydra's app help, with the templates in ``conf/hydra/help/``.

Hydra fills every placeholder of a help template, used or not; listing Hydra's own config
groups (``$HYDRA_CONFIG_GROUPS``, which neither of our templates shows) copies the whole
config store once per group and took about a third of a second of ``--help``'s time.
:func:`skip_unused_group_listing` leaves that listing empty for ``--help`` only
(``--hydra-help`` keeps Hydra's full text). The app's own groups are listed from the
package's ``conf/<group>/*.yaml`` files (:func:`app_group_listing`), in Hydra's words
(``group: a, b, c``), instead of by Hydra, which deep-copies the config store for every
group (more than half of ``--help``'s time before; ``benchmarks/cli_startup.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

__all__ = ["skip_unused_group_listing"]


def conf_dir() -> Path:
    """The folder of the ``sci_lightning.conf`` package (the repository's ``conf/``, shipped in the wheel)."""
    from importlib.resources import files

    return Path(str(files("sci_lightning.conf"))).resolve()


def app_group_listing(conf: Path | None = None) -> str:
    """``group: option, option`` per config group of the app (sorted, Hydra's compact format)."""
    conf_dir_ = conf or conf_dir()
    lines = []
    for group in sorted(
        p for p in conf_dir_.iterdir() if p.is_dir() and p.name not in ("hydra", "__pycache__")
    ):
        options = sorted(f.stem for f in group.glob("*.yaml"))
        if options:
            lines.append(f"{group.name}: {', '.join(options)}")
    return "\n".join(lines)


def skip_unused_group_listing(argv: Sequence[str], *, app_groups: bool = True) -> bool:
    """For ``--help``: skip listing Hydra's groups (and, with ``app_groups=False``, the app's).

    Returns whether the listing was patched. A Hydra without the expected method is left alone.
    """
    if not any(a in ("--help", "-h") for a in argv) or "--hydra-help" in argv:
        return False
    try:
        from hydra._internal.hydra import Hydra
    except ImportError:  # pragma: no cover - another Hydra layout: its own (slower) help
        return False
    original = getattr(Hydra, "format_config_groups", None)
    if original is None or getattr(original, "_sci_lightning", False):
        return False

    def format_config_groups(self, predicate, compact=True):  # type: ignore[no-untyped-def]
        if predicate("hydra/help") or not app_groups:  # Hydra's own groups: not in our templates
            return ""
        try:
            return app_group_listing()
        except OSError:  # an unusual install: Hydra's own (slower) listing
            return original(self, predicate, compact)

    format_config_groups._sci_lightning = True  # type: ignore[attr-defined]
    Hydra.format_config_groups = format_config_groups  # type: ignore[method-assign]
    return True

"""``--help`` of the command lines: Hydra's app help, with the templates in ``conf/hydra/help/``.

Hydra fills every placeholder of a help template, used or not; listing Hydra's own config
groups (``$HYDRA_CONFIG_GROUPS``, which neither of our templates shows) copies the whole
config store once per group and took about a third of a second of ``--help``'s time.
:func:`skip_unused_group_listing` leaves that listing empty for ``--help`` only
(``--hydra-help`` keeps Hydra's full text).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["skip_unused_group_listing"]


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
        return original(self, predicate, compact)

    format_config_groups._sci_lightning = True  # type: ignore[attr-defined]
    Hydra.format_config_groups = format_config_groups  # type: ignore[method-assign]
    return True

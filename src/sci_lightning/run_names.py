"""Run names from Hydra overrides: one name per job, the same in TensorBoard, reports and comparisons.

``["model=inception", "trainer.max_epochs=2"]`` -> ``model=inception,trainer.max_epochs=2``;
in a multirun only the swept keys name a job (see :func:`swept_keys`). TensorBoard's
logger (:mod:`sci_lightning.lightning.tb_layout`) names its runs with these functions, and
the comparison (:mod:`sci_lightning.compare.records`) names a failed job, which left no
report, in the same words (:func:`job_run_name`). No Lightning or Hydra import here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["RUN_NAME_EXCLUDED_KEYS", "job_run_name", "override_key", "run_name_from_overrides", "swept_keys"]

#: Characters kept in a run name; anything else (``/``, spaces, ``$``, ``:`` ...) becomes ``_``.
_UNSAFE = re.compile(r"[^A-Za-z0-9=,.+_@%-]")
_MAX_NAME = 120
_SWEEP_VALUE = re.compile(r"^(range|choice|interval|glob|sort|shuffle|tag)\(")


def override_key(override: str) -> str:
    """``"+trainer.max_epochs=2"`` -> ``"trainer.max_epochs"``."""
    return override.split("=", 1)[0].lstrip("+~").strip()


def swept_keys(sweep_overrides: Iterable[str]) -> set[str]:
    """Keys that a multirun's command-line overrides sweep (``model=a,b``, ``lr=range(...)``).

    A value with an unquoted comma or a sweep function (range/choice/interval/glob) sweeps.
    """
    keys = set()
    for o in sweep_overrides:
        if "=" not in o:
            continue
        value = o.split("=", 1)[1].strip()
        unquoted = re.sub(r"'[^']*'|\"[^\"]*\"|\[[^\]]*\]|\{[^}]*\}", "", value)
        if "," in unquoted or _SWEEP_VALUE.match(value):
            keys.add(override_key(o))
    return keys


def run_name_from_overrides(
    overrides: Sequence[str],
    *,
    keep_keys: Iterable[str] | None = None,
    exclude_keys: Iterable[str] = (),
    default: str = "default",
) -> str:
    """A run name from Hydra task overrides, safe as one path component.

    ``["model=inception", "trainer.max_epochs=2"]`` -> ``"model=inception,trainer.max_epochs=2"``.

    Args:
        overrides: the job's task overrides (``HydraConfig.get().overrides.task``).
        keep_keys: if given, only overrides of these keys (e.g. the swept ones).
        exclude_keys: overrides of these keys are left out.
        default: the name when nothing is left.

    Characters other than letters, digits and ``= , . + _ @ % -`` become ``_``; a name
    longer than 120 characters is cut and ends with a short hash of the full name.
    """
    keep = set(keep_keys) if keep_keys is not None else None
    exclude = set(exclude_keys)
    parts = []
    for o in overrides:
        o = str(o).strip()
        k = override_key(o)
        if not o or k in exclude or (keep is not None and k not in keep):
            continue
        parts.append(o)
    name = _UNSAFE.sub("_", ",".join(parts)) or default
    if name in (".", ".."):
        name = name.replace(".", "_")
    if len(name) > _MAX_NAME:
        import hashlib

        digest = hashlib.sha1(name.encode()).hexdigest()[:8]
        name = name[: _MAX_NAME - 9] + "~" + digest
    return name


def _sweep_overrides_from_disk(sweep_dir: Path) -> list[str] | None:
    """The multirun's command-line overrides, from ``<sweep_dir>/multirun.yaml`` (written by Hydra's sweeper)."""
    f = sweep_dir / "multirun.yaml"
    if not f.is_file():
        return None
    try:
        import yaml

        data = yaml.safe_load(f.read_text(encoding="utf-8"))
        task = data["hydra"]["overrides"]["task"]
        return [str(t) for t in task] if isinstance(task, list) else None
    except Exception:
        return None


#: Overrides that say where a run is, not what it is: left out of run names, so that a
#: resumed run (``ckpt_path=...``) logs into the same TensorBoard run as its first part.
RUN_NAME_EXCLUDED_KEYS = ("ckpt_path", "output_dir")


def job_run_name(job_dir: str | Path) -> str | None:
    """The run name a job folder's Hydra files give it (as its TensorBoard run and report are
    named), ``None`` without ``.hydra/overrides.yaml``: in a sweep folder (``multirun.yaml``
    one level up) only the swept keys, else every override; never ``ckpt_path``/``output_dir``."""
    job_dir = Path(job_dir)
    overrides = _read_list(job_dir / ".hydra" / "overrides.yaml")
    if overrides is None:
        return None
    sweep = _sweep_overrides_from_disk(job_dir.parent)
    keys = swept_keys(sweep) if sweep else None
    return run_name_from_overrides(overrides, keep_keys=keys or None, exclude_keys=RUN_NAME_EXCLUDED_KEYS)


def _read_list(path: Path) -> list[str] | None:
    if not path.is_file():
        return None
    try:
        import yaml

        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except Exception:
        return None
    return [str(x) for x in data] if isinstance(data, list) else None

"""TensorBoard: runs named by their Hydra overrides, and a custom-scalars layout.

Run naming scheme
-----------------
TensorBoard names a run by the path, relative to ``--logdir``, of the folder holding
its event files. So each job logs with
``TensorBoardLogger(save_dir=<sweep dir>, name=<overrides>, version="")``, i.e. into
``<sweep dir>/<overrides>/events.out.tfevents...``; then::

    tensorboard --logdir multirun/2026-11-28/20-00-00

lists the runs ``model=inception`` and ``model=densenet`` side by side. In a multirun
only the swept overrides name the run (``experiment=quickstart``, common to every job,
is left out); in a single run all task overrides do (``default`` when there are none),
and the save_dir is the run's output folder. :func:`make_logger_from_hydra` does all of
this from the running Hydra job.

Custom scalars
--------------
:func:`write_custom_scalars_layout` adds one layout to a run (the "Custom Scalars" tab)
grouping the energy, carbon/SCI and training charts; TensorBoard merges identical
layouts of several runs into one, each chart showing every run. Every chart is a running
series (one point per logged step or epoch), so each has a line at TensorBoard's default
settings; the fit-end totals are in the Text summary (``sci/summary``) and the HParams tab.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import TensorBoardLogger

from sci_lightning.run_names import (  # noqa: F401 - re-exported: the logger's run names live there
    RUN_NAME_EXCLUDED_KEYS,
    _sweep_overrides_from_disk,
    override_key,
    run_name_from_overrides,
    swept_keys,
)

if TYPE_CHECKING:
    from hydra.conf import HydraConf
    from lightning.pytorch import LightningModule, Trainer

# The chart tags are regular expressions matched from the start of the tag (TensorBoard
# uses re.match), so "$" pins the end where a prefix would match more than meant.
DEFAULT_LAYOUT: dict[str, dict[str, list[Any]]] = {
    "Energy": {
        "Power (W): total and per component": ["Multiline", [r"energy/power_w/.*"]],
        "Energy per batch (J)": ["Multiline", [r"energy/batch_j$"]],
        "Energy per epoch (J)": ["Multiline", [r"energy/epoch_j$"]],
        "Energy so far (Wh, PUE applied)": ["Multiline", [r"energy/so_far_wh$"]],
    },
    "Carbon and SCI": {
        "SCI so far and projected at fit end (mgCO2e per functional unit)": [
            "Multiline",
            [r"sci/so_far/sci_mg$", r"sci/projected/sci_mg$"],
        ],
        "Operational emissions so far (mgCO2e)": ["Multiline", [r"sci/so_far/operational_mg$"]],
        "Grid intensity I, mean so far (gCO2e/kWh)": ["Multiline", [r"sci/so_far/intensity_g_per_kwh$"]],
        "Cost so far ($USD)": ["Multiline", [r"results/cost_usd$"]],
    },
    "Training": {
        "Training loss": ["Multiline", [r"train/loss.*"]],
        "Validation accuracy (top-1, top-5)": [
            "Multiline",
            [r"val/acc(_epoch)?$", r"val/acc_top5(_epoch)?$"],
        ],
    },
}


def make_logger(
    save_dir: str | os.PathLike[str],
    overrides: Sequence[str],
    *,
    name: str | None = None,
    keep_keys: Iterable[str] | None = None,
    exclude_keys: Iterable[str] = (),
    default_hp_metric: bool = False,
    log_graph: bool = False,
    prefix: str = "",
    sub_dir: str | Path | None = None,
    **kwargs: object,
) -> TensorBoardLogger:
    """A ``TensorBoardLogger`` writing to ``<save_dir>/<run name>/`` (``version=""``).

    Open ``save_dir`` in TensorBoard to see the runs named by their overrides. ``name``
    overrides the derived run name; ``log_graph``, ``prefix``, ``sub_dir`` and other keyword
    arguments (the ``SummaryWriter``'s) go to ``TensorBoardLogger``.
    """
    run_name = name or run_name_from_overrides(overrides, keep_keys=keep_keys, exclude_keys=exclude_keys)
    return TensorBoardLogger(
        save_dir=os.fspath(save_dir),
        name=run_name,
        version="",
        default_hp_metric=default_hp_metric,
        log_graph=log_graph,
        prefix=prefix,
        sub_dir=sub_dir,
        **kwargs,
    )


def hydra_run_name_and_dir(hydra_cfg: HydraConf | None = None) -> tuple[str, Path]:
    """(run name, TensorBoard save_dir) for the running Hydra job.

    Multirun: the swept overrides (read from ``multirun.yaml``; all task overrides if it
    is missing) and the sweep folder. Single run: all task overrides and the job's
    output folder. ``hydra_cfg`` defaults to ``HydraConfig.get()``. Overrides of
    :data:`RUN_NAME_EXCLUDED_KEYS` never take part in the name.
    """
    if hydra_cfg is None:
        from hydra.core.hydra_config import HydraConfig

        hydra_cfg = HydraConfig.get()
    overrides = [str(o) for o in hydra_cfg.overrides.task]
    mode = getattr(hydra_cfg.mode, "name", str(hydra_cfg.mode))
    if mode == "MULTIRUN":
        sweep_dir = Path(str(hydra_cfg.sweep.dir)).absolute()
        sweep_overrides = _sweep_overrides_from_disk(sweep_dir)
        keys = swept_keys(sweep_overrides) if sweep_overrides else None
        name = run_name_from_overrides(overrides, keep_keys=keys or None, exclude_keys=RUN_NAME_EXCLUDED_KEYS)
        return name, sweep_dir
    name = run_name_from_overrides(overrides, exclude_keys=RUN_NAME_EXCLUDED_KEYS)
    return name, Path(str(hydra_cfg.runtime.output_dir)).absolute()


def make_logger_from_hydra(
    *,
    default_hp_metric: bool = False,
    log_graph: bool = False,
    prefix: str = "",
    sub_dir: str | Path | None = None,
    **kwargs: object,
) -> TensorBoardLogger:
    """:func:`make_logger` for the running Hydra job (see :func:`hydra_run_name_and_dir`); the
    keyword arguments are :func:`make_logger`'s ``TensorBoardLogger`` options."""
    name, save_dir = hydra_run_name_and_dir()
    return make_logger(
        save_dir,
        [],
        name=name,
        keep_keys=None,
        exclude_keys=(),
        default_hp_metric=default_hp_metric,
        log_graph=log_graph,
        prefix=prefix,
        sub_dir=sub_dir,
        **kwargs,
    )


def custom_scalars_layout(
    extra: dict[str, dict[str, list[Any]]] | None = None,
) -> dict[str, dict[str, list[Any]]]:
    """The default layout (a copy), with ``extra`` categories/charts merged in."""
    layout = {cat: dict(charts) for cat, charts in DEFAULT_LAYOUT.items()}
    for cat, charts in (extra or {}).items():
        layout.setdefault(cat, {}).update(charts)
    return layout


def write_custom_scalars_layout(
    logger_or_writer: object, layout: dict[str, dict[str, list[Any]]] | None = None
) -> bool:
    """Add the custom-scalars layout to a run.

    Accepts a Lightning ``TensorBoardLogger`` (its ``experiment``), a
    ``torch.utils.tensorboard.SummaryWriter`` or a ``tensorboardX.SummaryWriter``.
    Returns False (and writes nothing) for anything else, e.g. a CSV logger, or a
    non-zero rank's placeholder experiment.
    """
    writer = getattr(logger_or_writer, "experiment", logger_or_writer)
    add = getattr(writer, "add_custom_scalars", None)
    if add is None or not callable(add) or type(writer).__name__ == "DummyExperiment":
        return False
    add(layout or custom_scalars_layout())
    flush = getattr(writer, "flush", None)
    if callable(flush):
        flush()
    return True


class CustomScalarsLayoutCallback(Callback):
    """Writes the custom-scalars layout to every TensorBoard logger when fitting starts.

    Example::

        Trainer(logger=make_logger_from_hydra(), callbacks=[CustomScalarsLayoutCallback()])
    """

    def __init__(self, layout: dict[str, dict[str, list[Any]]] | None = None) -> None:
        self.layout = layout

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        for lg in trainer.loggers:
            if isinstance(lg, TensorBoardLogger):
                write_custom_scalars_layout(lg, self.layout)


def list_tensorboard_runs(logdir: str | os.PathLike[str]) -> list[str]:
    """Run names as TensorBoard lists them: folders holding event files, relative to ``logdir``.

    Uses TensorBoard's own event-file test; the logdir itself is the run ``"."``.
    """
    from tensorboard.backend.event_processing import io_wrapper

    root = Path(logdir)
    runs = []
    for dirpath, _dirs, files in os.walk(root):
        if any(io_wrapper.IsSummaryEventsFile(os.path.join(dirpath, f)) for f in files):
            rel = os.path.relpath(dirpath, root)
            runs.append(rel.replace(os.sep, "/"))
    return sorted(runs)


def read_custom_scalars_layout(run_dir: str | os.PathLike[str]) -> dict[str, dict[str, list[str]]]:
    """The custom-scalars layout stored in a run folder's event files, as ``{category: {chart: [tags]}}``.

    Reads the files back with TensorBoard's ``EventAccumulator`` (for checks and tests).
    """
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.custom_scalar import layout_pb2, metadata

    if not Path(run_dir).is_dir():
        return {}
    acc = EventAccumulator(os.fspath(run_dir), size_guidance={"tensors": 0})
    acc.Reload()
    if metadata.CONFIG_SUMMARY_TAG not in acc.Tags().get("tensors", []):
        return {}
    out: dict[str, dict[str, list[str]]] = {}
    for event in acc.Tensors(metadata.CONFIG_SUMMARY_TAG):
        layout = layout_pb2.Layout()  # pyright: ignore[reportAttributeAccessIssue]  (protobuf-generated, no stubs)
        layout.ParseFromString(event.tensor_proto.string_val[0])
        for cat in layout.category:
            charts = out.setdefault(cat.title, {})
            for ch in cat.chart:
                tags = (
                    list(ch.multiline.tag)
                    if ch.HasField("multiline")
                    else [s.value for s in ch.margin.series]
                )
                charts[ch.title] = tags
    return out

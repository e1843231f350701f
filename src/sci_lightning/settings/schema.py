"""Every settings group of sci-lightning, with its checks: the schema.

Each group (``model``, ``data``, ``trainer``, ``energy``, ``carbon``, ``sci``, ``schedule``,
``inference``, ``compare``, ``checkpoint``, ``prometheus``, ``plan``) is one dataclass below.
A field declares its type, its default and, through :func:`setting`, what values it allows
(``choices``, ``ge``, ``gt``, ``le``, ``lt``); rules that tie two fields together live in the
group's ``check`` method, which :func:`~sci_lightning.settings.coercion.coerce` calls.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from sci_lightning.errors import setting_error
from sci_lightning.settings.coercion import is_real, join_path
from sci_lightning.settings.providers import PROVIDER_NAMES

__all__ = [
    "FUNCTIONAL_UNITS",
    "CarbonConfig",
    "CheckpointConfig",
    "CompareConfig",
    "Config",
    "DataConfig",
    "EnergyConfig",
    "InferenceConfig",
    "ModelConfig",
    "PlanConfig",
    "PrometheusConfig",
    "ScheduleConfig",
    "SciConfig",
    "TrainerConfig",
    "setting",
]


T = TypeVar("T")


@overload
def setting(
    default: T,
    *,
    choices: tuple[Any, ...] | None = None,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
) -> T: ...
@overload
def setting(
    *,
    choices: tuple[Any, ...] | None = None,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    factory: Callable[[], T],
) -> T: ...


def setting(
    default: object = dataclasses.MISSING,
    *,
    choices: tuple[Any, ...] | None = None,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    factory: Callable[[], object] | None = None,
) -> object:
    """A dataclass field with the values it allows (checked by :func:`coerce`).

    Every number is also checked to be finite (no NaN, no infinity).
    """
    meta = {"choices": choices, "ge": ge, "gt": gt, "le": le, "lt": lt}
    meta = {k: v for k, v in meta.items() if v is not None}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


# --------------------------------------------------------------------------- the groups


@dataclass
class ModelConfig:
    """A timm image classifier and how it is trained."""

    name: str = "inception_v3"  # any timm model name (timm.list_models())
    display_name: str | None = None  # label in reports; default: the config choice, e.g. "inception"
    image_size: int = setting(299, ge=16)  # square input size in pixels
    weights: str | None = None  # local pretrained weights (.pth/.bin/.safetensors); hubs may be unreachable
    # train only the classifier head (the case study's setup); null: frozen exactly when
    # `weights` is given (pretrained backbone), trained end to end otherwise
    freeze_backbone: bool | None = False
    # with a frozen backbone and data.augment=false: compute its features once (inside the
    # measured window), train the head on them every epoch (sci_lightning.lightning.features)
    cache_features: bool = False
    drop_rate: float = setting(0.0, ge=0.0, lt=1.0)
    optimizer: str = setting("adamw", choices=("adamw", "adam", "sgd"))
    lr: float = setting(1e-3, gt=0.0)
    weight_decay: float = setting(0.05, ge=0.0)
    momentum: float = setting(0.9, ge=0.0, lt=1.0)  # sgd only
    scheduler: str = setting("cosine", choices=("cosine", "step", "none"))
    warmup_epochs: int = setting(0, ge=0)
    label_smoothing: float = setting(0.0, ge=0.0, lt=1.0)

    @property
    def frozen(self) -> bool:
        """``freeze_backbone`` with ``null`` meaning "frozen when pretrained weights are given"."""
        if self.freeze_backbone is None:
            return bool(self.weights)
        return bool(self.freeze_backbone)

    def check(self, path: str) -> None:
        if self.cache_features and not self.frozen:
            raise setting_error(
                f"{path}.cache_features",
                True,
                "caching features needs a frozen backbone",
                f"Also set {path}.freeze_backbone=true, or {path}.cache_features=false.",
            )


@dataclass
class DataConfig:
    """The dataset and its input path.

    ``name`` picks the dataset: ``tiny_imagenet`` (the official tree under ``root``) or
    ``synthetic`` (generated into ``cache_dir`` in the same on-disk layout, then read by
    the same loader). ``pipeline`` picks the input path: ``fast`` (images decoded once
    into a uint8 cache, resize/augment/normalize done batched on the training device)
    or ``reference`` (per-image PIL + torchvision transforms in the workers).
    """

    name: str = setting("tiny_imagenet", choices=("tiny_imagenet", "synthetic"))
    # Directory holding wnids.txt (e.g. .../tiny-imagenet-200). None: $TINY_IMAGENET_ROOT,
    # else <cache_dir>/tiny-imagenet-200. Resolved in code, not through ${oc.env:...}.
    root: str | None = None
    download: bool = False  # fetch + MD5-check + extract the official zip when root is missing
    download_url: str | None = None  # None: the official cs231n URL (set for a mirror)
    download_md5: str | None = None  # None: the official zip's MD5 (90528d7ca1a48142e341f4ef8d21d0de)
    batch_size: int = setting(64, ge=1)
    num_workers: int = setting(2, ge=0)
    pin_memory: bool = False
    persistent_workers: bool = False
    pipeline: str = setting("fast", choices=("fast", "reference"))
    augment: bool = True  # random resized crop + horizontal flip on the train split
    # None: $SCI_LIGHTNING_CACHE, else ~/.cache/sci_lightning
    cache_dir: str | None = None
    # synthetic dataset
    synthetic_classes: int = setting(10, ge=1)
    synthetic_train_per_class: int = setting(50, ge=1)
    synthetic_val_per_class: int = setting(10, ge=1)
    synthetic_image_px: int = setting(64, ge=8)
    seed: int = setting(0, ge=0, lt=2**32)  # numpy/torch seeds are 32-bit unsigned
    # optional subsets (deterministic from `seed`); None: everything
    max_classes: int | None = setting(None, ge=1)  # the first N classes in wnids.txt order
    max_train_images: int | None = setting(None, ge=1)
    max_val_images: int | None = setting(None, ge=1)
    # augmentation (train split only, when augment=true)
    crop_scale_min: float = setting(0.35, gt=0.0, le=1.0)  # smallest crop area as a fraction of the image
    flip_p: float = setting(0.5, ge=0.0, le=1.0)
    # fast pipeline: DataLoader workers serving the uint8 batches. A batch is one memmap
    # slice (< 1 ms), so handing it over from worker processes costs the main process more
    # than reading it itself; 0 (default) reads in-process. None: use num_workers.
    # num_workers still sets the processes that decode images when the cache is built.
    fast_num_workers: int | None = setting(0, ge=0)
    # fast pipeline: side of the cached uint8 images; None: the first train image's size
    # (64 for Tiny ImageNet, which then caches the decoded pixels unchanged)
    cache_image_px: int | None = setting(None, ge=1)


#: ``trainer.accelerator`` values Lightning knows (its registry plus the ``gpu``/``tpu`` aliases).
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu", "xla")


@dataclass
class TrainerConfig:
    """``lightning.Trainer`` arguments, plus the app's GPU speed options.

    Every field except the three marked "app" below is passed to ``lightning.Trainer``
    under its own name (see :meth:`trainer_kwargs`), so a new Trainer option is one line
    here and one in ``conf/trainer/default.yaml``.
    """

    accelerator: str = setting("auto", choices=ACCELERATORS)
    devices: Any = "auto"  # int, list of ints, or "auto"
    num_nodes: int = setting(1, ge=1)
    strategy: str = "auto"  # auto | ddp | ddp_spawn | ...
    # "32-true", "16-mixed", "bf16-mixed", ... or "auto-mixed": bf16-mixed where the GPU
    # supports it, 16-mixed on other GPUs (a T4 has no bf16), 32-true on CPU.
    precision: str = setting(
        "32-true",
        choices=("32-true", "32", "16-mixed", "bf16-mixed", "16-true", "bf16-true", "64-true", "auto-mixed"),
    )
    max_epochs: int = setting(10, ge=1)
    max_steps: int = setting(-1, ge=-1)  # -1: bounded by max_epochs only; schedule.pause=exit needs it
    limit_train_batches: Any = None  # int (batches) or float (fraction); None: all
    limit_val_batches: Any = None
    val_check_interval: Any = None
    log_every_n_steps: int = setting(50, ge=1)
    enable_progress_bar: bool | None = None  # None: on when the terminal is interactive
    deterministic: bool = False
    benchmark: bool | None = None  # cudnn.benchmark; None: Lightning's default
    gradient_clip_val: float | None = setting(None, ge=0.0)
    accumulate_grad_batches: int = setting(1, ge=1)
    fast_dev_run: bool = False
    num_sanity_val_steps: int = setting(2, ge=-1)
    channels_last: bool = False  # app: channels-last memory format for the network
    compile: bool = False  # app: torch.compile the network

    #: Fields the app consumes itself; every other field is a ``lightning.Trainer`` argument.
    APP_FIELDS = ("channels_last", "compile")

    def trainer_kwargs(self) -> dict[str, Any]:
        """The ``lightning.Trainer`` arguments (``precision`` still unresolved: see train.py)."""
        return {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in self.APP_FIELDS
        }

    def check(self, path: str) -> None:
        for key in ("limit_train_batches", "limit_val_batches"):
            value = getattr(self, key)
            if value is not None and not _is_batch_limit(value):
                raise setting_error(
                    f"{path}.{key}",
                    value,
                    "not a number of batches",
                    "Give an int (batches), a float in [0, 1] (a fraction) or null (all).",
                )
        if not _devices_ok(self.devices):
            raise setting_error(
                f"{path}.devices",
                self.devices,
                "not a device count or list",
                f"Give {path}.devices=auto, a positive int (e.g. 1), -1 (all) or a list of indices (e.g. [0,1]).",
            )


@dataclass
class EnergyConfig:
    """How energy is measured (see :func:`sci_lightning.energy.build_meters`)."""

    enabled: bool = True
    # auto: the best available per component (NVML counter > NVML power sampling for GPUs;
    # RAPL > CPU-time estimate for CPUs). Other values force a method.
    gpu: str = setting("auto", choices=("auto", "counter", "sampling", "off"))
    cpu: str = setting("auto", choices=("auto", "rapl", "estimate", "off"))
    ram: str = setting("estimate", choices=("estimate", "off"))
    gpu_sampling_interval_s: float = setting(0.1, gt=0.0)
    cpu_tdp_w: float = setting(65.0, gt=0.0)  # whole package TDP used by the CPU-time estimate
    cpu_cores: int | None = setting(None, ge=1)  # physical cores behind cpu_tdp_w (None: os.cpu_count())
    ram_w_per_gb: float = setting(0.375, ge=0.0)
    pue: float = setting(1.0, ge=1.0)  # data-centre overhead; 1.0: none
    timeline_max_intervals: int = setting(512, ge=2)
    rapl_root: str = "/sys/class/powercap"
    # read the meters at most this often (s), and always at window edges; about the NVML
    # energy counter's refresh period. 0: read at every step
    min_read_interval_s: float = setting(0.1, ge=0.0)
    # measure the GPUs' idle power for this long (s) before training, reported beside the
    # total as a disclosure (never subtracted); 0: off
    idle_baseline_s: float = setting(0.0, ge=0.0)


@dataclass
class CarbonConfig:
    """Where the grid carbon intensity comes from (see :mod:`sci_lightning.carbon`)."""

    provider: str = setting("static", choices=PROVIDER_NAMES)
    region: str = "world"  # provider-specific region / zone / location name
    latitude: float | None = setting(None, ge=-90.0, le=90.0)
    longitude: float | None = setting(None, ge=-180.0, le=180.0)
    base_url: str | None = None  # None: the provider's public endpoint (carbon_aware_sdk requires one)
    signal_type: str | None = None  # None: the provider's default (watttime: co2_moer)
    timeout_s: float = setting(10.0, gt=0.0)
    retries: int = setting(3, ge=0)
    backoff_s: float = setting(0.5, ge=0.0)
    # time budget of one call to a provider: every attempt, timeout and Retry-After/backoff wait together
    max_total_wait_s: float = setting(30.0, gt=0.0)
    fallback: list[str] = setting(factory=lambda: ["static"], choices=PROVIDER_NAMES)
    # trace provider
    trace_path: str | None = None
    trace_column: str | None = None  # exact header, or "direct" / "lca" for Electricity Maps exports
    # unit of the trace's values, converted to gCO2e/kWh; None: g/kWh, and values that look
    # like another unit (all < 5, or a column named in kg/lbs) are refused with the fix
    trace_unit: str | None = setting(None, choices=(None, "g_per_kwh", "kg_per_kwh", "lbs_per_mwh"))
    trace_time_offset_h: float | None = None  # shift every trace timestamp by this many hours
    trace_replay: bool = False  # repeat the trace cyclically (whole weeks) so any time, e.g. now, has a value
    # static provider: override the table's value for the region (gCO2e/kWh)
    # (at most 3,000: sci_lightning.carbon.base.MAX_PLAUSIBLE_G_PER_KWH, the physical bound)
    static_g_per_kwh: float | None = setting(None, ge=0.0, le=3000.0)
    # fallback chain: after a provider fails, skip it for this long before trying it again
    fallback_cooldown_s: float = setting(300.0, ge=0.0)

    def check(self, path: str) -> None:
        if (self.latitude is None) != (self.longitude is None):
            given = "latitude" if self.longitude is None else "longitude"
            raise setting_error(
                f"{path}.{given}",
                getattr(self, given),
                "a location needs both coordinates",
                f"Set {path}.latitude and {path}.longitude together, or neither.",
            )


#: THE list of SCI functional units R (the report gives every one whose R > 0), each with the
#: unit of an SCI expressed in it. ``sci.functional_unit`` is checked against it and
#: :mod:`sci_lightning.sci.compute` reads it.
FUNCTIONAL_UNITS: dict[str, str] = {
    "job": "gCO2e/job",
    "epoch": "gCO2e/epoch",
    "1000_images": "gCO2e/1000 images",
    "pflop": "gCO2e/PFLOP",
    "billion_parameters": "gCO2e/billion parameters",
    "1000_tokens": "gCO2e/1000 tokens",
}


@dataclass
class SciConfig:
    """Settings of the SCI score (GSF SCI v1.1, ISO/IEC 21031:2024): SCI = ((E x I) + M) per R.

    ``functional_unit`` picks the headline R; the report gives every unit whose R > 0.
    Embodied emissions M = TE x (TiR / EL) x (RR / ToR) are computed when TE and EL are
    both set (all-or-none); otherwise M = 0 and the report says M is out of scope.
    """

    functional_unit: str = setting("job", choices=tuple(FUNCTIONAL_UNITS))
    price_per_hour_usd: float = setting(1.204, ge=0.0)  # the case study's NVIDIA T4 VM
    embodied_total_kg: float | None = setting(None, gt=0.0)  # TE, kgCO2e of the hardware
    lifespan_years: float | None = setting(None, gt=0.0)  # EL
    resources_reserved: float = setting(1.0, gt=0.0)  # RR, e.g. GPUs reserved
    resources_total: float = setting(1.0, gt=0.0)  # ToR, e.g. GPUs in the machine
    embodied_source: str | None = None  # where TE / EL come from (cited in the report)
    # gCO2e/kWh used only when the intensity series has no points at all (recorded as a note)
    default_intensity_g_per_kwh: float | None = setting(None, ge=0.0)
    # Free text describing the software boundary (None: the default boundary statement)
    boundary: str | None = None
    # Carbon budget of the job (lightning.carbon_budget.CarbonBudget): gCO2e and/or facility kWh;
    # when the projected job total exceeds it: warn once, or stop cleanly at an epoch end
    budget_g: float | None = setting(None, gt=0.0)
    budget_kwh: float | None = setting(None, gt=0.0)
    budget_action: str = setting("warn", choices=("warn", "stop"))

    # TE per accelerator from the cited table sci/accelerator_embodied.json (x resources_total);
    # embodied_total_kg, when set, wins
    accelerator: str | None = None
    # SCI for AI disclosures, printed verbatim in the report (e.g. failed runs included)
    disclosures: list[str] = setting(factory=list)
    # SCI for AI 8.2.2: why this functional unit was chosen (stated in the report; None: "not given")
    functional_unit_rationale: str | None = None

    @property
    def embodied_in_scope(self) -> bool:
        te_given = self.embodied_total_kg is not None or self.accelerator is not None
        return te_given and self.lifespan_years is not None

    def check(self, path: str) -> None:
        if self.resources_reserved > self.resources_total:
            raise setting_error(
                f"{path}.resources_reserved",
                self.resources_reserved,
                f"exceeds {path}.resources_total={self.resources_total:g}",
                "RR / ToR is the share of the hardware reserved by the job; RR cannot be larger than ToR.",
            )
        te_given = self.embodied_total_kg is not None or self.accelerator is not None
        if te_given != (self.lifespan_years is not None):
            missing = "lifespan_years" if te_given else "embodied_total_kg"
            raise setting_error(
                f"{path}.{missing}",
                None,
                "embodied emissions need both TE and EL",
                f"Set {path}.embodied_total_kg (kgCO2e) and {path}.lifespan_years together, "
                "or neither to leave M out of scope.",
            )


@dataclass
class ScheduleConfig:
    """Carbon-aware time shifting (see sci_lightning.shifting and docs/carbon_aware.md).

    Durations are text such as ``2h``, ``90m``, ``5400s`` or ``1h30m``.
    """

    mode: str = setting("none", choices=("none", "report", "wait", "slurm", "interrupt"))
    duration: str | None = None  # None: from a previous report or the first epoch
    window_h: float = setting(
        24.0, gt=0.0
    )  # plan within [now, now + window_h]; the job must finish inside it
    max_wait: str = "24h"  # wait mode: never wait longer than this
    replan_every: str = "30m"  # wait mode: fetch the forecast again this often; adopt it when fresher
    log_every: str = "10m"  # wait mode without a terminal: a countdown log line this often
    # points: candidate starts on forecast point starts | window_start: the SDK's grid
    align: str = setting("points", choices=("points", "window_start"))
    # interrupt mode (lightning.slot_schedule): between slots wait in-process, or exit and resume later
    pause: str = setting("wait", choices=("wait", "exit"))
    deadline: str | None = None  # interrupt mode: finish within this long from the start (None: window_h)
    min_slot: str = "30m"  # interrupt mode: the shortest slot of a multi-slot plan
    pause_cost: str = "5m"  # interrupt mode: checkpoint and restart time each resume adds

    def check(self, path: str) -> None:
        from sci_lightning.shifting.durations import parse_duration

        for key in (
            "duration",
            "max_wait",
            "replan_every",
            "log_every",
            "deadline",
            "min_slot",
            "pause_cost",
        ):
            value = getattr(self, key)
            if value is not None:
                parse_duration(value, f"{path}.{key}", allow_zero=(key == "pause_cost"))


@dataclass
class InferenceConfig:
    """The inference measured after training, for the Consumer SCI (SCI for AI; docs/methodology.md).

    With ``enabled``, ``python -m sci_lightning`` runs ``trainer.<stage>`` (``predict``: forward
    passes only; ``test``: also the test loss and accuracy) on the validation images with the
    final weights once the fit has completed. The EnergyCarbonCallback measures it in its own
    window and reports energy per image and SCI per 1,000 images (``SciReport.inference``).
    """

    enabled: bool = True
    stage: str = setting("predict", choices=("predict", "test"))
    limit_batches: Any = None  # int (batches) or float (a fraction of the validation images); None: all

    def check(self, path: str) -> None:
        value = self.limit_batches
        if value is not None and (not is_real(value) or value < 0 or isinstance(value, bool)):
            raise setting_error(
                f"{path}.limit_batches",
                value,
                "not a number of batches",
                "Give an int (batches), a float in [0, 1] (a fraction) or null (all the validation images).",
            )


@dataclass
class CompareConfig:
    """Model comparison at the end of a multirun (see docs/comparison.md)."""

    baseline: str | None = None  # model name (e.g. densenet); None: the first job
    charts: bool = True  # write the comparison*.png bar charts
    enabled: bool = True  # False: no comparison files at the end of a multirun


@dataclass
class CheckpointConfig:
    """When ``last.ckpt`` is written while training (``save_checkpoint=true``).

    It is written at the end of every epoch, every ``every_min`` minutes of training and,
    if set, every ``every_n_steps`` optimizer steps, atomically, with the energy measured
    so far; ``save_top_k`` > 0 also keeps the best checkpoints by ``monitor``.
    """

    every_min: float | None = setting(5.0, gt=0.0)  # None: only at epoch ends (and interruptions)
    every_n_steps: int | None = setting(None, ge=1)
    save_top_k: int = setting(0, ge=-1)  # best-k by `monitor` besides last.ckpt; -1: keep all
    monitor: str | None = None  # e.g. val/acc; needed when save_top_k != 0
    mode: str = setting("max", choices=("max", "min"))

    def check(self, path: str) -> None:
        if self.save_top_k != 0 and not self.monitor:
            raise setting_error(
                f"{path}.save_top_k",
                self.save_top_k,
                "keeping the best checkpoints needs a metric",
                f"Set {path}.monitor (e.g. val/acc with {path}.mode=max), or {path}.save_top_k=0.",
            )


@dataclass
class PrometheusConfig:
    """Live gauges for Prometheus/Grafana while training (``prometheus_client``, extra ``[prometheus]``).

    Off by default. With ``enabled``, ``/metrics`` is served on ``addr:port`` (loopback
    unless you choose otherwise) and, with ``pushgateway_url``, pushed to that Pushgateway
    every ``push_every_s`` and at fit end, grouped by run, model, job number and host so that
    parallel jobs keep their own series (``sci_lightning_up`` is pushed as 0 at the end;
    ``delete_on_exit`` removes the group instead). Pushgateway credentials, if it needs any, come
    only from the environment (``SCI_LIGHTNING_PUSHGATEWAY_USERNAME`` / ``_PASSWORD``).
    """

    enabled: bool = False
    port: int | None = setting(9464, ge=0, le=65535)  # 0: any free port; None: no endpoint (push only)
    addr: str = "127.0.0.1"  # bind address of /metrics; 0.0.0.0 exposes it to the network
    pushgateway_url: str | None = None  # e.g. http://pushgateway:9091; None: no push
    job: str = "sci_lightning"  # the Pushgateway job label
    # true: the job's group is deleted from the Pushgateway when the fit ends (after up=0 is pushed)
    delete_on_exit: bool = False
    push_every_s: float = setting(30.0, gt=0.0)
    update_every_s: float = setting(1.0, ge=0.0)  # least time between gauge updates while training
    intensity_every_s: float = setting(300.0, gt=0.0)  # how often the current intensity is fetched

    def check(self, path: str) -> None:
        url = self.pushgateway_url
        if url is not None and not url.startswith(("http://", "https://")):
            raise setting_error(
                f"{path}.pushgateway_url",
                url,
                "not an http(s) URL",
                f"Give the Pushgateway's address, e.g. {path}.pushgateway_url=http://localhost:9091.",
            )
        if self.enabled and self.port is None and url is None:
            raise setting_error(
                f"{path}.port",
                None,
                "with no port and no pushgateway_url the gauges go nowhere",
                f"Set {path}.port (e.g. 9464, or 0 for any free port) or {path}.pushgateway_url.",
            )


@dataclass
class Config:
    """The whole configuration of ``python -m sci_lightning`` (one field per group)."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    energy: EnergyConfig = field(default_factory=EnergyConfig)
    carbon: CarbonConfig = field(default_factory=CarbonConfig)
    sci: SciConfig = field(default_factory=SciConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)
    compare: CompareConfig = field(default_factory=CompareConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    prometheus: PrometheusConfig = field(default_factory=PrometheusConfig)
    experiment_name: str = "default"
    seed: int = setting(42, ge=0, lt=2**32)  # numpy/torch seeds are 32-bit unsigned
    output_dir: str | None = None  # None: Hydra's run folder
    ckpt_path: str | None = None  # resume from this checkpoint ("last" for the newest of this model)
    save_checkpoint: bool = True
    tensorboard: bool = True

    def check(self, path: str) -> None:
        if self.model.cache_features and self.data.augment:
            raise setting_error(
                "data.augment",
                True,
                "model.cache_features=true computes each image's features once, without "
                "augmentation, so augmented training cannot reuse them",
                "Set data.augment=false (or model.cache_features=false to keep augmentation).",
            )


@dataclass
class PlanConfig:
    """Settings of ``python -m sci_lightning.plan`` (``conf/plan.yaml``)."""

    carbon: CarbonConfig = field(default_factory=CarbonConfig)
    duration: str = "2h"  # the job's expected run time: "2h", "90m", "5400s", "1h30m"
    window_h: float = setting(24.0, gt=0.0)  # plan within [start, start + window_h]
    start: str | None = None  # ISO-8601 UTC "now" for back-testing (e.g. on a trace); None: the clock
    energy_kwh: float | None = setting(None, ge=0.0)  # the job's energy, to project grams and SCI
    embodied_g: float = setting(0.0, ge=0.0)  # SCI's M for the job (gCO2e); 0: out of scope
    functional_units: float = setting(1.0, gt=0.0)  # SCI's R (e.g. 1 job); SCI = (E x I + M) / R
    align: str = setting("points", choices=("points", "window_start"))
    json: bool = False  # print JSON instead of a table (also: --json)
    plot: bool = True
    plot_path: str | None = None  # None: carbon_plan.png in Hydra's run folder
    slurm_begin: bool = False  # print only the sbatch --begin time
    slurm_tz: str | None = None  # the cluster's time zone for --begin (IANA name); None: this machine's
    # interruptible jobs: run in several slots before a deadline instead of one start
    interruptible: bool = False
    deadline: str | None = None  # finish within this long from the start ("36h"); None: window_h
    min_slot: str = "30m"  # shortest run slot worth a pause
    pause_cost: str = "5m"  # checkpoint + restart time each pause adds to the job
    pause_idle_w: float = setting(0.0, ge=0.0)  # power drawn while paused in-process (0: the job exits)

    def check(self, path: str) -> None:
        from sci_lightning.shifting.durations import parse_duration

        for key in ("duration", "deadline", "min_slot", "pause_cost"):
            value = getattr(self, key)
            if value is not None:
                parse_duration(value, join_path(path, key), allow_zero=(key == "pause_cost"))


# --------------------------------------------------------------------------- value checks


def _is_batch_limit(value: Any) -> bool:
    """An int >= 0 (batches) or a finite float in [0, 1] (a fraction), as Lightning accepts."""
    if not is_real(value):
        return False
    if isinstance(value, int):
        return value >= 0
    return math.isfinite(value) and 0.0 <= value <= 1.0


def _devices_ok(devices: Any) -> bool:
    """``trainer.devices`` as Lightning accepts it: "auto", a count, -1 (all) or indices."""
    if devices == "auto" or (
        isinstance(devices, int) and not isinstance(devices, bool) and (devices >= 1 or devices == -1)
    ):
        return True
    if isinstance(devices, str):
        text = devices.strip()
        return text == "-1" or (all(p.strip().isdigit() for p in text.split(",") if p.strip()) and bool(text))
    if isinstance(devices, (list, tuple)):
        return bool(devices) and all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in devices
        )
    return False

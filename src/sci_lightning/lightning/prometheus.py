"""PrometheusExporter: live energy, intensity and projected SCI gauges for Prometheus/Grafana.

Optional (``pip install sci-lightning[prometheus]``; ``prometheus.enabled=true`` in the app,
see :class:`~sci_lightning.settings.PrometheusConfig`). Place it after the
:class:`~sci_lightning.lightning.callback.EnergyCarbonCallback`; it reads that callback's
monitor and never measures anything itself. On rank 0, while fitting:

- ``sci_lightning_power_watts{component}``: mean IT power since the previous update, W
  (``component`` = gpu | cpu | ram | total);
- ``sci_lightning_energy_joules``: facility energy so far (IT x PUE, resumed parts included), J;
- ``sci_lightning_intensity_g_per_kwh``: the provider's current grid intensity, gCO2e/kWh
  (fetched on a background thread every ``intensity_every_s``);
- ``sci_lightning_projected_energy_kwh`` and ``sci_lightning_projected_carbon_grams``: the
  whole job projected from the energy per optimizer step so far
  (:func:`~sci_lightning.lightning.carbon_budget.project_job`, current intensity for the rest);
- ``sci_lightning_projected_sci{unit}``: projected operational SCI, (E x I) / R, for the
  functional units whose R is known before the end (``job``: 1, ``epoch``: max_epochs);
  embodied emissions are added only in the final report;
- ``sci_lightning_steps``, ``sci_lightning_steps_planned``, ``sci_lightning_up`` (1 while the
  fit runs, 0 once it ended, however it ended);
- ``sci_lightning_run_info{run, model, job_num, host}``: 1, the labels of this job.

``/metrics`` is served on ``addr:port`` (``port=0``: any free port, printed on stderr and kept
in :attr:`port`); with ``pushgateway_url`` the same registry is pushed
(``PUT /metrics/job/<job>/host/<host>/job_num/<n>/model/<model>/run/<run>``: the grouping key,
so parallel jobs of a sweep keep separate series) every ``push_every_s`` from a background
thread and once more when the fit ends, with ``up`` 0; with ``delete_on_exit`` the group is
then deleted from the gateway. Pushgateway basic-auth
credentials come only from ``SCI_LIGHTNING_PUSHGATEWAY_USERNAME`` /
``SCI_LIGHTNING_PUSHGATEWAY_PASSWORD``. A fault (port taken, gateway down, missing package)
never stops training: it warns once (:class:`PrometheusExporterWarning`).
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lightning.pytorch.callbacks import Callback
from typing_extensions import override

from sci_lightning.accounting import FIT
from sci_lightning.lightning.wiring import EnergyLink
from sci_lightning.redaction import redact
from sci_lightning.settings import PrometheusConfig, SciConfig, coerce
from sci_lightning.warn_once import WarnOnce

if TYPE_CHECKING:
    from lightning.pytorch import LightningModule, Trainer
    from lightning.pytorch.utilities.types import STEP_OUTPUT

    from sci_lightning.carbon.base import IntensityProvider
    from sci_lightning.lightning.callback import EnergyCarbonCallback

__all__ = ["PUSH_PASSWORD_ENV", "PUSH_USERNAME_ENV", "PrometheusExporter", "PrometheusExporterWarning"]

PUSH_USERNAME_ENV = "SCI_LIGHTNING_PUSHGATEWAY_USERNAME"
PUSH_PASSWORD_ENV = "SCI_LIGHTNING_PUSHGATEWAY_PASSWORD"
_J_PER_KWH = 3.6e6
#: The labels that tell one job from another: the Pushgateway grouping key and ``sci_lightning_run_info``'s.
LABEL_NAMES = ("run", "model", "job_num", "host")


class PrometheusExporterWarning(UserWarning):
    """The Prometheus exporter could not serve, update or push (training goes on)."""


class PrometheusExporter(Callback):
    """Serve (and optionally push) live gauges of the running fit.

    Args:
        config: :class:`~sci_lightning.settings.PrometheusConfig` (a dict or an OmegaConf
            node); ``enabled`` is not consulted here: adding the callback enables it.
        provider: the intensity provider for the current-intensity gauge (``None``: no
            intensity, so no projected carbon or SCI).
        sci: SCI settings (the functional unit of the projected SCI).
        labels: ``run``, ``model``, ``job_num``, ``host`` of this job (any left out: ``host`` the
            machine's name, ``run`` ``<host>-<pid>``, ``model`` the LightningModule's class name,
            ``job_num`` 0).
        energy: the EnergyCarbonCallback whose monitor it reads (default: the one in
            ``trainer.callbacks``, found in ``setup``).
    """

    def __init__(
        self,
        config: PrometheusConfig | Mapping[str, Any] | None = None,
        provider: IntensityProvider | None = None,
        sci: SciConfig | Mapping[str, Any] | None = None,
        labels: Mapping[str, Any] | None = None,
        energy: EnergyCarbonCallback | None = None,
    ) -> None:
        super().__init__()
        self._energy = EnergyLink(self, energy)
        unknown = set(labels or {}) - set(LABEL_NAMES)
        if unknown:
            raise ValueError(
                f"PrometheusExporter labels: unknown {sorted(unknown)}; use {', '.join(LABEL_NAMES)}"
            )
        self._given_labels = {k: str(v) for k, v in (labels or {}).items() if v is not None and str(v)}
        self.labels: dict[str, str] = {}  #: the job's labels (grouping key), set at fit start
        self._finished = False
        self.config = coerce(PrometheusConfig, config, "prometheus")
        self.sci = coerce(SciConfig, sci, "sci")
        self.provider = provider
        self.registry: Any = None
        self.port: int | None = None  #: the port /metrics is served on (after fit start)
        self.pushes = 0  #: successful pushes to the Pushgateway
        self._server: Any = None
        self._g: dict[str, Any] = {}
        self._once = WarnOnce()  # one warning per failing action (warned from the exporter's threads too)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._push_lock = threading.Lock()
        self._intensity: float | None = None
        self._last_update = 0.0
        self._last_j: dict[str, float] = {}
        self._last_ts: float | None = None
        self._max_epochs: int | None = None

    # ------------------------------------------------------------------ faults
    def _warn(self, what: str, err: BaseException) -> None:
        if not self._once.first(what):
            return
        warnings.warn(
            redact(f"PrometheusExporter: {what} failed ({type(err).__name__}: {err}); training goes on"),
            PrometheusExporterWarning,
            stacklevel=2,
        )

    # ------------------------------------------------------------------ hooks
    @override
    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if stage == FIT:
            self._energy.resolve(trainer)

    @override
    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        try:
            self._build_registry()
        except Exception as err:
            self._warn("setting up the gauges (pip install sci-lightning[prometheus])", err)
            return
        self._max_epochs = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else None
        self.labels = self._job_labels(pl_module)
        self._g["info"].labels(**self.labels).set(1)
        if self.config.port is not None:
            self._serve(self.config.port)
        self._finished = False
        self._g["up"].set(1)
        self._stop.clear()
        if self.provider is not None:
            self._start_thread(self._intensity_loop, "sci-prometheus-intensity")
        if self.config.pushgateway_url:
            self._start_thread(self._push_loop, "sci-prometheus-push")

    @override
    def on_train_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: STEP_OUTPUT,
        batch: object,
        batch_idx: int,
    ) -> None:
        if self.registry is None or time.monotonic() - self._last_update < self.config.update_every_s:
            return
        self._safe_update(trainer)

    @override
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.registry is not None:
            self._safe_update(trainer)

    @override
    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._finish(trainer)

    @override
    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        self._finish(trainer)

    @override
    def teardown(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if stage == "fit":
            self.close()

    def _job_labels(self, pl_module: LightningModule) -> dict[str, str]:
        host = socket.gethostname() or "localhost"
        labels = {
            "run": f"{host}-{os.getpid()}",
            "model": type(pl_module).__name__,
            "job_num": "0",
            "host": host,
        }
        labels.update(self._given_labels)
        return labels

    def _serve(self, port: int) -> None:
        try:
            from prometheus_client import start_http_server

            self._server, _ = start_http_server(port, addr=self.config.addr, registry=self.registry)
            self.port = int(self._server.server_port)
        except Exception as err:
            self._warn(f"serving /metrics on {self.config.addr}:{self.config.port}", err)
            return
        print(
            f"sci-lightning: Prometheus metrics at http://{self.config.addr}:{self.port}/metrics",
            file=sys.stderr,
            flush=True,
        )

    # ------------------------------------------------------------------ gauges
    def _build_registry(self) -> None:
        from prometheus_client import CollectorRegistry, Gauge

        reg = CollectorRegistry(auto_describe=True)
        g = {
            "power": Gauge(
                "sci_lightning_power_watts",
                "Mean IT power since the previous update, W",
                ["component"],
                registry=reg,
            ),
            "energy": Gauge(
                "sci_lightning_energy_joules", "Facility energy so far (IT x PUE), J", registry=reg
            ),
            "intensity": Gauge(
                "sci_lightning_intensity_g_per_kwh", "Current grid carbon intensity, gCO2e/kWh", registry=reg
            ),
            "proj_kwh": Gauge(
                "sci_lightning_projected_energy_kwh",
                "Projected facility energy of the job, kWh",
                registry=reg,
            ),
            "proj_g": Gauge(
                "sci_lightning_projected_carbon_grams",
                "Projected operational emissions of the job (E x I), gCO2e",
                registry=reg,
            ),
            "proj_sci": Gauge(
                "sci_lightning_projected_sci",
                "Projected operational SCI, (E x I) / R (embodied added in the final report)",
                ["unit"],
                registry=reg,
            ),
            "steps": Gauge("sci_lightning_steps", "Optimizer steps done", registry=reg),
            "planned": Gauge("sci_lightning_steps_planned", "Optimizer steps planned", registry=reg),
            "up": Gauge("sci_lightning_up", "1 while the fit runs, 0 after", registry=reg),
            "info": Gauge(
                "sci_lightning_run_info",
                "1; the labels say which job this is",
                list(LABEL_NAMES),
                registry=reg,
            ),
        }
        self.registry, self._g = reg, g

    def _safe_update(self, trainer: Trainer) -> None:
        try:
            self.update(trainer)
        except Exception as err:
            self._warn("updating the gauges", err)

    def update(self, trainer: Trainer) -> None:
        """Set every gauge from the energy callback's monitor (rank 0, training thread)."""
        from sci_lightning.lightning.carbon_budget import project_job

        self._last_update = time.monotonic()
        g = self._g
        step = int(trainer.global_step)
        g["steps"].set(step)
        planned = _planned(trainer)
        if planned is not None:
            g["planned"].set(planned)
        cb = self._energy.running()
        if cb is None:
            return
        monitor = cb.monitor
        if monitor is None:
            return
        latest, ts = monitor.latest_j(), monitor.last_read_ts
        if self._last_ts is not None and ts > self._last_ts:
            span = ts - self._last_ts
            deltas = {name: j - self._last_j.get(name, 0.0) for name, j in latest.items()}
            for name, dj in deltas.items():
                g["power"].labels(component=name).set(dj / span)
            g["power"].labels(component="total").set(sum(deltas.values()) / span)
        if self._last_ts is None or ts > self._last_ts:
            self._last_j, self._last_ts = dict(latest), ts
        so_far_j = monitor.energy_so_far_j(FIT) * cb.energy_config.pue
        g["energy"].set(so_far_j)
        with self._lock:
            intensity = self._intensity
        if planned is None or step <= 0:
            return
        kwh, grams = project_job(so_far_j / _J_PER_KWH, step, planned, intensity, intensity)
        g["proj_kwh"].set(kwh)
        if grams is None:
            return
        g["proj_g"].set(grams)
        r = {"job": 1.0, "epoch": float(self._max_epochs) if self._max_epochs else None}.get(
            self.sci.functional_unit
        )
        if r:
            g["proj_sci"].labels(unit=f"gCO2e/{self.sci.functional_unit}").set(grams / r)

    # ------------------------------------------------------------------ background
    def _start_thread(self, target: Any, name: str) -> None:
        t = threading.Thread(target=target, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    def _intensity_loop(self) -> None:
        provider = self.provider
        if provider is None:  # the loop is started only with a provider
            return
        while not self._stop.is_set():
            try:
                value = float(provider.current().g_per_kwh)
                with self._lock:
                    self._intensity = value
                self._g["intensity"].set(value)
            except Exception as err:
                self._warn("fetching the current intensity", err)
            self._stop.wait(self.config.intensity_every_s)

    def _push_loop(self) -> None:
        while not self._stop.wait(self.config.push_every_s):
            self.push()

    def push(self) -> bool:
        """Push the registry to ``pushgateway_url`` now; ``False`` (and one warning) on a fault."""
        if self.registry is None or not self.config.pushgateway_url:
            return False
        try:
            from prometheus_client import push_to_gateway

            with self._push_lock:  # one push at a time, so the last one sent is the last one kept
                push_to_gateway(
                    self.config.pushgateway_url,
                    job=self.config.job,
                    registry=self.registry,
                    grouping_key=self.labels,
                    timeout=5,
                    **self._auth(),
                )
            self.pushes += 1
            return True
        except Exception as err:
            self._warn(f"pushing to {self.config.pushgateway_url}", err)
            return False

    def delete(self) -> bool:
        """Delete this job's group from the Pushgateway; ``False`` (and one warning) on a fault."""
        if not self.config.pushgateway_url or not self.labels:
            return False
        try:
            from prometheus_client import delete_from_gateway

            with self._push_lock:
                delete_from_gateway(
                    self.config.pushgateway_url,
                    job=self.config.job,
                    grouping_key=self.labels,
                    timeout=5,
                    **self._auth(),
                )
            return True
        except Exception as err:
            self._warn(f"deleting from {self.config.pushgateway_url}", err)
            return False

    @staticmethod
    def _auth() -> dict[str, Any]:
        """``handler=`` with basic auth from the environment, or nothing."""
        user, password = os.environ.get(PUSH_USERNAME_ENV), os.environ.get(PUSH_PASSWORD_ENV)
        if not (user or password):
            return {}
        from prometheus_client.exposition import basic_auth_handler

        def handler(url, method, timeout, headers, data):  # type: ignore[no-untyped-def]
            return basic_auth_handler(url, method, timeout, headers, data, user, password)

        return {"handler": handler}

    def _finish(self, trainer: Trainer | None) -> None:
        """Last update, ``up`` 0, the push loop stopped, then the final push (and the delete, if asked)."""
        if self.registry is None or self._finished:
            return
        self._finished = True
        if trainer is not None:
            self._safe_update(trainer)
        self._g["up"].set(0)
        self._stop.set()
        self._join_threads()
        if self.config.pushgateway_url:
            self.push()
            if self.config.delete_on_exit:
                self.delete()

    def _join_threads(self) -> None:
        for t in self._threads:
            t.join(timeout=6.0)
        self._threads = []

    def close(self) -> None:
        """Push ``up`` 0 if the fit's end was not seen; stop the background threads and ``/metrics``."""
        self._finish(None)
        self._stop.set()
        self._join_threads()
        if self._server is not None:
            try:
                self._server.shutdown()
                self._server.server_close()
            except Exception:
                pass
            self._server = None


def _planned(trainer: Trainer) -> int | None:
    try:
        n = trainer.estimated_stepping_batches
    except Exception:
        return None
    return int(n) if isinstance(n, (int, float)) and n != float("inf") and n > 0 else None

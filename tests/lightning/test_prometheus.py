"""PrometheusExporter in a real small fit: /metrics scraped over HTTP on loopback while
training, a stub Pushgateway on loopback receives the push, and faults never stop training."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
import urllib.request
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from fake_nvml import StepMeter, TinyModule
from lightning.pytorch import Callback, Trainer

from sci_lightning.carbon import build_provider
from sci_lightning.lightning.callback import EnergyCarbonCallback
from sci_lightning.lightning.prometheus import (
    PUSH_PASSWORD_ENV,
    PUSH_USERNAME_ENV,
    PrometheusExporter,
    PrometheusExporterWarning,
)
from sci_lightning.settings import CarbonConfig, Config, coerce

pytest.importorskip("prometheus_client")

CARBON = {"provider": "static", "region": "FR"}


class _Gateway(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, str, str, str | None]]] = []

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        self.received.append(("PUT", self.path, body, self.headers.get("Authorization")))
        self.send_response(202)
        self.end_headers()

    def log_message(self, *args) -> None:  # quiet
        pass


class _Scrape(Callback):
    def __init__(self, exporter: PrometheusExporter) -> None:
        self.exporter, self.pages = exporter, []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if batch_idx in (3, 6):
            with urllib.request.urlopen(f"http://127.0.0.1:{self.exporter.port}/metrics", timeout=5) as resp:
                self.pages.append(resp.read().decode())


def _value(page: str, name: str) -> float:
    for line in page.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics:\n{page}")


def _fit(tmp_path, callbacks) -> None:
    Trainer(
        accelerator="cpu",
        devices=1,
        default_root_dir=str(tmp_path),
        callbacks=callbacks,
        max_steps=8,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        logger=False,
    ).fit(TinyModule(n=64, batch_size=8))


def test_metrics_are_scraped_during_a_fit_and_pushed_to_a_gateway(tmp_path, monkeypatch):
    gateway = ThreadingHTTPServer(("127.0.0.1", 0), _Gateway)
    threading.Thread(target=gateway.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    _Gateway.received = []
    monkeypatch.setenv(PUSH_USERNAME_ENV, "grafana")
    monkeypatch.setenv(PUSH_PASSWORD_ENV, "s3cret")
    try:
        energy = EnergyCarbonCallback(
            meters=[StepMeter("gpu", joules_per_read=5.0)], carbon=CARBON, energy={"min_read_interval_s": 0.0}
        )
        exporter = PrometheusExporter(
            {
                "enabled": True,
                "port": 0,
                "pushgateway_url": f"http://127.0.0.1:{gateway.server_port}",
                "job": "tiny",
                "push_every_s": 60,
                "update_every_s": 0.0,
            },
            provider=build_provider(coerce(CarbonConfig, CARBON)),
        )
        scrape = _Scrape(exporter)
        _fit(tmp_path, [energy, exporter, scrape])
    finally:
        gateway.shutdown()
    assert len(scrape.pages) == 2
    first, later = scrape.pages
    assert _value(later, "sci_lightning_energy_joules") > _value(first, "sci_lightning_energy_joules") > 0
    assert 'sci_lightning_power_watts{component="gpu"}' in later and _value(later, "sci_lightning_up") == 1.0
    assert _value(later, "sci_lightning_intensity_g_per_kwh") > 0  # the static table's FR value
    assert _value(later, "sci_lightning_projected_carbon_grams") > 0
    assert 'sci_lightning_projected_sci{unit="gCO2e/job"}' in later
    assert _value(later, "sci_lightning_steps_planned") == 8.0
    # the final push at fit end: PUT /metrics/job/<job>, basic auth from the environment only
    labels = exporter.labels
    path = "/metrics/job/tiny" + "".join(f"/{k}/{labels[k]}" for k in sorted(labels))  # the grouping key
    puts = [r for r in _Gateway.received if r[1] == path]
    assert (
        set(exporter.labels) == {"run", "model", "job_num", "host"}
        and exporter.labels["model"] == "TinyModule"
    )
    assert puts and "sci_lightning_energy_joules" in puts[-1][2] and "sci_lightning_up 0.0" in puts[-1][2]
    assert puts[-1][3] is not None and puts[-1][3].startswith("Basic ")
    assert exporter.pushes >= 1
    with pytest.raises(OSError):  # the endpoint is closed after the fit
        urllib.request.urlopen(f"http://127.0.0.1:{exporter.port}/metrics", timeout=2)


def test_port_zero_prints_the_chosen_port(tmp_path, capsys):
    exporter = PrometheusExporter({"enabled": True, "port": 0})
    _fit(tmp_path, [EnergyCarbonCallback(meters=[StepMeter("gpu")], carbon=CARBON), exporter])
    err = capsys.readouterr().err
    assert f"Prometheus metrics at http://127.0.0.1:{exporter.port}/metrics" in err and exporter.port > 0


@pytest.fixture
def pushgateway(tmp_path):
    """Debian's ``prometheus-pushgateway`` on a free loopback port (skipped where not installed)."""
    binary = shutil.which("prometheus-pushgateway") or shutil.which("pushgateway")
    if binary is None:
        pytest.skip("prometheus-pushgateway is not installed (apt-get install prometheus-pushgateway)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [binary, f"--web.listen-address=127.0.0.1:{port}", "--persistence.file="],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(url + "/-/ready", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _gateway_series(url: str, name: str) -> dict[tuple[str, str], float]:
    """``{(run, job_num): value}`` of one metric as the Pushgateway exposes it."""
    import re

    with urllib.request.urlopen(url + "/metrics", timeout=5) as resp:
        page = resp.read().decode()
    out = {}
    for line in page.splitlines():
        if line.startswith(name + "{"):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
            out[(labels.get("run"), labels.get("job_num"))] = float(line.rsplit(" ", 1)[1])
    return out


def test_a_real_pushgateway_keeps_two_jobs_apart_with_up_0_at_the_end(tmp_path, pushgateway):
    for num, joules in ((0, 5.0), (1, 50.0)):
        energy = EnergyCarbonCallback(
            meters=[StepMeter("gpu", joules_per_read=joules)],
            carbon=CARBON,
            energy={"min_read_interval_s": 0.0},
        )
        exporter = PrometheusExporter(
            {
                "enabled": True,
                "port": None,
                "pushgateway_url": pushgateway,
                "push_every_s": 60,
                "update_every_s": 0.0,
            },
            labels={"run": f"sweep_{num}", "model": f"m{num}", "job_num": num},
        )
        _fit(tmp_path / str(num), [energy, exporter])
        assert exporter.labels["host"] == socket.gethostname()
    energy_j = _gateway_series(pushgateway, "sci_lightning_energy_joules")
    assert set(energy_j) == {("sweep_0", "0"), ("sweep_1", "1")}
    assert (
        energy_j[("sweep_1", "1")] > energy_j[("sweep_0", "0")] > 0
    )  # each job's own value, not the last one's
    assert _gateway_series(pushgateway, "sci_lightning_up") == {("sweep_0", "0"): 0.0, ("sweep_1", "1"): 0.0}
    assert set(_gateway_series(pushgateway, "sci_lightning_run_info")) == set(energy_j)

    # delete_on_exit: the job's group is gone at the end, the others stay
    exporter = PrometheusExporter(
        {"enabled": True, "port": None, "pushgateway_url": pushgateway, "delete_on_exit": True},
        labels={"run": "sweep_2", "job_num": 2},
    )
    _fit(tmp_path / "2", [EnergyCarbonCallback(meters=[StepMeter("gpu")], carbon=CARBON), exporter])
    assert exporter.pushes >= 1 and set(_gateway_series(pushgateway, "sci_lightning_up")) == set(energy_j)


def test_a_taken_port_and_a_dead_gateway_warn_once_and_training_goes_on(tmp_path):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead_port = dead.getsockname()[1]
    dead.close()
    try:
        energy = EnergyCarbonCallback(meters=[StepMeter("gpu")], carbon=CARBON)
        exporter = PrometheusExporter(
            {
                "enabled": True,
                "port": busy.getsockname()[1],
                "pushgateway_url": f"http://127.0.0.1:{dead_port}",
                "push_every_s": 0.05,
            }
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _fit(tmp_path, [energy, exporter])
    finally:
        busy.close()
    ours = [str(w.message) for w in caught if issubclass(w.category, PrometheusExporterWarning)]
    assert any("serving /metrics" in m for m in ours) and sum("pushing" in m for m in ours) == 1
    assert energy.result is not None and exporter.pushes == 0


def test_settings_are_off_by_default_and_checked():
    cfg = coerce(Config, {})
    assert cfg.prometheus.enabled is False and cfg.prometheus.addr == "127.0.0.1"
    assert cfg.prometheus.delete_on_exit is False
    with pytest.raises(ValueError, match="unknown \\['jobnum'\\]"):
        PrometheusExporter(labels={"jobnum": 1})
    with pytest.raises(Exception, match="prometheus.pushgateway_url"):
        coerce(Config, {"prometheus": {"pushgateway_url": "pushgateway:9091"}})
    with pytest.raises(Exception, match="prometheus.port"):
        coerce(Config, {"prometheus": {"enabled": True, "port": None}})


def test_hydra_override_reaches_the_settings(compose):
    cfg = coerce(Config, compose(["prometheus.enabled=true", "prometheus.port=0"]))
    assert cfg.prometheus.enabled and cfg.prometheus.port == 0

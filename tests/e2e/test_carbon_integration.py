"""Training runs through the CLI with a carbon provider on a loopback stub: served values
used, provider down -> fallback recorded, secrets in no file, schedule=report findings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from stub_server import StubResponse, StubServer, basic_auth, closed_port_url
from tiny_run import SMALL_NET, TINY_FIT

pytestmark = pytest.mark.slow

USER, PASSWORD = "ci-user", "pw-Integration-Secret-9931"
LBS = (1000.0, 800.0, 900.0, 700.0)
TINY = ["experiment=quickstart", *SMALL_NET, *TINY_FIT]  # the network does not matter here


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S+00:00")


class LiveWattTime:
    """A WattTime v3 stub serving 5-minute points around the real current time."""

    def __init__(self) -> None:
        self.token = "tok-live-1"

    def routes(self):
        return {
            ("GET", "/login"): self.login,
            ("GET", "/v3/historical"): self.historical,
            ("GET", "/v3/forecast"): self.forecast,
        }

    def login(self, req):
        if basic_auth(req) != (USER, PASSWORD):
            return StubResponse(401, {"error": "invalid credentials"})
        return {"token": self.token}

    def _body(self, start: datetime, n: int):
        start = start.replace(second=0, microsecond=0) - timedelta(minutes=start.minute % 5)
        return {
            "data": [
                {"point_time": _iso(start + timedelta(minutes=5 * i)), "value": LBS[i % 4]} for i in range(n)
            ],
            "meta": {
                "data_point_period_seconds": 300,
                "region": "CAISO_NORTH",
                "signal_type": "co2_moer",
                "units": "lbs_co2_per_mwh",
                "generated_at": _iso(start),
                "warnings": [],
            },
        }

    def historical(self, req):
        if req.header("authorization") != f"Bearer {self.token}":
            return StubResponse(401, {"error": "Unauthorized"})
        if req.arg("region") != "CAISO_NORTH" or req.arg("signal_type") != "co2_moer":
            return StubResponse(400, {"error": "bad region or signal_type"})
        start = datetime.fromisoformat(req.arg("start").replace("Z", "+00:00"))
        end = datetime.fromisoformat(req.arg("end").replace("Z", "+00:00"))
        return self._body(start, int((end - start).total_seconds() // 300) + 2)

    def forecast(self, req):
        return self._body(datetime.now(timezone.utc), 24 * 12)


def _cli(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sci_lightning", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WATTTIME_", "ELECTRICITYMAPS_"))}
    env.update(extra)
    return env


def test_watttime_stub_intensities_are_used_and_the_password_reaches_no_file(tmp_path):
    run_dir = tmp_path / "run"
    with StubServer(LiveWattTime().routes()) as srv:
        out = _cli(
            [*TINY, "carbon=watttime", f"carbon.base_url={srv.url}", f"hydra.run.dir={run_dir}"],
            tmp_path,
            _env(WATTTIME_USERNAME=USER, WATTTIME_PASSWORD=PASSWORD),
        )
        assert out.returncode == 0, out.stderr[-3000:]
        assert srv.count("GET", "/v3/historical") >= 1
    report = json.loads((run_dir / "sci_report.json").read_text())
    g = [v * 0.45359237 for v in LBS]  # lbs/MWh -> g/kWh
    served = {round(v, 6) for v in g}
    values = {round(i["g_per_kwh"], 6) for i in report["intensity"]["intervals"]}
    # An energy interval inside one 5-minute point takes its value; one that straddles a point
    # boundary (the run crossed hh:m0 or hh:m5) takes the time-weighted mean of the two neighbours.
    neighbours = [sorted((g[i], g[(i + 1) % 4])) for i in range(4)]
    between = {v for v in values if any(lo < v < hi for lo, hi in neighbours)}
    assert values and values <= served | between, (values, served)
    assert report["intensity"]["signal_type"] == "marginal"
    assert "watttime" in report["intensity"]["source"].lower()
    assert not report["intensity"]["fallbacks"]
    # the secret is in no file of the run folder: reports, logs, TensorBoard, Hydra's config, checkpoint
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert any(p.name == "config.yaml" for p in files) and any("tfevents" in p.name for p in files)
    for p in files:
        assert PASSWORD.encode() not in p.read_bytes(), p
    assert PASSWORD not in out.stdout + out.stderr


def test_provider_down_still_finishes_and_says_what_it_fell_back_to(tmp_path):
    run_dir = tmp_path / "run"
    out = _cli(
        [
            *TINY,
            "carbon=watttime",
            f"carbon.base_url={closed_port_url()}",
            "carbon.retries=0",
            f"hydra.run.dir={run_dir}",
        ],
        tmp_path,
        _env(WATTTIME_USERNAME=USER, WATTTIME_PASSWORD=PASSWORD),
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads((run_dir / "sci_report.json").read_text())
    assert report["intensity"]["kind"] == "fallback"
    fallbacks = report["intensity"]["fallbacks"]
    assert fallbacks and fallbacks[0]["provider"] == "watttime" and fallbacks[0]["replaced_by"] == "static"
    assert report["sci"]["value"] > 0
    assert "fallback" in (run_dir / "sci_report.md").read_text().lower()


def test_schedule_report_puts_the_carbon_aware_findings_in_the_report(tmp_path):
    # an hourly trace around now with one clean valley 5 hours ahead
    now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    valley = now + timedelta(hours=5)
    rows = ["datetime,carbon_intensity"]
    for h in range(-3, 30):
        t = now + timedelta(hours=h)
        rows.append(f"{t.strftime('%Y-%m-%dT%H:%M:%SZ')},{100.0 if t == valley else 400.0}")
    trace = tmp_path / "trace.csv"
    trace.write_text("\n".join(rows) + "\n")
    run_dir = tmp_path / "run"
    out = _cli(
        [
            *TINY,
            "carbon=trace",
            f"carbon.trace_path={trace}",
            "schedule=report",
            "schedule.duration=1h",
            f"hydra.run.dir={run_dir}",
        ],
        tmp_path,
        _env(),
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads((run_dir / "sci_report.json").read_text())
    found = report["carbon_aware"]
    assert datetime.fromisoformat(found["best_start"].replace("Z", "+00:00")) == valley
    assert found["best_window_mean_g_per_kwh"] == pytest.approx(100.0)
    assert found["saving_pct"] == pytest.approx(75.0, abs=1e-6)
    assert found["saving_g"] > 0
    md = (run_dir / "sci_report.md").read_text()
    assert "carbon-aware" in md.lower() or "time shifting" in md.lower()


def test_a_server_echoing_the_credentials_leaks_them_into_no_file_of_the_run(tmp_path):
    """WattTime's login answers 500 quoting the request headers (Authorization: Basic ...)."""
    import base64

    from stub_server import echo_headers

    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    run_dir = tmp_path / "run"
    with StubServer({("GET", "/login"): echo_headers(500)}) as srv:
        out = _cli(
            [
                *TINY,
                "carbon=watttime",
                f"carbon.base_url={srv.url}",
                "carbon.retries=0",
                f"hydra.run.dir={run_dir}",
            ],
            tmp_path,
            _env(WATTTIME_USERNAME=USER, WATTTIME_PASSWORD=PASSWORD),
        )
        assert srv.count("GET", "/login") >= 1
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads((run_dir / "sci_report.json").read_text())
    assert report["intensity"]["kind"] == "fallback"
    for p in (p for p in tmp_path.rglob("*") if p.is_file()):
        data = p.read_bytes()
        assert PASSWORD.encode() not in data and basic.encode() not in data, p
    assert PASSWORD not in out.stdout + out.stderr and basic not in out.stdout + out.stderr

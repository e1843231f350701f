"""Real training runs (the CLI, a tiny fit) against a hostile WattTime stub: one that echoes the
bearer token, password and Basic credentials back inside JSON fields and headers, and one that
serves negative intensities. The run finishes, the bad data is refused or redacted, and no
secret is in any file the run wrote (TensorBoard event bytes included) nor in its output."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from stub_server import StubResponse, StubServer, basic_auth
from tiny_run import SMALL_NET, TINY_FIT

pytestmark = pytest.mark.slow

USER, PASSWORD = "hostile-run-user", "pw-Run-Secret-60606"
TOKEN = "tok-RUN-SECRET-31337"
BASIC = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
SECRETS = (TOKEN, PASSWORD, BASIC, BASIC.rstrip("="))
TINY = ["experiment=quickstart", *SMALL_NET, *TINY_FIT]  # the network does not matter here


class HostileWattTime:
    """5-minute points around now; ``mode`` "echo" quotes the request's credentials back in
    meta fields and a header; "negative" serves -500 lbs/MWh."""

    def __init__(self, mode: str):
        self.mode = mode

    def routes(self):
        return {
            ("GET", "/login"): self.login,
            ("GET", "/v3/historical"): self.data,
            ("GET", "/v3/forecast"): self.data,
        }

    def login(self, req):
        if basic_auth(req) != (USER, PASSWORD):
            return StubResponse(401, {"error": "invalid credentials"})
        return StubResponse(200, json={"token": TOKEN}, headers={"X-Echo": req.header("authorization") or ""})

    def data(self, req):
        auth = req.header("authorization") or ""
        now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
        start = now - timedelta(minutes=now.minute % 5 + 60)
        value = -500.0 if self.mode == "negative" else 800.0
        meta = {
            "data_point_period_seconds": 300,
            "region": "CAISO_NORTH",
            "signal_type": "co2_moer",
            "units": "lbs_co2_per_mwh",
            "generated_at": start.isoformat(),
            "warnings": [],
        }
        if self.mode == "echo":
            meta.update(
                region=f"CAISO_NORTH ({auth})",
                model={"date": auth, "type": f"password={PASSWORD}"},
                warnings=[{"type": "DEBUG", "message": f"echo {auth} Basic {BASIC} {PASSWORD}"}],
            )
        data = [
            {"point_time": (start + timedelta(minutes=5 * i)).isoformat(), "value": value}
            for i in range(24 * 12)
        ]
        return StubResponse(200, json={"data": data, "meta": meta}, headers={"X-Debug-Auth": auth})


def _run(tmp_path: Path, mode: str) -> tuple[subprocess.CompletedProcess, Path]:
    run_dir = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WATTTIME_", "ELECTRICITYMAPS_"))}
    env.update(WATTTIME_USERNAME=USER, WATTTIME_PASSWORD=PASSWORD)
    with StubServer(HostileWattTime(mode).routes()) as srv:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "sci_lightning",
                *TINY,
                "carbon=watttime",
                f"carbon.base_url={srv.url}",
                "carbon.max_total_wait_s=10",
                f"hydra.run.dir={run_dir}",
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert out.returncode == 0, out.stderr[-3000:]
    return out, run_dir


def _assert_no_secret_anywhere(out: subprocess.CompletedProcess, run_dir: Path) -> None:
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert any("tfevents" in p.name for p in files) and any(p.name == "sci_report.json" for p in files)
    for p in files:
        data = p.read_bytes()
        for secret in SECRETS:
            assert secret.encode() not in data, (p, secret)
    for secret in SECRETS:
        assert secret not in out.stdout + out.stderr


def test_echoed_credentials_are_redacted_from_every_file(tmp_path):
    out, run_dir = _run(tmp_path, "echo")
    report = json.loads((run_dir / "sci_report.json").read_text())
    assert report["intensity"]["kind"] != "fallback"  # the values themselves were fine and used
    text = (run_dir / "sci_report.json").read_text()
    assert "echo" in text and ("***" in text or "[redacted]" in text)  # the echo reached the report, redacted
    _assert_no_secret_anywhere(out, run_dir)


def test_negative_intensities_fall_back_and_are_recorded(tmp_path):
    out, run_dir = _run(tmp_path, "negative")
    report = json.loads((run_dir / "sci_report.json").read_text())
    assert report["intensity"]["kind"] == "fallback"
    reasons = " ".join(f["reason"] for f in report["intensity"]["fallbacks"])
    assert "implausible carbon intensity" in reasons and "-226.8" in reasons
    assert report["sci"]["value"] > 0
    _assert_no_secret_anywhere(out, run_dir)

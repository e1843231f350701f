"""The shared fixtures of tests/conftest.py do what tests/README.md says they do."""

from __future__ import annotations

import json
import urllib.request
from datetime import datetime, timedelta, timezone

import pynvml
from fake_nvml import FakeGpu
from stub_server import StubResponse


def test_scripted_meter_on_script_clock_gives_power_times_scripted_seconds(script_clock, scripted_meter):
    meter = scripted_meter(script_clock, power_w=25.0, device="GPU-7")
    meter.start()
    script_clock.advance(4.0)
    assert meter.read_j() == {"GPU-7": 100.0}
    assert [c.energy_j for c in meter.components()] == [100.0]


def test_sleeps_records_instead_of_sleeping(sleeps):
    sleeps(3.0)
    sleeps(0.5)
    assert sleeps == [3.0, 0.5]


def test_batch_step_clock_moves_on_per_batch_and_per_sleep(batch_step_clock):
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    clock = batch_step_clock(t0, timedelta(minutes=10))
    clock.on_train_batch_end(None, None, None, None, 0)
    clock.sleep(90.0)
    assert clock() == t0 + timedelta(minutes=11, seconds=30) and clock.slept_s == 90.0


def test_fake_nvml_replaces_the_driver_for_this_test(fake_nvml):
    driver = fake_nvml(FakeGpu(uuid="GPU-a", energy_mj=5_000), FakeGpu(uuid="GPU-b"))
    pynvml.nvmlInit()
    assert pynvml.nvmlDeviceGetCount() == 2 and driver.inits == 1
    handle = pynvml.nvmlDeviceGetHandleByIndex(0)
    assert pynvml.nvmlDeviceGetUUID(handle) == "GPU-a"
    assert pynvml.nvmlDeviceGetTotalEnergyConsumption(handle) == 5_000


def test_stub_server_serves_its_routes_on_loopback(stub_server):
    server = stub_server({("GET", "/v3/ping"): lambda req: StubResponse(json={"ok": True})})
    assert server.url.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(server.url + "/v3/ping?x=1", timeout=10) as response:
        assert json.loads(response.read()) == {"ok": True}
    assert [r.path for r in server.requests] == ["/v3/ping"]

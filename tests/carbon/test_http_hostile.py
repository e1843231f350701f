"""Hostile or broken carbon APIs on a loopback stub: implausible values, strings, empty bodies,
204, a body that drips one byte at a time, a 50 MB body, credentials echoed back in JSON
fields and headers, and a user name HTTP cannot carry. Each ends in a recorded fallback (or a
clear error) within the call's time budget, and no secret reaches what the provider returns."""

from __future__ import annotations

import base64
import time
from datetime import datetime, timedelta, timezone

import pytest
from stub_server import StubResponse, StubServer

from sci_lightning.carbon.base import MAX_PLAUSIBLE_G_PER_KWH, ProviderError
from sci_lightning.carbon.chain import FallbackProvider, ProviderFallbackWarning
from sci_lightning.carbon.static import StaticProvider
from sci_lightning.carbon.watttime import PASSWORD_ENV, USERNAME_ENV, WattTimeProvider

UTC = timezone.utc
USER, PASSWORD = "hostile-user", "pw-Hostile-Secret-5150"
TOKEN = "tok-HOSTILE-SECRET-7731"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
BUDGET_S = 2.0
BASIC = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


@pytest.fixture(autouse=True)
def creds(monkeypatch):
    monkeypatch.setenv(USERNAME_ENV, USER)
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)


def body(values, **meta):
    data = [
        {"point_time": (T0 + timedelta(minutes=5 * i)).isoformat(), "value": v} for i, v in enumerate(values)
    ]
    return {
        "data": data,
        "meta": {
            "data_point_period_seconds": 300,
            "region": "CAISO_NORTH",
            "signal_type": "co2_moer",
            "units": "lbs_co2_per_mwh",
            **meta,
        },
    }


def chain_over(historical) -> tuple[FallbackProvider, StubServer]:
    srv = StubServer(
        {("GET", "/login"): lambda req: {"token": TOKEN}, ("GET", "/v3/historical"): historical}
    ).start()
    wt = WattTimeProvider(
        "CAISO_NORTH",
        base_url=srv.url,
        retries=0,
        timeout_s=5.0,
        max_total_wait_s=BUDGET_S,
        clock=T0.timestamp,
        sleep=lambda s: None,
    )
    return FallbackProvider([wt, StaticProvider("US")], cooldown_s=0), srv


def served_with_fallback(historical) -> tuple[dict, float, list[str]]:
    chain, srv = chain_over(historical)
    t = time.monotonic()
    try:
        with pytest.warns(ProviderFallbackWarning, match="using the next one"):
            series = chain.history(T0, T0 + timedelta(minutes=10))
    finally:
        srv.stop()
    elapsed = time.monotonic() - t
    assert series.kind == "fallback" and series.points and all(p.g_per_kwh > 0 for p in series.points)
    return chain.fallbacks_used[0], elapsed, series.notes


@pytest.mark.parametrize("lbs, shown", [(-500, "-226.8"), (1e9, "453,592,370.0"), (7000, "3,175.1")])
def test_implausible_values_fall_back(lbs, shown):
    # -500 lbs/MWh x 0.45359237 = -226.80 g/kWh (below 0); 1e9 x 0.45359237 = 453,592,370 g/kWh and
    # 7000 x 0.45359237 = 3,175.1 g/kWh (above the 3,000 g/kWh bound)
    record, _, notes = served_with_fallback(lambda req: body([lbs, 800]))
    assert record["provider"] == "watttime" and record["replaced_by"] == "static"
    assert "implausible carbon intensity" in record["reason"] and f"{shown} gCO2e/kWh" in record["reason"]
    assert any("implausible" in n for n in notes)


def test_the_bound_itself_is_accepted():
    # 6613.8 lbs/MWh x 0.45359237 = 2999.99 g/kWh: just inside the bound, served as is
    chain, srv = chain_over(lambda req: body([MAX_PLAUSIBLE_G_PER_KWH / 0.45359237 - 0.01]))
    try:
        series = chain.history(T0, T0 + timedelta(minutes=5))
    finally:
        srv.stop()
    assert series.kind == "measured" and series.points[0].g_per_kwh == pytest.approx(2999.995, abs=0.01)


@pytest.mark.parametrize(
    "reply, words",
    [
        (lambda req: body(["abc", 800]), "should be int/float"),
        (lambda req: StubResponse(200, body=""), "not JSON"),
        (lambda req: StubResponse(200, body="   "), "not JSON"),
        (lambda req: {"data": []}, "no 'meta' key"),
        (lambda req: StubResponse(204), "204 No Content"),
    ],
)
def test_strings_empty_and_no_content_fall_back(reply, words):
    record, _, _ = served_with_fallback(reply)
    assert words in record["reason"]


@pytest.mark.slow
def test_a_dripping_body_cannot_outlast_the_budget():
    # 400 bytes at one byte per 0.25 s would take 100 s; the call's budget is 2 s
    payload = b'{"data": [], "meta": {"pad": "' + b"x" * 360 + b'"}}'
    record, elapsed, _ = served_with_fallback(
        lambda req: StubResponse(200, body=payload, drip_s=0.25, content_type="application/json")
    )
    assert "did not arrive within this call's 2 s time budget" in record["reason"]
    assert elapsed < 20  # generous: about 2 s expected, 100 s without the deadline


@pytest.mark.parametrize("declared", [True, False])
def test_a_50_mb_body_is_refused(declared):
    payload = b" " * (50 * 1024 * 1024)
    record, _, _ = served_with_fallback(lambda req: StubResponse(200, body=payload, declare_length=declared))
    assert "response body too large" in record["reason"]
    assert ("52,428,800 bytes declared" in record["reason"]) == declared


def echoing(req):
    """Valid data, but the request's credentials echoed in meta fields and a header."""
    auth = req.header("authorization") or ""
    meta = {
        "region": f"CAISO_NORTH {auth}",
        "model": {"date": auth, "type": f"token={TOKEN}"},
        "warnings": [{"type": "DEBUG", "message": f"you sent {auth} (Basic {BASIC}) pw {PASSWORD}"}],
    }
    return StubResponse(200, json=body([800, 900], **meta), headers={"X-Debug-Auth": auth})


def test_credentials_echoed_in_json_fields_are_redacted_from_the_series():
    chain, srv = chain_over(echoing)
    try:
        series = chain.history(T0, T0 + timedelta(minutes=10))
    finally:
        srv.stop()
    text = " ".join(series.notes) + series.source + series.region
    assert "served region" in text and "you sent" in text  # the notes are kept, redacted
    for secret in (TOKEN, PASSWORD, BASIC):
        assert secret not in text


def test_an_echoed_error_is_redacted_too():
    def reject(req):
        return StubResponse(
            400,
            json={"message": f"bad request with {req.header('authorization')} {PASSWORD}"},
            headers={"X-Echo": req.header("authorization") or ""},
        )

    record, _, _ = served_with_fallback(reject)
    assert "bad request with" in record["reason"]
    for secret in (TOKEN, PASSWORD, BASIC):
        assert secret not in record["reason"]


def test_a_user_name_http_cannot_carry_is_a_clear_error(monkeypatch):
    monkeypatch.setenv(USERNAME_ENV, "ユーザー")
    with StubServer({("GET", "/login"): lambda req: {"token": TOKEN}}) as srv:
        wt = WattTimeProvider("CAISO_NORTH", base_url=srv.url, retries=0, sleep=lambda s: None)
        with pytest.raises(ProviderError, match="user name contains characters outside Latin-1") as err:
            wt.history(T0, T0 + timedelta(minutes=5))
        assert srv.requests == []  # refused before anything was sent
    assert "check the credential environment variables" in str(err.value)


def test_a_new_http_provider_is_one_class_and_gets_the_checks():
    from sci_lightning.carbon.base import IntensityPoint, IntensitySeries
    from sci_lightning.carbon.http import HttpProvider
    from sci_lightning.settings import CarbonConfig

    class Toy(HttpProvider):
        name = "toy"

        def __init__(self, region: str, **http):
            self.region = region
            super().__init__(secrets=["toy-secret-999"], **http)

        @classmethod
        def config_kwargs(cls, cfg):
            return {"region": cfg.region}

        def history(self, start, end):
            value = self._http.get_json("/v")["value"]
            return self._checked(
                IntensitySeries(
                    [IntensityPoint(start, end, value)],
                    "toy",
                    self.region,
                    "average",
                    "measured",
                    notes=["server said toy-secret-999"],
                )
            )

        def forecast(self, start=None, horizon=timedelta(hours=1)):
            raise ProviderError(self.name, "no forecast")

    with StubServer({("GET", "/v"): lambda req: {"value": 250.0}}) as srv:
        cfg = CarbonConfig(provider="static", region="XX", base_url=srv.url, max_total_wait_s=5.0, retries=0)
        toy = Toy.from_config(cfg, sleep=lambda s: None)
        series = toy.history(T0, T0 + timedelta(hours=1))
        srv.routes[("GET", "/v")] = lambda req: {"value": -1.0}
        with pytest.raises(ProviderError, match=r"\[toy\] implausible"):
            toy.history(T0, T0 + timedelta(hours=1))
    assert toy.region == "XX" and toy._http.max_total_s == 5.0 and toy._http.retries == 0
    assert series.points[0].g_per_kwh == 250.0 and "toy-secret-999" not in series.notes[0]


def test_server_text_quoted_in_a_provider_error_is_redacted():
    # the token echoed in meta.signal_type: refused (other signal than asked), and the
    # error that quotes the served value does not carry the token
    def odd_signal(req):
        return body([800], signal_type=(req.header("authorization") or "")[7:])

    record, _, _ = served_with_fallback(odd_signal)
    assert "not the 'co2_moer' asked for" in record["reason"] and TOKEN not in record["reason"]


class HeaderDripServer:
    """A raw loopback server that answers ``200 OK`` and then drips one header a byte per
    ``drip_s`` seconds (``bytes_`` of them): http.client's per-read timeout never fires."""

    def __init__(self, drip_s: float = 0.1, bytes_: int = 600):
        import socket
        import threading

        self.drip_s, self.bytes_ = drip_s, bytes_
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.stop = threading.Event()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            conn.recv(65536)
            try:
                conn.sendall(b"HTTP/1.1 200 OK\r\nX-Pad: ")
                for _ in range(self.bytes_):
                    if self.stop.is_set():
                        return
                    conn.sendall(b"a")
                    time.sleep(self.drip_s)
            except OSError:
                return

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


@pytest.mark.slow
def test_dripping_headers_cannot_outlast_the_budget():
    # 600 header bytes at one per 0.1 s would take 60 s, each read well inside the 5 s read
    # timeout; the call's budget is 2 s and covers the status line and headers too
    srv = HeaderDripServer()
    wt = WattTimeProvider(
        "CAISO_NORTH",
        base_url=srv.url,
        retries=0,
        timeout_s=5.0,
        max_total_wait_s=BUDGET_S,
        clock=T0.timestamp,
        sleep=lambda s: None,
    )
    t = time.monotonic()
    try:
        with pytest.raises(ProviderError) as err:
            wt._http.get_json("/v3/historical")
    finally:
        srv.close()
    assert time.monotonic() - t < 20  # about 2 s expected; 60 s without the deadline on the headers
    assert "did not arrive within this call's 2 s time budget" in str(err.value)
    assert "status line and headers had not all arrived" in str(err.value)


@pytest.mark.slow
def test_login_and_data_request_share_one_budget():
    # login answers after 1.5 s, the data request after 1.5 s: each alone fits the 2 s budget,
    # together they do not, and one provider call gets one budget (not one per request)
    from stub_server import slow

    routes = {
        ("GET", "/login"): slow(1.5, {"token": TOKEN}),
        ("GET", "/v3/historical"): slow(1.5, body([800])),
    }
    with StubServer(routes) as srv:
        wt = WattTimeProvider(
            "CAISO_NORTH",
            base_url=srv.url,
            retries=0,
            timeout_s=5.0,
            max_total_wait_s=BUDGET_S,
            clock=T0.timestamp,
            sleep=lambda s: None,
        )
        with pytest.raises(ProviderError, match="time budget|timed out"):
            wt.history(T0, T0 + timedelta(minutes=5))
        assert srv.count("GET", "/login") == 1 and wt._http._scope.budget is None


def test_a_region_from_loc_echoing_the_token_is_refused():
    # by coordinates, the region code comes from the server and becomes carbon.region, a query
    # value and report text: one that is not a region code (here the bearer header) is refused
    routes = {
        ("GET", "/login"): lambda req: {"token": TOKEN},
        ("GET", "/v3/region-from-loc"): lambda req: {"region": req.header("authorization") or ""},
    }
    with StubServer(routes) as srv:
        wt = WattTimeProvider(
            None, latitude=37.77, longitude=-122.4, base_url=srv.url, retries=0, sleep=lambda s: None
        )
        with pytest.raises(ProviderError, match="not a WattTime region code") as err:
            wt.history(T0, T0 + timedelta(minutes=5))
    assert TOKEN not in str(err.value) and not wt.region

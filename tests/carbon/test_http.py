"""Tests for carbon/http.py (HttpClient) against the loopback stub server."""

from __future__ import annotations

import base64
import email.utils
import logging
import time
from datetime import datetime, timedelta, timezone

import pytest
from clocks import Sleeps
from stub_server import StubResponse, StubServer, basic_auth, closed_port_url, echo_headers, slow

from sci_lightning.carbon.base import ProviderError
from sci_lightning.carbon.http import (
    HttpClient,
    HttpStatusError,
    env_credentials,
    expect_type,
    format_time,
    parse_time,
    require,
    retry_after_s,
)


def make(srv_url: str, **kw) -> tuple[HttpClient, Sleeps]:
    sleeps = Sleeps()
    kw.setdefault("retries", 3)
    kw.setdefault("backoff_s", 0.5)
    return HttpClient("testprov", srv_url, sleep=sleeps, timeout_s=5, **kw), sleeps


def test_get_json_passes_params_and_headers():
    def handler(req):
        assert req.arg("region") == "X"
        assert req.header("x-key") == "k"
        return {"ok": True}

    with StubServer({("GET", "/a"): handler}) as srv:
        client, sleeps = make(srv.url)
        assert client.get_json("/a", params={"region": "X"}, headers={"X-Key": "k"}) == {"ok": True}
        assert sleeps == []
        assert srv.errors == []


def test_basic_auth_reaches_stub():
    with StubServer({("GET", "/login"): lambda r: {"user": basic_auth(r)[0]}}) as srv:
        client, _ = make(srv.url)
        assert client.get_json("/login", auth=("alice", "pw")) == {"user": "alice"}


def test_429_retry_after_seconds_is_honoured():
    calls = []

    def handler(req):
        calls.append(1)
        if len(calls) == 1:
            return StubResponse(429, {"message": "slow down"}, headers={"Retry-After": "7"})
        return {"n": len(calls)}

    with StubServer({("GET", "/r"): handler}) as srv:
        client, sleeps = make(srv.url)
        assert client.get_json("/r") == {"n": 2}
        assert sleeps == [7.0]


class FakeTime(Sleeps):
    """Injected sleep + clock: sleeping advances the clock instantly (requests take real time)."""

    def __init__(self):
        super().__init__()
        self.offset_s = 0.0

    def __call__(self, seconds: float) -> None:
        super().__call__(seconds)
        self.offset_s += seconds

    def clock(self) -> float:
        return time.monotonic() + self.offset_s


def make_timed(srv_url: str, **kw) -> tuple[HttpClient, FakeTime]:
    fake = FakeTime()
    kw.setdefault("retries", 3)
    kw.setdefault("timeout_s", 5)
    return HttpClient("testprov", srv_url, sleep=fake, clock=fake.clock, **kw), fake


def test_retry_after_beyond_the_budget_ends_the_call_at_once_with_a_clear_error(caplog):
    with StubServer(
        {("GET", "/r"): lambda r: StubResponse(429, {"error": "quota"}, headers={"Retry-After": "3600"})}
    ) as srv:
        client, fake = make_timed(srv.url, max_total_s=30)
        t0 = time.monotonic()
        with pytest.raises(HttpStatusError) as ei:
            client.get_json("/r")
        assert time.monotonic() - t0 < 5 and fake == []  # no wait at all
        msg = str(ei.value)
        assert ei.value.status == 429 and srv.count("GET", "/r") == 1
        assert msg.startswith("[testprov]") and "server asked to wait 3600 s" in msg
        assert "30 s time budget" in msg and "Fix: raise carbon.max_total_wait_s (now 30 s)" in msg
        assert "quota" in msg  # the API's own message is still quoted


def test_retry_after_beyond_the_budget_with_real_sleep_returns_within_the_budget():
    with StubServer(
        {("GET", "/r"): lambda r: StubResponse(503, body="busy", headers={"Retry-After": "3600"})}
    ) as srv:
        client = HttpClient(
            "testprov", srv.url, timeout_s=5, retries=3, max_total_s=2
        )  # real sleep and clock
        t0 = time.monotonic()
        with pytest.raises(HttpStatusError, match=r"Retry-After: 3600.*max_total_wait_s"):
            client.get_json("/r")
        assert time.monotonic() - t0 < 2


def test_short_retry_after_is_honoured_in_full_and_announced(caplog):
    calls = []

    def handler(req):
        calls.append(1)
        if len(calls) <= 2:
            return StubResponse(429, {}, headers={"Retry-After": "5"})
        return {"n": len(calls)}

    with StubServer({("GET", "/r"): handler}) as srv:
        client, fake = make_timed(srv.url, max_wait_s=1, max_total_s=30)
        with caplog.at_level(logging.WARNING, logger="sci_lightning.carbon.http"):
            assert client.get_json("/r") == {"n": 3}
        assert fake == [5.0, 5.0]  # not shortened to max_wait_s: that caps backoff only
        notes = [r.getMessage() for r in caplog.records]
        assert notes == [
            "testprov: waiting 5 s before retry 1/3 (server asked: Retry-After 5)",
            "testprov: waiting 5 s before retry 2/3 (server asked: Retry-After 5)",
        ]


def test_short_waits_are_not_announced(caplog):
    seq = [StubResponse(503, body="busy"), StubResponse(429, {}, headers={"Retry-After": "3"})]
    with StubServer({("GET", "/r"): lambda r: seq.pop(0) if seq else {}}) as srv:
        client, fake = make_timed(srv.url, backoff_s=0.5)
        with caplog.at_level(logging.WARNING, logger="sci_lightning.carbon.http"):
            client.get_json("/r")
        assert fake == [0.5, 3.0] and caplog.records == []


def test_backoff_that_would_cross_the_budget_ends_the_call():
    with StubServer({("GET", "/r"): lambda r: (503, {"error": "down"})}) as srv:
        client, fake = make_timed(srv.url, backoff_s=4, max_wait_s=60, max_total_s=10)
        with pytest.raises(HttpStatusError) as ei:
            client.get_json("/r")
        assert fake == [4]  # 4 s fits; the next backoff (8 s) would end past 10 s
        msg = str(ei.value)
        assert "after 2 attempt(s)" in msg and "next retry would wait 8 s (backoff after HTTP 503)" in msg
        assert "max_total_wait_s" in msg and srv.count("GET", "/r") == 2


@pytest.mark.slow
def test_total_time_is_bounded_including_request_timeouts():
    """Every request times out (the server answers after 3 s): real sleeps and clock, many
    retries, a long read timeout -- the call still ends within its 1.5 s budget."""
    with StubServer({("GET", "/r"): slow(3.0)}) as srv:
        client = HttpClient("testprov", srv.url, timeout_s=10, retries=10, backoff_s=0.1, max_total_s=1.5)
        t0 = time.monotonic()
        with pytest.raises(ProviderError, match="timed out") as ei:
            client.get_json("/r")
        elapsed = time.monotonic() - t0
        assert elapsed < 1.5 + 0.5, elapsed
        assert "max_total_wait_s" in str(ei.value)


def test_unreachable_host_within_the_budget():
    client, fake = make_timed(closed_port_url(), retries=3, backoff_s=0.25, max_total_s=30)
    with pytest.raises(ProviderError, match="could not connect"):
        client.get_json("/r")
    assert fake == [0.25, 0.5, 1.0]


def test_retry_after_http_date():
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 12, usegmt=True)
    assert retry_after_s(date, now=lambda: now) == pytest.approx(12, abs=1)
    assert retry_after_s("5") == 5.0
    assert retry_after_s("garbage") is None
    assert retry_after_s(None) is None
    # a date in the past means "now", not a negative wait
    assert retry_after_s(email.utils.formatdate(now - 100, usegmt=True), now=lambda: now) == 0.0


def test_5xx_then_success_uses_exponential_backoff():
    calls = []

    def handler(req):
        calls.append(1)
        if len(calls) <= 2:
            return StubResponse(503, body="busy")
        return {"ok": 1}

    with StubServer({("GET", "/r"): handler}) as srv:
        client, sleeps = make(srv.url, backoff_s=0.5)
        assert client.get_json("/r") == {"ok": 1}
        assert sleeps == [0.5, 1.0]
        assert srv.count("GET", "/r") == 3


def test_5xx_exhausts_retries():
    with StubServer({("GET", "/r"): lambda r: (500, {"error": "boom"})}) as srv:
        client, sleeps = make(srv.url, retries=2, backoff_s=1)
        with pytest.raises(HttpStatusError) as ei:
            client.get_json("/r")
        assert ei.value.status == 500
        assert "testprov" in str(ei.value) and "3 attempt" in str(ei.value)
        assert sleeps == [1, 2]
        assert srv.count("GET", "/r") == 3


@pytest.mark.parametrize(
    "status,needle",
    [(401, "authentication failed"), (403, "access denied"), (400, "carbon.region"), (404, "carbon.region")],
)
def test_client_errors_are_mapped_without_retry(status, needle):
    with StubServer({("GET", "/r"): lambda r: (status, {"message": "Invalid region FOO"})}) as srv:
        client, sleeps = make(srv.url)
        with pytest.raises(HttpStatusError) as ei:
            client.get_json("/r")
        msg = str(ei.value)
        assert ei.value.status == status
        assert needle in msg
        assert "Invalid region FOO" in msg  # the API's own message is quoted
        assert msg.startswith("[testprov]") and "Fix:" in msg
        assert sleeps == [] and srv.count("GET", "/r") == 1


def test_bad_json_body():
    with StubServer(
        {("GET", "/r"): lambda r: StubResponse(200, body="<html>login</html>", content_type="text/html")}
    ) as srv:
        client, _ = make(srv.url)
        with pytest.raises(ProviderError, match="not JSON"):
            client.get_json("/r")


def test_connection_refused_retries_then_names_base_url():
    url = closed_port_url()
    client, sleeps = make(url, retries=2, backoff_s=0.25)
    with pytest.raises(ProviderError) as ei:
        client.get_json("/r")
    assert url in str(ei.value) and "could not connect" in str(ei.value)
    assert sleeps == [0.25, 0.5]


def test_secrets_are_redacted_from_errors():
    secret = "s3cr3t-value-123"
    with StubServer({("GET", "/r"): lambda r: (403, {"message": f"token {secret} not allowed"})}) as srv:
        client, _ = make(srv.url, secrets=[secret])
        with pytest.raises(ProviderError) as ei:
            client.get_json("/r", headers={"Authorization": f"Bearer {secret}"})
        assert secret not in str(ei.value) and "***" in str(ei.value)
        assert secret not in repr(client)


def test_bad_base_url_is_a_config_error_not_a_silent_fallback():
    from sci_lightning.carbon import build_provider
    from sci_lightning.errors import ConfigError
    from sci_lightning.settings import CarbonConfig

    with pytest.raises(ConfigError, match=r"carbon\.base_url"):
        HttpClient("p", "api.example.org")
    with pytest.raises(ConfigError, match=r"carbon\.base_url"):
        build_provider(CarbonConfig(provider="carbon_aware_sdk", region="eastus", base_url="localhost:8080"))


def test_require_and_expect_type():
    assert require({"a": 1.5}, "a", (int, float), "body", "p") == 1.5
    with pytest.raises(ProviderError, match="no 'a' key"):
        require({}, "a", int, "body", "p")
    with pytest.raises(ProviderError, match="should be int/float"):
        require({"a": "x"}, "a", (int, float), "body", "p")
    with pytest.raises(ProviderError, match="should be dict"):
        require([1], "a", int, "body", "p")
    with pytest.raises(ProviderError):
        expect_type(True, (int, float), "value", "p")  # bool is not a number


def test_parse_and_format_time():
    assert parse_time("2024-03-01T10:05:00Z", "t", "p") == datetime(2024, 3, 1, 10, 5, tzinfo=timezone.utc)
    assert parse_time("2024-03-01T12:05:00+02:00", "t", "p") == datetime(
        2024, 3, 1, 10, 5, tzinfo=timezone.utc
    )
    assert parse_time("2024-03-01T10:05:00.1234567Z", "t", "p").microsecond == 123456
    assert parse_time("2024-03-01T10:05:00", "t", "p").tzinfo is not None  # naive taken as UTC
    with pytest.raises(ProviderError, match="ISO-8601"):
        parse_time("yesterday", "t", "p")
    with pytest.raises(ProviderError):
        parse_time(12, "t", "p")
    dt = datetime(2024, 3, 1, 12, 0, 30, 999, tzinfo=timezone(timedelta(hours=2)))
    assert format_time(dt) == "2024-03-01T10:00:30Z"
    with pytest.raises(ValueError):
        format_time(datetime(2024, 1, 1))


def test_env_credentials(monkeypatch):
    monkeypatch.setenv("T_USER", "u")
    monkeypatch.delenv("T_PASS", raising=False)
    with pytest.raises(ProviderError) as ei:
        env_credentials("p", "T_USER", "T_PASS")
    assert "T_PASS" in str(ei.value) and "T_USER" not in str(ei.value).split("Fix:")[0]
    monkeypatch.setenv("T_PASS", "pw")
    assert env_credentials("p", "T_USER", "T_PASS") == ("u", "pw")


# ----------------------------------------------------------------------------- secrets in echoes

USER, PASSWORD, TOKEN = "alice@example.org", "pw-Secret-4242", "em-tok-9f8e7d6c5b4a"
BASIC = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


def _texts(exc: ProviderError) -> list[str]:
    return [str(exc), repr(exc), *map(str, exc.args), getattr(exc, "api_message", ""), exc.fix or ""]


def _assert_clean(texts, *secrets):
    for text in texts:
        for secret in secrets:
            assert secret not in text, (secret, text)
            assert secret.rstrip("=") not in text, (secret, text)


@pytest.mark.parametrize("status", [401, 500])
@pytest.mark.parametrize("as_json", [True, False])
def test_echoed_basic_auth_never_reaches_the_error(status, as_json, caplog):
    """WattTime-style login: HTTP Basic auth; the server quotes the Authorization header back."""
    with StubServer({("GET", "/login"): echo_headers(status, as_json=as_json)}) as srv:
        client, _ = make(srv.url, retries=1)
        with caplog.at_level(logging.DEBUG), pytest.raises(HttpStatusError) as ei:
            client.get_json("/login", auth=(USER, PASSWORD))
        assert basic_auth(srv.requests[-1]) == (USER, PASSWORD)  # it was sent, and echoed
        _assert_clean(_texts(ei.value) + [caplog.text], PASSWORD, BASIC)
        msg = str(ei.value)
        assert f"HTTP {status}" in msg and "authorization" in msg and ("[redacted]" in msg or "***" in msg)


@pytest.mark.parametrize("header", ["auth-token", "Authorization"])
def test_echoed_token_headers_never_reach_the_error(header, caplog):
    """Electricity Maps style ``auth-token: <token>``, and ``Authorization: Bearer <token>``."""
    value = TOKEN if header == "auth-token" else f"Bearer {TOKEN}"
    routes = {("GET", "/a"): echo_headers(401), ("GET", "/b"): echo_headers(500, as_json=False)}
    with StubServer(routes) as srv:
        client, _ = make(srv.url, retries=0)
        for path in ("/a", "/b"):
            with caplog.at_level(logging.DEBUG), pytest.raises(HttpStatusError) as ei:
                client.get_json(path, headers={header: value})
            assert srv.requests[-1].header(header) == value
            _assert_clean(_texts(ei.value) + [caplog.text], TOKEN)


def test_env_secrets_and_unknown_bearer_tokens_in_bodies_are_redacted(monkeypatch):
    """Credentials the client never sent (another tool's token in the environment, a token
    in a URL the server quotes) are redacted too."""
    monkeypatch.setenv("SOME_SERVICE_API_KEY", "envkey-5566778899")
    body = {
        "message": "see https://x.example/cb?token=qs-tok-123&region=DE; Bearer other-tok-777; envkey-5566778899"
    }
    with StubServer({("GET", "/r"): lambda r: (403, body)}) as srv:
        client, _ = make(srv.url)
        with pytest.raises(HttpStatusError) as ei:
            client.get_json("/r")
    _assert_clean(_texts(ei.value), "qs-tok-123", "other-tok-777", "envkey-5566778899")
    assert "region=DE" in str(ei.value)  # ordinary parameters stay readable

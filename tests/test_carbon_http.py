"""Tests for carbon/http.py (HttpClient) against the loopback stub server."""

from __future__ import annotations

import email.utils
from datetime import datetime, timedelta, timezone

import pytest

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
from stub_server import StubResponse, StubServer, basic_auth, closed_port_url


class Sleeps(list):
    """Injected sleep: records the waits instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


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


def test_retry_after_is_capped():
    calls = []

    def handler(req):
        calls.append(1)
        if len(calls) == 1:
            return StubResponse(429, {}, headers={"Retry-After": "3600"})
        return {}

    with StubServer({("GET", "/r"): handler}) as srv:
        client, sleeps = make(srv.url, max_wait_s=30)
        client.get_json("/r")
        assert sleeps == [30.0]


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
    with StubServer({("GET", "/r"): lambda r: StubResponse(200, body="<html>login</html>", content_type="text/html")}) as srv:
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
    from sci_lightning.carbon.config import CarbonConfig
    from sci_lightning.errors import ConfigError

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
    assert parse_time("2024-03-01T12:05:00+02:00", "t", "p") == datetime(2024, 3, 1, 10, 5, tzinfo=timezone.utc)
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

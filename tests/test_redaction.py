"""Credentials and what is derived from them never leave the process: redaction rules, and
an API that echoes the request's headers (loopback stub) through provider, chain and log."""

from __future__ import annotations

import base64
import logging
import warnings
from datetime import datetime, timedelta, timezone

import pytest
from stub_server import StubServer, basic_auth, echo_headers

from sci_lightning.carbon import FallbackProvider
from sci_lightning.carbon.base import ProviderError
from sci_lightning.carbon.electricity_maps import ElectricityMapsProvider
from sci_lightning.carbon.static import StaticProvider
from sci_lightning.carbon.watttime import WattTimeProvider
from sci_lightning.redaction import REDACTED, credential_forms, redact, scrub, secret_header, secret_values

USER, PASSWORD = "alice@example.org", "pw-Secret-4242"
BASIC = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
TOKEN = "em-tok-9f8e7d6c5b4a"
T0 = datetime(2024, 5, 1, 12, tzinfo=timezone.utc)


def no_sleep(_s: float) -> None:
    pass


def assert_clean(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text and secret.rstrip("=") not in text, (secret, text)


# ----------------------------------------------------------------------------- rules


def test_basic_auth_value_of_env_user_password_pairs_is_a_secret():
    env = {"WATTTIME_USERNAME": USER, "WATTTIME_PASSWORD": PASSWORD, "PATH": "/bin"}
    values = secret_values(env)
    assert PASSWORD in values and BASIC in values and BASIC.rstrip("=") in values
    text = f'{{"received": "{BASIC}", "also": "{BASIC.rstrip("=")}x"}}'
    out = redact(text, values)
    assert_clean(out, PASSWORD, BASIC)
    assert out.count(REDACTED) == 2


def test_credential_forms_cover_url_encoding_and_every_user():
    forms = credential_forms("p@ss word", ["u1", "u2"])
    assert "p%40ss%20word" in forms
    for user in ("u1", "u2"):
        assert base64.b64encode(f"{user}:p@ss word".encode()).decode() in forms
    assert forms == sorted(forms, key=len, reverse=True)


@pytest.mark.parametrize(
    "text,secret",
    [
        (f"Authorization: Basic {base64.b64encode(b'x:unknown-pw').decode()}", "unknown-pw-in-b64"),
        ("headers={'Authorization': 'Bearer abc.DEF-123'}", "abc.DEF-123"),
        ('{"auth-token": "tok-777", "region": "DE"}', "tok-777"),
        ("failed: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig", "eyJhbGciOiJIUzI1NiJ9"),
        ("GET /v3/x?region=DE&token=qs-1234", "qs-1234"),
        ("GET /v3/x?api_key=ak-5678&zone=DE", "ak-5678"),
        ("GET /v3/x?key=k-9012", "k-9012"),
        ("POST /login?user=bob&password=hunter22", "hunter22"),
        ("proxy https://bob:hunter23@proxy.local:3128 refused", "hunter23"),
    ],
)
def test_quoted_credentials_are_redacted_whatever_their_value(text, secret):
    out = redact(text, [])
    if secret == "unknown-pw-in-b64":
        secret = base64.b64encode(b"x:unknown-pw").decode()
    assert_clean(out, secret)
    assert REDACTED in out


def test_ordinary_text_is_left_alone():
    for text in (
        "basic energy model",
        "Bearer token required",
        "region=DE&zone=FR",
        "monkey=1",
        "SCI 12.5 g",
    ):
        assert scrub(text, [])[0] == text


def test_env_value_rule_is_kept():
    env = {"MY_TOKEN": "abcdef123", "SOME_KEY": "no", "HOME": "/home/u"}
    assert secret_values(env) == ["abcdef123"]
    assert scrub({"a": ["x abcdef123"]}, secret_values(env)) == ({"a": ["x [redacted]"]}, 1)


def test_secret_header_names():
    assert all(secret_header(h) for h in ("Authorization", "auth-token", "X-Api-Key", "Cookie"))
    assert not any(secret_header(h) for h in ("Accept", "Content-Type", "User-Agent"))


# ----------------------------------------------------------------------------- end to end


def _chain_failure(provider, method, caplog):
    chain = FallbackProvider([provider, StaticProvider("DE")])
    with caplog.at_level(logging.DEBUG), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        series = method(chain)
    assert series.kind == "fallback"
    texts = [
        caplog.text,
        *(str(w.message) for w in caught),
        str(chain.fallbacks_used),
        " ".join(series.notes),
    ]
    assert any("watttime" in t or "electricity" in t for t in texts)
    return texts


@pytest.mark.parametrize("status", [401, 500])
@pytest.mark.parametrize("as_json", [True, False])
def test_watttime_login_echo_never_leaks_the_password(monkeypatch, caplog, status, as_json):
    """WattTime logs in with HTTP Basic auth; the stub's error quotes the Authorization header."""
    monkeypatch.setenv("WATTTIME_USERNAME", USER)
    monkeypatch.setenv("WATTTIME_PASSWORD", PASSWORD)
    with StubServer({("GET", "/login"): echo_headers(status, as_json=as_json)}) as srv:
        wt = WattTimeProvider("CAISO_NORTH", base_url=srv.url, retries=1, backoff_s=0.0, sleep=no_sleep)
        with pytest.raises(ProviderError) as ei:
            wt.forecast(T0, timedelta(hours=1))
        assert basic_auth(srv.requests[-1]) == (USER, PASSWORD)  # really sent, really echoed
        texts = [str(ei.value), repr(ei.value), *map(str, ei.value.args), ei.value.fix or ""]
        texts += _chain_failure(wt, lambda c: c.forecast(T0, timedelta(hours=1)), caplog)
    for text in texts:
        assert_clean(text, PASSWORD, BASIC)


@pytest.mark.parametrize("status", [401, 500])
def test_electricity_maps_token_echo_never_leaks_the_token(caplog, status):
    routes = {
        ("GET", "/v3/carbon-intensity/history"): echo_headers(status, as_json=False),
        ("GET", "/v3/carbon-intensity/latest"): echo_headers(status),
    }
    with StubServer(routes) as srv:
        em = ElectricityMapsProvider("DE", token=TOKEN, base_url=srv.url, retries=0, sleep=no_sleep)
        with pytest.raises(ProviderError) as ei:
            em.current()
        assert srv.requests[-1].header("auth-token") == TOKEN
        texts = [str(ei.value), repr(ei.value), *map(str, ei.value.args), ei.value.fix or ""]
        texts += _chain_failure(em, lambda c: c.history(T0, T0 + timedelta(hours=1)), caplog)
    for text in texts:
        assert_clean(text, TOKEN)

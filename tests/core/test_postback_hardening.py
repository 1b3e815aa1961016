"""``/aff/postback`` under hostile input: NUL bytes, invalid UTF-8, lone surrogates and huge amounts are a
clean 4xx with the attempt logged, never a 500; a (network, IP) pair refused too often is rate-limited,
each refusal logged."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
import redis as redis_lib
from sqlalchemy import func, select

from contentflow.models import Conversion, PostbackLog
from contentflow.services import fx, postback_limits
from contentflow.services.postback_limits import REFRESH_SECONDS, REFUSAL_LIMIT, RefusalLimiter, limiter_of
from tests.core.test_postbacks import SECRET, fields_of, sign
from tests.core.test_postbacks import sale as sale  # noqa: F401 - a fixture


@pytest.fixture(autouse=True)
def fresh_limits(app):
    """The process's copy of the limits is dropped around each test (Redis itself is flushed per test)."""
    limiter_of(app).forget()
    yield
    limiter_of(app).forget()


def log_lines(db) -> list[PostbackLog]:
    return list(db.session.scalars(select(PostbackLog).order_by(PostbackLog.id)))


def only_line(db) -> PostbackLog:
    (line,) = log_lines(db)
    return line


def conversion_count(db) -> int:
    return db.session.scalar(select(func.count()).select_from(Conversion))


# --- NUL bytes, invalid UTF-8, lone surrogates ------------------------------------------------------------

FIELDS = ("network", "token", "txn_id", "subid", "amount", "currency", "status", "unknown")


@pytest.mark.parametrize("field", FIELDS)
def test_nul_byte_in_any_get_field_is_a_400_and_logged(client, sale, db, field):
    values = {**fields_of(sale), "token": SECRET}
    values[field] = values.get(field, "x") + "\x00x"
    response = client.get("/aff/postback?" + urlencode(values))
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_encoding"
    assert conversion_count(db) == 0
    line = only_line(db)
    assert (line.outcome, line.reason, line.http_status) == ("rejected", "bad_encoding", 400)
    if field in ("network", "txn_id", "subid", "amount", "status"):
        assert "\ufffdx" in json.dumps(line.params, ensure_ascii=False) + line.network_name + line.txn_id


def test_nul_byte_in_a_field_name_is_a_400_and_logged(client, sale, db):
    response = client.get("/aff/postback?" + urlencode({**fields_of(sale), "token": SECRET, "a\x00b": "1"}))
    assert response.status_code == 400
    assert only_line(db).reason == "bad_encoding"


@pytest.mark.parametrize(
    "query",
    [
        b"network=acme&txn_id=T\xff1&amount=1",  # raw, not percent-encoded
        b"network=acme&txn_id=T%FF1&amount=1",  # percent-encoded
        b"network=ac%C3me&amount=1",  # a truncated sequence
        b"network=%ED%A0%80&amount=1",  # an encoded surrogate
    ],
    ids=["raw", "percent-encoded", "truncated", "surrogate"],
)
def test_invalid_utf8_in_the_query_is_a_400_and_logged(client, db, query):
    # As a WSGI server passes it: the raw bytes, decoded as Latin-1 (PEP 3333).
    response = client.get("/aff/postback", environ_overrides={"QUERY_STRING": query.decode("latin-1")})
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_encoding"
    line = only_line(db)
    assert (line.reason, line.http_status) == ("bad_encoding", 400)
    assert line.ip_hash


@pytest.mark.parametrize(
    "body",
    [
        b"network=acme&txn_id=T%00&amount=1",
        b"network=acme&txn_id=T\xff&amount=1",
        b"network=acme&txn_id=T%FF&amount=1",
    ],
    ids=["nul", "raw-invalid", "percent-invalid"],
)
def test_bad_text_in_a_form_body_is_a_400_and_logged(client, db, body):
    response = client.post("/aff/postback", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_encoding"
    assert only_line(db).reason == "bad_encoding"


@pytest.mark.parametrize(
    "body",
    [
        b'{"network": "acme", "txn_id": "T\\u0000", "amount": "1"}',
        b'{"network": "acme\\ud800", "txn_id": "T", "amount": "1"}',
        b'{"network": "acme", "t\\u0000ken": "x", "amount": "1"}',
        b'{"network": "acme", "txn_id": "T\xff", "amount": "1"}',
    ],
    ids=["nul", "lone-surrogate", "nul-in-a-key", "invalid-utf8"],
)
def test_bad_text_in_a_json_body_is_a_400_and_logged(client, db, body):
    response = client.post("/aff/postback", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_encoding"
    line = only_line(db)
    assert (line.outcome, line.reason, line.http_status) == ("rejected", "bad_encoding", 400)


def test_signed_post_with_a_nul_byte_is_refused_even_when_the_signature_matches(client, sale, db):
    body = urlencode({**fields_of(sale), "subid": sale.subid + "\x00"}).encode()
    response = client.post(
        "/aff/postback",
        data=body,
        content_type="application/x-www-form-urlencoded",
        headers={"X-Signature": sign(body)},
    )
    assert response.status_code == 400
    assert conversion_count(db) == 0


def test_body_over_16_kib_is_a_400_and_logged(client, db):
    response = client.post("/aff/postback", data=b"network=acme&x=" + b"a" * 17_000)
    assert (response.status_code, response.get_json()["error"]) == (400, "bad_body")
    assert only_line(db).reason == "bad_body"


# --- huge amounts ---------------------------------------------------------------------------------------

HUGE = ["1000000000000", "999999999999999", "999999999999999.999999999999", "922337203685477.5808"]


@pytest.mark.parametrize("amount", HUGE)
@pytest.mark.parametrize("currency", ["JPY", "EUR", "KWD", "CLF"], ids=["0-dec", "2-dec", "3-dec", "4-dec"])
@pytest.mark.parametrize("has_rate", [True, False], ids=["rate", "no-rate"])
def test_huge_amount_is_a_400_and_logged_in_every_currency(client, sale, db, amount, currency, has_rate):
    if has_rate and currency != "EUR":
        fx.set_rate(currency, "0.0001")
        db.session.commit()
    fields = {**fields_of(sale), "token": SECRET, "amount": amount, "currency": currency}
    response = client.get("/aff/postback?" + urlencode(fields))
    assert response.status_code == 400
    assert response.get_json()["error"] == "absurd_amount"
    assert only_line(db).reason == "absurd_amount"
    assert conversion_count(db) == 0


def test_large_amount_without_a_rate_waits_for_review(client, sale, db):
    fields = {**fields_of(sale), "token": SECRET, "amount": "999999999999.9999", "currency": "CLF"}
    response = client.get("/aff/postback?" + urlencode(fields))
    assert response.get_json()["outcome"] == "review"  # the cap is checked when an admin converts it


# --- rate limiting --------------------------------------------------------------------------------------


def refused_attempts(client, sale, count: int, address: str = "198.51.100.7"):
    return [
        client.get(
            "/aff/postback?" + urlencode({**fields_of(sale), "token": "wrong-wrong-wrong"}),
            environ_base={"REMOTE_ADDR": address},
        ).status_code
        for _ in range(count)
    ]


def test_pair_is_limited_after_repeated_refusals_and_every_refusal_is_logged(client, sale, db):
    assert refused_attempts(client, sale, REFUSAL_LIMIT) == [403] * REFUSAL_LIMIT
    good = {**fields_of(sale), "token": SECRET}
    response = client.get("/aff/postback?" + urlencode(good), environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert response.status_code == 429
    assert response.get_json() == {
        "ok": False,
        "error": "rate_limited",
        "message": "Too many refused postbacks from this address: retry later.",
    }
    assert conversion_count(db) == 0
    reasons = [(line.reason, line.http_status) for line in log_lines(db)]
    assert reasons == [("bad_secret", 403)] * REFUSAL_LIMIT + [("rate_limited", 429)]


def test_limit_spares_other_addresses_and_other_networks(client, sale, db):
    refused_attempts(client, sale, REFUSAL_LIMIT)
    good = {**fields_of(sale), "token": SECRET}
    other_ip = client.get("/aff/postback?" + urlencode(good), environ_base={"REMOTE_ADDR": "198.51.100.8"})
    assert other_ip.status_code == 200
    other_network = client.get(
        "/aff/postback?" + urlencode({**good, "network": "nobody", "txn_id": "T2"}),
        environ_base={"REMOTE_ADDR": "198.51.100.7"},
    )
    assert other_network.status_code == 403  # refused for what it is, not rate-limited


def test_refusals_below_the_limit_limit_nothing(client, sale, db):
    refused_attempts(client, sale, REFUSAL_LIMIT - 1)
    good = {**fields_of(sale), "token": SECRET}
    response = client.get("/aff/postback?" + urlencode(good), environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert response.status_code == 200


def test_limit_set_by_one_process_reaches_another_within_the_refresh(redis):
    now = [1_000_000.0]
    first, second = RefusalLimiter(redis, clock=lambda: now[0]), RefusalLimiter(redis, clock=lambda: now[0])
    assert not second.is_limited("acme", "ab" * 16)
    reached = [first.count_refusal("acme", "ab" * 16) for _ in range(REFUSAL_LIMIT)]
    assert reached == [False] * (REFUSAL_LIMIT - 1) + [True]
    assert first.is_limited("acme", "ab" * 16)
    now[0] += REFRESH_SECONDS
    assert second.is_limited("acme", "ab" * 16)
    assert not second.is_limited("acme", "cd" * 16)


def test_limit_ends_with_its_window(redis):
    now = [1_000_000.0]
    limiter = RefusalLimiter(redis, clock=lambda: now[0])
    for _ in range(REFUSAL_LIMIT):
        limiter.count_refusal("acme", "ab" * 16)
    now[0] = (now[0] // postback_limits.REFUSAL_WINDOW_SECONDS + 1) * postback_limits.REFUSAL_WINDOW_SECONDS
    assert not limiter.is_limited("acme", "ab" * 16)


def test_without_redis_nothing_is_limited(caplog):
    unreachable = redis_lib.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    limiter = RefusalLimiter(unreachable)
    for _ in range(REFUSAL_LIMIT + 1):
        assert limiter.count_refusal("acme", "ab" * 16) is False
    assert not limiter.is_limited("acme", "ab" * 16)
    assert "Redis failed" in caplog.text


@pytest.mark.parametrize(
    "query",
    [
        "a=1&b=2",
        "a=1&a=2",
        "a",
        "a=",
        "=x",
        "&&a=1&",
        "a+b=c+d",
        "a%20b=%2B",
        "x=%zz",
        "x=%",
        "a=1=2",
        "k=%E2%82%AC",
    ]
    + [";a=1", "a=1;b=2"],
)
def test_fields_are_read_as_werkzeug_reads_them(query):
    from urllib.parse import parse_qsl

    from contentflow.views.postback import parse_form

    expected: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        expected.setdefault(key, value)
    assert parse_form(query.encode()) == (expected, "")

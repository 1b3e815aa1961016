"""Input no view can store is refused at the edge (``contentflow.views.edge``) with a clear 4xx, never a
500, and changes nothing: one test per 500 the fuzzer (``tests/fuzz``) or issue 13 found, then the edge's
own rules (raw bytes, JSON, row ids)."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select
from werkzeug.routing import IntegerConverter

from contentflow.models import AuditLog, Click, Conversion, LedgerEntry, Payout, PostbackLog
from contentflow.services import fx, ledger, payouts
from tests.conftest import csrf_token_of, sign_in
from tests.core.test_postbacks import SECRET, fields_of
from tests.core.test_postbacks import sale as sale  # noqa: F401 - a fixture

BEYOND_BIGINT = str(2**63)
HTMX = {"HX-Request": "true"}
REFUSED = "The request holds a NUL byte or text that is not valid UTF-8."


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def admin_in(client, admin):
    sign_in(client, admin)
    return client


@pytest.fixture
def payee(db, make_partner):
    partner = make_partner("payee@example.com", payout_method="paypal", payout_paypal_email="p@example.org")
    ledger.record_entry(partner.id, "conversion_share", 100_000, "test:credit")
    db.session.commit()
    return partner


@pytest.fixture
def approved(db, payee) -> Payout:
    payout = payouts.request_withdrawal(payee, 5_000, "paypal")  # under the threshold: approved at once
    db.session.commit()
    return payout


def admin_post(client, path: str, data: dict, **kwargs):
    return client.post(path, data={**data, "csrf_token": csrf_token_of(client, "/admin/")}, **kwargs)


# --- the 500s of issue 13, one test each -------------------------------------------------------------


def test_nul_byte_in_a_link_code_is_a_400_and_records_no_click(client, sale, db, redis):
    response = client.get("/l/ab%00cd")
    assert response.status_code == 400
    assert REFUSED in response.get_data(as_text=True)
    assert count(db, Click) == 1  # the sale's own click only
    assert redis.dbsize() == 0


def test_nul_byte_in_the_seeds_pid_is_a_400_and_creates_no_link(client, sale, db):
    response = client.get(f"/l/{sale.asset.id}?pid=%00")
    assert response.status_code == 400
    assert REFUSED in response.get_data(as_text=True)


@pytest.mark.parametrize("how", ["get", "form", "json"])
@pytest.mark.parametrize("field", ["network", "txn_id", "subid", "amount", "currency", "status", "token"])
def test_nul_byte_in_a_postback_field_is_a_400_and_logged(client, sale, db, how, field):
    values = {**fields_of(sale), "currency": "EUR", "token": SECRET}
    values[field] += "\x00"
    if how == "get":
        response = client.get("/aff/postback?" + urlencode(values))
    elif how == "form":
        response = client.post("/aff/postback", data=values)
    else:
        response = client.post("/aff/postback", json=values)
    assert (response.status_code, response.get_json()["error"]) == (400, "bad_encoding")
    assert count(db, Conversion) == 0
    assert db.session.scalars(select(PostbackLog.reason)).all() == ["bad_encoding"]


@pytest.mark.parametrize("field", ["email", "password"])
def test_nul_byte_in_the_admin_sign_in_is_a_400_and_signs_in_no_one(client, admin, db, field):
    values = {"email": "boss@example.com", "password": "correct horse battery staple"}
    values[field] += "\x00"
    response = client.post(
        "/admin/login", data={**values, "csrf_token": csrf_token_of(client, "/admin/login")}
    )
    assert response.status_code == 400
    assert REFUSED in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302  # still anonymous


def test_nul_byte_in_the_admin_partner_search_is_a_400(admin_in):
    response = admin_in.get("/admin/partners?q=pat%00")
    assert response.status_code == 400
    assert REFUSED in response.get_data(as_text=True)


def test_nul_byte_in_a_ledger_partner_id_is_a_400(admin_in, payee):
    assert admin_in.get(f"/admin/partners/{payee.id}%00/ledger").status_code == 400


def test_nul_byte_in_a_ledger_adjustment_reason_is_a_400_and_adjusts_nothing(admin_in, payee, db):
    data = {"amount": "5", "reason": "goodwill\x00", "request_key": "a" * 32}
    response = admin_post(admin_in, f"/admin/partners/{payee.id}/adjustments", data)
    assert response.status_code == 400
    assert db.session.scalar(select(func.count()).where(LedgerEntry.kind == "adjustment")) == 0


@pytest.mark.parametrize(("action", "field"), [("pay", "reference"), ("reject", "note")])
def test_nul_byte_in_a_payout_action_is_a_400_and_changes_nothing(admin_in, approved, db, action, field):
    response = admin_post(admin_in, f"/admin/payouts/{approved.id}/{action}", {field: "PP-1\x00"})
    assert response.status_code == 400
    db.session.refresh(approved)
    assert approved.status == "approved"


def admin_id_posts(app) -> list[str]:
    """Every POST route of the admin area (core and plugins) with a row id in its path, built with an
    id one past the largest BIGINT."""
    adapter = app.url_map.bind("localhost")
    paths = []
    for rule in app.url_map.iter_rules():
        converters = rule._converters
        if not rule.rule.startswith(("/admin/", "/ops/")) or "POST" not in (rule.methods or ()):
            continue
        if not any(isinstance(converter, IntegerConverter) for converter in converters.values()):
            continue
        values = {
            name: 2**63 if isinstance(converter, IntegerConverter) else sorted(converter.items)[0]
            for name, converter in converters.items()
        }
        paths.append(adapter.build(rule.endpoint, values, method="POST"))
    return sorted(paths)


def test_admin_posts_with_an_id_beyond_bigint_answer_404(app, admin_in, db):
    paths = admin_id_posts(app)
    assert "/admin/payouts/9223372036854775808/approve" in paths
    answers = {
        path: admin_post(admin_in, path, {"reference": "R", "note": "N"}).status_code for path in paths
    }
    assert answers == dict.fromkeys(paths, 404)
    assert count(db, AuditLog) == 0


@pytest.mark.parametrize("amount", ["922337203685477.5808", "999999999999999.9999", "9" * 30])
@pytest.mark.parametrize("has_rate", [False, True], ids=["no-rate", "rate"])
def test_postback_amount_beyond_bigint_in_a_four_decimal_currency_is_a_400(
    client, sale, db, amount, has_rate
):
    """In CLF's minor units (1/10,000) these pass BIGINT; without a rate no cap in EUR stopped them."""
    if has_rate:
        fx.set_rate("CLF", "42.5")
        db.session.commit()
    values = {**fields_of(sale, amount=amount), "currency": "CLF", "token": SECRET}
    response = client.get("/aff/postback?" + urlencode(values))
    assert response.status_code == 400
    assert count(db, Conversion) == 0
    assert db.session.scalars(select(PostbackLog.http_status)).all() == [400]


@pytest.mark.parametrize("amount", ["1" * 30, "-" + "9" * 30, "0." + "1" * 30])
def test_ledger_adjustment_of_thirty_digits_is_a_400_and_adjusts_nothing(admin_in, payee, db, amount):
    data = {"amount": amount, "reason": "typo", "request_key": "b" * 32}
    response = admin_post(admin_in, f"/admin/partners/{payee.id}/adjustments", data)
    assert response.status_code == 400
    assert "Not an amount" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).where(LedgerEntry.kind == "adjustment")) == 0


def test_payouts_page_asked_by_htmx_answers_the_list_partial(admin_in, approved):
    response = admin_in.get("/admin/payouts?status=approved", headers=HTMX)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert page.lstrip().startswith('<section id="admin-payouts"')
    assert f'id="admin-payout-{approved.id}"' in page
    assert "HX-Request" in response.headers["Vary"]


def test_monitoring_range_of_thousands_of_digits_is_a_400(admin_in):
    response = admin_in.get("/admin/monitoring/?days=" + "9" * 5_000)
    assert response.status_code == 400
    assert "The range is 7, 30 or 90 days." in response.get_data(as_text=True)


def test_json_body_sent_to_a_form_is_a_415_in_json(admin_in, db):
    """Flask-WTF reads a JSON body as the form's data: a number where text is expected was a 500."""
    response = admin_in.post(
        "/admin/fx-rates", data="0.0", content_type="application/json", headers={"X-CSRFToken": "x"}
    )
    assert response.status_code == 415
    assert response.get_json()["error"] == "not_a_form"


# --- the edge's rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw_path",
    [b"/partners/\xff", b"/admin/partners/\xc3(/ledger", b"/l/\xed\xa0\x80", b"/share/\x00"],
    ids=["bad-start-byte", "truncated", "surrogate", "nul"],
)
def test_path_that_is_not_utf8_is_a_400(client, db, raw_path):
    # As a WSGI server passes it: the raw bytes as Latin-1 (the test client would replace them).
    response = client.get("/", environ_overrides={"PATH_INFO": raw_path.decode("latin-1")})
    assert response.status_code == 400
    assert REFUSED in response.get_data(as_text=True)


@pytest.mark.parametrize("query", ["q=%FF", "q=%C3", "q=%ED%A0%80", "%00=1", "q=a\xff"])
def test_query_that_is_not_utf8_is_a_400(client, db, query):
    response = client.get("/partners", environ_overrides={"QUERY_STRING": query})
    assert response.status_code == 400


@pytest.mark.parametrize("body", [b"email=a%FF%40b.com", b"email=\xff", b"email=a%00"])
def test_form_body_that_is_not_utf8_is_a_400(client, db, body):
    response = client.post("/partner/magic", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert REFUSED in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "parts",
    [
        [(b'name="email"', b"a\xff@b.com")],
        [(b'name="email"', b"a@b.com"), (b'name="email"', b"a\x00@b.com")],  # a second value
        [(b'name="file"; filename="a\x00.mp4"', b"data")],
    ],
    ids=["invalid-utf8", "nul-in-a-second-value", "nul-in-a-file-name"],
)
def test_multipart_field_that_is_not_text_is_a_400(client, db, parts):
    body = b"".join(
        b"--b\r\nContent-Disposition: form-data; " + d + b"\r\n\r\n" + v + b"\r\n" for d, v in parts
    )
    response = client.post(
        "/partner/magic", data=body + b"--b--\r\n", content_type="multipart/form-data; boundary=b"
    )
    assert response.status_code == 400
    assert REFUSED in response.get_data(as_text=True)


def test_htmx_gets_the_refusal_as_an_alert(client, db):
    response = client.get("/partners?q=%00", headers=HTMX)
    assert response.status_code == 400
    assert 'id="errors-alert"' in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b'{"submissionId": "a\\u0000"}', "bad_encoding"),
        (b'{"submissionId": "\\ud800"}', "bad_encoding"),
        (b'{"submissionId": "\xff"}', "bad_encoding"),
        (b"[" * 100_000 + b"]" * 100_000, "bad_json"),
        (
            json.dumps(
                {"platforms": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["x"]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}
            ).encode(),
            "bad_json",
        ),
        (b'{"submissionId": ', "bad_json"),
    ],
    ids=["nul", "lone-surrogate", "invalid-utf8", "deep", "33-levels", "broken"],
)
def test_json_api_refuses_what_it_cannot_read_in_json(client, partner, db, body, error):
    sign_in(client, partner)
    headers = {"X-CSRFToken": csrf_token_of(client, "/partner/portal")}
    response = client.post("/api/byop/publish", data=body, content_type="application/json", headers=headers)
    assert (response.status_code, response.get_json()["error"]) == (400, error)


def test_json_body_over_the_limit_is_a_413(client, partner, db):
    sign_in(client, partner)
    body = json.dumps({"submissionId": "x" * 600_000}).encode()
    response = client.post("/api/byop/publish", data=body, content_type="application/json")
    assert response.status_code == 413


def test_postback_answers_its_own_refusals(client, db):
    """Exempt from the edge: the postback logs every refused attempt and answers JSON."""
    response = client.get("/aff/postback", environ_overrides={"QUERY_STRING": "network=%00"})
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_encoding"
    assert count(db, PostbackLog) == 1


@pytest.mark.parametrize(
    ("payout_id", "status"),
    [
        (str(2**63 - 1), 404),  # the largest BIGINT: matches the route, no such payout
        (BEYOND_BIGINT, 404),
        ("1" + "0" * 30, 404),
        ("\u0661", 404),  # an Arabic-Indic digit is no row id
        ("-1", 404),
    ],
)
def test_row_ids_in_urls_are_bigints_of_ascii_digits(admin_in, payout_id, status):
    assert admin_post(admin_in, f"/admin/payouts/{payout_id}/approve", {}).status_code == status


def test_the_largest_bigint_reaches_the_view(app):
    adapter = app.url_map.bind("localhost")
    endpoint, args = adapter.match(f"/admin/payouts/{2**63 - 1}/approve", method="POST")
    assert (endpoint, args) == ("admin.approve_payout", {"payout_id": 2**63 - 1})

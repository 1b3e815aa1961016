"""``/aff/postback``: per-network authentication, validation, the status machine and the money it moves."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from contentflow.models import Click, Conversion, LedgerEntry, PostbackLog
from contentflow.services import fx, ledger, offers

SECRET = "s3cret-s3cret-s3cret"  # make_network's default


def sign(payload: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


def make_click(db, partner, asset, offer) -> Click:
    click = Click(
        partner_id=partner.id, asset_id=asset.id, offer_id=offer.id, ip_hash="0" * 32, visitor_hash="1" * 32
    )
    db.session.add(click)
    db.session.commit()
    return click


@pytest.fixture
def sale(db, make_partner, make_asset, make_offer):
    """A click on an asset of a 40 % revenue-share offer, ready to convert."""
    offer = make_offer(revshare_pct="40")
    partner = make_partner()
    asset = make_asset(offer=offer)
    click = make_click(db, partner, asset, offer)
    return SimpleNamespace(
        partner=partner, asset=asset, offer=offer, click=click, subid=f"{partner.id}:{asset.id}:{click.id}"
    )


def fields_of(sale, **fields):
    values = {
        "network": "acme",
        "subid": sale.subid,
        "amount": "10.00",
        "status": "confirmed",
        "txn_id": "T1",
    }
    values.update(fields)
    return {key: value for key, value in values.items() if value is not None}


def postback(client, sale, *, token: str | None = SECRET, headers=None, environ=None, **fields):
    """GET /aff/postback with ``sale``'s subid, amount 10.00 EUR, confirmed, txn T1 unless told."""
    values = fields_of(sale, **fields)
    if token is not None:
        values["token"] = token
    return client.get("/aff/postback?" + urlencode(values), headers=headers or {}, environ_base=environ or {})


def balance(db, partner) -> int:
    query = select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0)).where(
        LedgerEntry.partner_id == partner.id
    )
    return db.session.scalar(query)


def entries(db, partner) -> list[tuple[str, int]]:
    query = select(LedgerEntry.kind, LedgerEntry.amount_cents).where(LedgerEntry.partner_id == partner.id)
    return [tuple(row) for row in db.session.execute(query.order_by(LedgerEntry.id))]


def log_lines(db) -> list[tuple[str, str, int]]:
    query = select(PostbackLog.outcome, PostbackLog.reason, PostbackLog.http_status).order_by(PostbackLog.id)
    return [tuple(row) for row in db.session.execute(query)]


def conversion_count(db) -> int:
    return db.session.scalar(select(func.count()).select_from(Conversion))


def only_conversion(db) -> Conversion:
    return db.session.scalars(select(Conversion)).one()


# --- authentication --------------------------------------------------------------------------------------


def test_postback_with_the_token_is_accepted_and_credits_the_share(client, sale, db):
    response = postback(client, sale)
    assert response.status_code == 200
    assert response.get_json() == {"ok": True, "outcome": "accepted", "reason": "created"}
    assert entries(db, sale.partner) == [("conversion_share", 400)]
    assert log_lines(db) == [("accepted", "created", 200)]


def test_get_signed_over_the_raw_query_string_is_accepted(client, sale, db):
    query = urlencode(fields_of(sale)).encode()
    response = client.get("/aff/postback?" + query.decode(), headers={"X-Signature": sign(query)})
    assert response.status_code == 200
    assert balance(db, sale.partner) == 400


def test_post_form_signed_over_the_raw_body_is_accepted(client, sale, db):
    body = urlencode(fields_of(sale)).encode()
    response = client.post(
        "/aff/postback",
        data=body,
        content_type="application/x-www-form-urlencoded",
        headers={"X-Signature": sign(body)},
    )
    assert response.status_code == 200
    assert balance(db, sale.partner) == 400


def test_post_json_signed_over_the_raw_body_keeps_the_exact_amount(client, sale, db):
    body = json.dumps(fields_of(sale, amount=None)).replace("}", ', "amount": 10.005}').encode()
    response = client.post(
        "/aff/postback", data=body, content_type="application/json", headers={"X-Signature": sign(body)}
    )
    assert response.status_code == 200
    assert only_conversion(db).amount_eur_cents == 1001  # 10.005 rounded half-up, never through a float


def test_post_form_with_the_token_needs_no_csrf_token(client, sale, db):
    response = client.post("/aff/postback", data={**fields_of(sale), "token": SECRET})
    assert response.status_code == 200
    assert conversion_count(db) == 1


def test_signature_of_other_bytes_is_refused_with_403(client, sale, db):
    query = urlencode(fields_of(sale)).encode()
    response = client.get(
        "/aff/postback?" + query.decode(), headers={"X-Signature": sign(query + b"&amount=999")}
    )
    assert response.status_code == 403
    assert conversion_count(db) == 0


@pytest.mark.parametrize(
    ("network", "token", "reason"),
    [
        ("nobody", SECRET, "unknown_network"),
        ("acme", "wrong-wrong-wrong-wrong", "bad_secret"),
        ("acme", None, "missing_secret"),
        ("", SECRET, "unknown_network"),
    ],
)
def test_refused_authentication_answers_403_and_writes_only_a_log_line(
    client, sale, db, network, token, reason
):
    response = postback(client, sale, network=network, token=token)
    assert response.status_code == 403
    assert response.get_json() == {"ok": False, "error": "forbidden"}
    assert conversion_count(db) == 0
    assert balance(db, sale.partner) == 0
    assert log_lines(db) == [("rejected", reason, 403)]


def test_inactive_network_is_refused_with_403(client, sale, db):
    offers.set_network_active(sale.offer.network, False)
    db.session.commit()
    assert postback(client, sale).status_code == 403
    assert log_lines(db) == [("rejected", "network_inactive", 403)]


def test_previous_secret_is_accepted_within_the_overlap(client, sale, db, app):
    offers.rotate_network_secret(sale.offer.network)
    db.session.commit()
    assert postback(client, sale, token=SECRET).status_code == 200


def test_new_secret_is_accepted_at_once_after_a_rotation(client, sale, db):
    new_secret = offers.rotate_network_secret(sale.offer.network)
    db.session.commit()
    assert postback(client, sale, token=new_secret).status_code == 200


def test_previous_secret_is_refused_after_the_overlap(client, sale, db, app):
    hours = app.config["NETWORK_SECRET_OVERLAP_HOURS"]
    offers.rotate_network_secret(
        sale.offer.network, now=datetime.now(UTC) - timedelta(hours=hours, seconds=1)
    )
    db.session.commit()
    response = postback(client, sale, headers={"X-Signature": "sha256=00"}, token=SECRET)
    assert response.status_code == 403
    assert log_lines(db) == [("rejected", "bad_secret", 403)]


def test_previous_secret_also_signs_within_the_overlap(client, sale, db):
    offers.rotate_network_secret(sale.offer.network)
    db.session.commit()
    query = urlencode(fields_of(sale)).encode()
    response = client.get("/aff/postback?" + query.decode(), headers={"X-Signature": sign(query, SECRET)})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("allowlist", "address", "status"),
    [
        ("203.0.113.0/24", "203.0.113.9", 200),
        ("203.0.113.0/24, 2001:db8::/32", "2001:db8::1", 200),
        ("203.0.113.0/24", "198.51.100.7", 403),
        ("198.51.100.7", "198.51.100.8", 403),
    ],
)
def test_ip_allowlist_decides_who_may_post(client, sale, db, allowlist, address, status):
    offers.configure_network(sale.offer.network, allowlist, "10000")
    db.session.commit()
    response = postback(client, sale, environ={"REMOTE_ADDR": address})
    assert response.status_code == status
    assert conversion_count(db) == (1 if status == 200 else 0)


def test_ip_outside_the_allowlist_is_logged_with_its_reason(client, sale, db):
    offers.configure_network(sale.offer.network, "203.0.113.0/24", "10000")
    db.session.commit()
    postback(client, sale, environ={"REMOTE_ADDR": "198.51.100.7"})
    assert log_lines(db) == [("rejected", "ip_not_allowed", 403)]


# --- the status machine and its money --------------------------------------------------------------------


def test_pending_conversion_is_not_in_the_ledger(client, sale, db):
    assert postback(client, sale, status="pending").status_code == 200
    assert only_conversion(db).status == "pending"
    assert entries(db, sale.partner) == []


def test_pending_then_confirmed_credits_the_offer_share_once(client, sale, db):
    postback(client, sale, status="pending")
    response = postback(client, sale, status="confirmed")
    assert response.get_json()["reason"] == "pending_to_confirmed"
    assert entries(db, sale.partner) == [("conversion_share", 400)]
    assert [line[:2] for line in log_lines(db)] == [
        ("accepted", "created"),
        ("accepted", "pending_to_confirmed"),
    ]


def test_asset_percent_beats_the_offer_percent(client, sale, db):
    sale.asset.revshare_bps = 6000
    db.session.commit()
    postback(client, sale)
    assert entries(db, sale.partner) == [("conversion_share", 600)]


@pytest.mark.parametrize(
    ("amount", "percent", "expected_cents"),
    [
        ("0.05", "50", 3),  # 2.5 cents -> 3
        ("0.07", "50", 4),  # 3.5 cents -> 4
        ("0.03", "50", 2),  # 1.5 cents -> 2
        ("10.005", "50", 501),  # 10.005 EUR -> 1001 cents; half of it is 500.5 -> 501
        ("0.01", "40", 0),  # 0.4 cents -> nothing to write
    ],
)
def test_share_rounds_half_up_to_the_cent(
    client, db, make_partner, make_asset, make_offer, amount, percent, expected_cents
):
    offer = make_offer("Half", revshare_pct=percent)
    partner, asset = make_partner(), make_asset(offer=offer)
    click = make_click(db, partner, asset, offer)
    response = postback(client, SimpleNamespace(subid=f"{partner.id}:{asset.id}:{click.id}"), amount=amount)
    assert response.status_code == 200
    assert balance(db, partner) == expected_cents


@pytest.mark.parametrize("status", ["pending", "confirmed", "reversed", "rejected"])
def test_replays_answer_200_and_change_nothing(client, sale, db, status):
    postback(client, sale, status="confirmed" if status == "reversed" else "pending")
    postback(client, sale, status=status)
    before = (entries(db, sale.partner), only_conversion(db).status, only_conversion(db).updated_at)
    responses = [postback(client, sale, status=status) for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert {r.get_json()["outcome"] for r in responses} == {"duplicate"}
    after = (entries(db, sale.partner), only_conversion(db).status, only_conversion(db).updated_at)
    assert after == before
    assert conversion_count(db) == 1


def test_confirmed_then_reversed_leaves_a_negative_entry(client, sale, db):
    postback(client, sale, status="confirmed")
    response = postback(client, sale, status="reversed")
    assert response.get_json()["reason"] == "confirmed_to_reversed"
    assert entries(db, sale.partner) == [("conversion_share", 400), ("reversal", -400)]
    assert only_conversion(db).status == "reversed"


def test_reversal_after_payout_leaves_a_negative_balance_that_later_earnings_absorb(
    client, sale, db, make_asset
):
    postback(client, sale, txn_id="T1")
    ledger.record_entry(sale.partner.id, "withdrawal", -400, "test:payout:1", memo="paid out")
    db.session.commit()
    postback(client, sale, txn_id="T1", status="reversed")
    assert balance(db, sale.partner) == -400
    other_asset = make_asset(offer=sale.offer)
    click = make_click(db, sale.partner, other_asset, sale.offer)
    postback(
        client,
        SimpleNamespace(subid=f"{sale.partner.id}:{other_asset.id}:{click.id}"),
        txn_id="T2",
        amount="25",
    )
    assert balance(db, sale.partner) == 600  # 1000 earned - 400 already paid and taken back


@pytest.mark.parametrize(
    ("first", "then"),
    [("confirmed", "pending"), ("reversed", "confirmed"), ("rejected", "confirmed"), ("reversed", "pending")],
)
def test_stale_status_is_ignored_and_logged(client, sale, db, first, then):
    if first == "reversed":
        postback(client, sale, status="confirmed")
    elif first == "rejected":
        postback(client, sale, status="pending")
    postback(client, sale, status=first)
    before = entries(db, sale.partner)
    response = postback(client, sale, status=then)
    assert response.status_code == 200
    assert response.get_json() == {"ok": True, "outcome": "ignored", "reason": "stale_status"}
    assert only_conversion(db).status == first
    assert entries(db, sale.partner) == before
    assert log_lines(db)[-1] == ("ignored", "stale_status", 200)


@pytest.mark.parametrize(
    ("reported", "stored"),
    [("approved", "confirmed"), ("APPROVED", "confirmed"), ("on-hold", "pending"), ("declined", "rejected")],
)
def test_status_aliases_are_normalised(client, sale, db, reported, stored):
    postback(client, sale, status=reported)
    assert only_conversion(db).status == stored


def test_empty_status_means_confirmed(client, sale, db):
    postback(client, sale, status="")
    assert only_conversion(db).status == "confirmed"
    assert balance(db, sale.partner) == 400


def test_cancelled_before_confirmation_rejects_without_money(client, sale, db):
    postback(client, sale, status="pending")
    response = postback(client, sale, status="cancelled")
    assert response.get_json()["reason"] == "pending_to_rejected"
    assert entries(db, sale.partner) == []


def test_confirmed_amount_replaces_the_pending_amount(client, sale, db):
    postback(client, sale, status="pending", amount="10")
    postback(client, sale, status="confirmed", amount="12.50")
    assert only_conversion(db).amount_eur_cents == 1250
    assert balance(db, sale.partner) == 500


# --- currencies ------------------------------------------------------------------------------------------


def test_currency_with_a_rate_converts_and_records_the_rate(client, sale, db):
    fx.set_rate("USD", "0.9")
    db.session.commit()
    postback(client, sale, amount="10.01", currency="usd")
    conversion = only_conversion(db)
    assert (conversion.currency, conversion.amount_minor, conversion.fx_rate) == ("USD", 1001, "0.9")
    assert conversion.amount_eur_cents == 901  # 9.009 EUR, half-up
    assert balance(db, sale.partner) == 360  # 40 % of 901 = 360.4


def test_currency_without_a_rate_is_stored_for_review(client, sale, db):
    response = postback(client, sale, currency="GBP")
    assert response.status_code == 200
    assert response.get_json() == {"ok": True, "outcome": "review", "reason": "no_rate"}
    conversion = only_conversion(db)
    assert (conversion.needs_review, conversion.amount_eur_cents, conversion.amount_minor) == (
        True,
        None,
        1000,
    )
    assert balance(db, sale.partner) == 0


def test_amount_is_kept_in_the_currency_minor_units(client, sale, db):
    fx.set_rate("JPY", "0.0062")
    db.session.commit()
    postback(client, sale, amount="1500", currency="JPY")
    conversion = only_conversion(db)
    assert (conversion.amount_minor, conversion.amount_eur_cents) == (1500, 930)


# --- attribution -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subid", "reason"),
    [
        ("", "unknown_click"),
        ("not-a-subid", "unknown_click"),
        ("p:a:nosuchclick", "unknown_click"),
        ("x" * 65, "subid_too_long"),
    ],
)
def test_subid_naming_no_known_click_is_stored_for_review(client, sale, db, subid, reason):
    response = postback(client, sale, subid=subid)
    assert response.status_code == 200
    assert response.get_json()["outcome"] == "review"
    conversion = only_conversion(db)
    assert (conversion.needs_review, conversion.review_reason, conversion.partner_id) == (True, reason, None)
    assert conversion.subid == subid[:64]
    assert balance(db, sale.partner) == 0


def test_subid_whose_partner_does_not_match_the_click_is_stored_for_review(client, sale, db, make_partner):
    other = make_partner()
    postback(client, sale, subid=f"{other.id}:{sale.asset.id}:{sale.click.id}")
    assert only_conversion(db).review_reason == "click_mismatch"
    assert balance(db, sale.partner) == balance(db, other) == 0


def test_unknown_click_and_missing_rate_are_both_named(client, sale, db):
    postback(client, sale, subid="", currency="CHF")
    assert only_conversion(db).review_reason == "unknown_click,no_rate"


def test_review_conversion_confirmed_later_credits_nothing_yet(client, sale, db):
    postback(client, sale, subid="", status="pending")
    response = postback(client, sale, subid="", status="confirmed")
    assert response.get_json() == {"ok": True, "outcome": "review", "reason": "pending_to_confirmed"}
    assert only_conversion(db).status == "confirmed"
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry)) == 0


# --- bad input -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"txn_id": None}, "missing_txn_id"),
        ({"txn_id": "  "}, "missing_txn_id"),
        ({"txn_id": "t" * 129}, "bad_txn_id"),
        ({"amount": None}, "bad_amount"),
        ({"amount": "abc"}, "bad_amount"),
        ({"amount": "NaN"}, "bad_amount"),
        ({"amount": "Infinity"}, "bad_amount"),
        ({"amount": "1e3"}, "bad_amount"),
        ({"amount": "1_000"}, "bad_amount"),
        ({"amount": "١٢"}, "bad_amount"),
        ({"amount": "-1"}, "negative_amount"),
        ({"amount": "10000.01"}, "absurd_amount"),  # over the default cap of 10,000 EUR
        ({"currency": "EURO"}, "bad_currency"),
        ({"currency": "€"}, "bad_currency"),
        ({"status": "maybe"}, "unknown_status"),
    ],
)
def test_bad_input_answers_400_and_writes_only_the_log(client, sale, db, fields, reason):
    response = postback(client, sale, **fields)
    assert response.status_code == 400
    assert response.get_json()["error"] == reason
    assert conversion_count(db) == 0
    assert balance(db, sale.partner) == 0
    assert log_lines(db) == [("rejected", reason, 400)]


def test_amount_over_the_network_cap_in_euros_is_absurd(client, sale, db):
    offers.configure_network(sale.offer.network, "", "50")
    fx.set_rate("USD", "0.5")
    db.session.commit()
    assert postback(client, sale, amount="100", currency="USD", txn_id="ok").status_code == 200
    assert postback(client, sale, amount="100.02", currency="USD", txn_id="no").status_code == 400


def test_bad_input_is_only_reported_to_an_authenticated_network(client, sale, db):
    response = postback(client, sale, token="wrong-wrong-wrong", amount="abc")
    assert response.status_code == 403


@pytest.mark.parametrize("body", [b"[1, 2]", b"{not json", b'{"amount": true}', b'{"amount": {"x": 1}}'])
def test_json_body_that_is_not_an_object_of_strings_and_numbers_answers_400(client, sale, db, body):
    response = client.post("/aff/postback", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_body"
    assert log_lines(db) == [("rejected", "bad_body", 400)]


def test_log_never_keeps_the_token_or_the_signature(client, sale, db):
    postback(client, sale, headers={"X-Signature": "sha256=abcdef"})
    postback(client, sale, token="wrong-wrong-wrong")
    for line in db.session.scalars(select(PostbackLog)):
        stored = json.dumps(line.params)
        assert SECRET not in stored and "wrong-wrong" not in stored and "abcdef" not in stored
        assert line.params["amount"] == "10.00"
        assert line.ip_hash and "127.0.0.1" not in line.ip_hash

"""The postback fast path (one statement on the driver) against the ORM path on the same inputs, and the
process's snapshots of networks and rates: a change is honoured at its commit whatever the snapshot."""

from __future__ import annotations

from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select, text

from contentflow.models import Conversion, LedgerEntry, PostbackLog
from contentflow.services import fx, offers, postback_fast, postbacks
from contentflow.services.postback_cache import snapshots_of
from tests.conftest import DATABASE_URL
from tests.core.test_postbacks import SECRET, make_click, sign

pytestmark = pytest.mark.skipif(
    not DATABASE_URL.startswith("postgresql"), reason="the fast path is PostgreSQL's"
)


@pytest.fixture
def paths(app, monkeypatch):
    """Counts which path answered each postback; ``paths.orm_only()`` turns the fast path off."""
    counts = SimpleNamespace(orm=0)
    original = postbacks.receive

    def counted(attempt):
        counts.orm += 1
        return original(attempt)

    monkeypatch.setattr(postbacks, "receive", counted)
    counts.orm_only = lambda: monkeypatch.setitem(app.config, "POSTBACK_FAST_PATH", False)
    counts.fast_too = lambda: monkeypatch.setitem(app.config, "POSTBACK_FAST_PATH", True)
    return counts


@pytest.fixture
def shop(db, make_partner, make_asset, make_offer):
    """A 40 % offer with two assets (the second with its own 55 %) and a click on each."""
    offer = make_offer(revshare_pct="40")
    partner = make_partner()
    plain, byop = make_asset(offer=offer), make_asset(offer=offer)
    byop.revshare_bps = 5500
    db.session.commit()
    clicks = [make_click(db, partner, asset, offer) for asset in (plain, byop)]
    fx.set_rate("USD", "0.9137")
    fx.set_rate("KWD", "3.0123")
    fx.set_rate("JPY", "0.0062")
    db.session.commit()
    return SimpleNamespace(
        partner=partner, offer=offer, subids=[f"{partner.id}:{c.asset_id}:{c.id}" for c in clicks]
    )


def send(client, **fields):
    values = {"network": "acme", "token": SECRET, "status": "confirmed", **fields}
    return client.get("/aff/postback?" + urlencode(values))


def conversion_facts(db, txn_id: str) -> dict:
    conversion = db.session.scalars(select(Conversion).where(Conversion.txn_id == txn_id)).one()
    facts = {
        column: getattr(conversion, column)
        for column in ("subid", "click_id", "partner_id", "asset_id", "offer_id", "status", "amount_minor")
        + ("currency", "amount_eur_cents", "fx_rate", "needs_review", "review_reason", "network_id")
    }
    entries = db.session.execute(
        select(LedgerEntry.partner_id, LedgerEntry.kind, LedgerEntry.amount_cents, LedgerEntry.memo)
        .where(LedgerEntry.conversion_id == conversion.id)
        .order_by(LedgerEntry.id)
    )
    facts["ledger"] = [(p, k, a, m.replace(txn_id, "<txn>")) for p, k, a, m in entries]
    keys = db.session.scalars(
        select(LedgerEntry.idempotency_key).where(LedgerEntry.conversion_id == conversion.id)
    )
    facts["keys"] = [key.replace(str(conversion.id), "<id>") for key in keys]
    return facts


def log_facts(db, txn_id: str) -> list[tuple]:
    lines = db.session.scalars(
        select(PostbackLog).where(PostbackLog.txn_id == txn_id).order_by(PostbackLog.id)
    )
    return [
        (
            line.network_name,
            line.network_id,
            line.outcome,
            line.reason,
            line.http_status,
            {k: v for k, v in line.params.items() if k != "txn_id"},
            line.ip_hash,
            line.conversion_id is not None,
        )
        for line in lines
    ]


CASES = {
    "eur, offer share": {"amount": "10.00"},
    "eur, half a cent": {"amount": "10.005"},
    "eur, share rounds to 0": {"amount": "0.01"},
    "usd at a stored rate": {"amount": "12.345", "currency": "usd"},
    "kwd, 3 decimals": {"amount": "1.2345", "currency": "KWD"},
    "jpy, no decimals": {"amount": "1500.5", "currency": "JPY"},
    "asset's own share": {"amount": "33.33", "asset": 1},
    "pending": {"amount": "10.00", "status": "pending"},
    "reversed before confirmed": {"amount": "10.00", "status": "reversed"},
    "alias, spaces": {"amount": " 7.77 ", "status": "Approved"},
    "signed by the header": {"amount": "5.55", "signed": True},
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_fast_path_writes_what_the_orm_path_writes(client, db, shop, paths, case):
    case = dict(case)
    subid = shop.subids[case.pop("asset", 0)]
    signed = case.pop("signed", False)
    replies = {}
    for path, txn_id in (("orm", "T-orm"), ("fast", "T-fast")):
        (paths.orm_only if path == "orm" else paths.fast_too)()
        before = paths.orm
        fields = {"network": "acme", "status": "confirmed", "subid": subid, "txn_id": txn_id, **case}
        if signed:
            query = urlencode(fields)
            responses = [
                client.get("/aff/postback?" + query, headers={"X-Signature": sign(query.encode())})
                for _ in range(2)
            ]
        else:
            responses = [send(client, **fields) for _ in range(2)]  # the sale, then its replay
        replies[path] = [(r.status_code, r.get_data()) for r in responses]
        if path == "fast":
            assert paths.orm == before, "the common case took the ORM path"
    assert replies["fast"] == replies["orm"]
    assert [status for status, _ in replies["fast"]] == [200, 200]
    assert conversion_facts(db, "T-fast") == conversion_facts(db, "T-orm")
    assert log_facts(db, "T-fast") == log_facts(db, "T-orm")


def test_fast_path_reply_is_byte_for_byte_the_views(client, db, shop, paths):
    response = send(client, subid=shop.subids[0], txn_id="T1", amount="1")
    assert response.get_data() == b'{"ok":true,"outcome":"accepted","reason":"created"}\n'
    assert response.mimetype == "application/json"
    assert paths.orm == 0


@pytest.mark.parametrize(
    ("fields", "outcome"),
    [
        ({"subid": "nope"}, ("review", "unknown_click")),
        ({"subid": "a:b:c"}, ("review", "unknown_click")),
        ({"currency": "GBP"}, ("review", "no_rate")),
    ],
)
def test_uncommon_cases_take_the_orm_path(client, db, shop, paths, fields, outcome):
    response = send(client, **{"subid": shop.subids[0], "txn_id": "T1", "amount": "3", **fields})
    assert (response.get_json()["outcome"], response.get_json()["reason"]) == outcome
    assert paths.orm == 1


def test_status_change_takes_the_orm_path_after_the_fast_insert(client, db, shop, paths):
    send(client, subid=shop.subids[0], txn_id="T1", amount="10", status="pending")
    assert paths.orm == 0
    response = send(client, subid=shop.subids[0], txn_id="T1", amount="10", status="confirmed")
    assert response.get_json() == {"ok": True, "outcome": "accepted", "reason": "pending_to_confirmed"}
    assert paths.orm == 1
    assert db.session.scalar(select(func.sum(LedgerEntry.amount_cents))) == 400


def test_mismatched_click_writes_nothing_on_the_fast_path(client, db, shop, make_partner, paths):
    other = make_partner()
    _, asset_id, click_id = shop.subids[0].split(":")
    send(client, subid=f"{other.id}:{asset_id}:{click_id}", txn_id="T1", amount="10")
    conversion = db.session.scalars(select(Conversion)).one()
    assert (conversion.review_reason, conversion.partner_id) == ("click_mismatch", None)
    assert db.session.scalar(select(func.count()).select_from(PostbackLog)) == 1
    assert paths.orm == 1


# --- snapshots: a change is honoured from its commit on ----------------------------------------------


def test_rotated_secret_is_accepted_at_once_with_a_warm_snapshot(client, db, shop, paths):
    assert send(client, subid=shop.subids[0], txn_id="T1", amount="1").status_code == 200
    new_secret = offers.rotate_network_secret(shop.offer.network)
    db.session.commit()
    response = send(client, subid=shop.subids[0], txn_id="T2", amount="1", token=new_secret)
    assert response.get_json()["outcome"] == "accepted"
    # The old secret stays valid during the overlap, and the snapshot now holds both.
    assert send(client, subid=shop.subids[0], txn_id="T3", amount="1").get_json()["outcome"] == "accepted"
    orm_calls = paths.orm
    assert send(client, subid=shop.subids[0], txn_id="T4", amount="1", token=new_secret).status_code == 200
    assert paths.orm == orm_calls, "the snapshot was not read again after the rotation"


def test_switched_off_network_is_refused_at_once_with_a_warm_snapshot(client, db, shop):
    assert send(client, subid=shop.subids[0], txn_id="T1", amount="1").status_code == 200
    offers.set_network_active(shop.offer.network, False)
    db.session.commit()
    response = send(client, subid=shop.subids[0], txn_id="T2", amount="1")
    assert response.status_code == 403
    assert db.session.scalar(select(func.count()).select_from(Conversion)) == 1
    assert db.session.scalars(select(PostbackLog.reason).order_by(PostbackLog.id.desc())).first() == (
        "network_inactive"
    )


def test_lowered_cap_is_applied_at_once_with_a_warm_snapshot(client, db, shop):
    assert send(client, subid=shop.subids[0], txn_id="T1", amount="100").status_code == 200
    offers.configure_network(shop.offer.network, "", "50")
    db.session.commit()
    response = send(client, subid=shop.subids[0], txn_id="T2", amount="100")
    assert (response.status_code, response.get_json()["error"]) == (400, "absurd_amount")


def test_allowlist_is_applied_at_once_with_a_warm_snapshot(client, db, shop):
    assert send(client, subid=shop.subids[0], txn_id="T1", amount="1").status_code == 200
    offers.configure_network(shop.offer.network, "203.0.113.0/24", "10000")
    db.session.commit()
    assert send(client, subid=shop.subids[0], txn_id="T2", amount="1").status_code == 403


def test_new_rate_is_used_at_once_with_a_warm_snapshot(client, db, shop, paths):
    send(client, subid=shop.subids[0], txn_id="T1", amount="10", currency="USD")
    fx.set_rate("USD", "0.5")
    db.session.commit()
    send(client, subid=shop.subids[0], txn_id="T2", amount="10", currency="USD")
    rates = dict(db.session.execute(select(Conversion.txn_id, Conversion.fx_rate)).all())
    assert rates == {"T1": "0.9137", "T2": "0.5"}
    assert (
        db.session.scalars(select(Conversion.amount_eur_cents).where(Conversion.txn_id == "T2")).one() == 500
    )


def test_stale_snapshot_makes_the_statement_write_nothing(app, db, shop, monkeypatch):
    """Whatever changed the row (another process, SQL by hand), the statement sees a new version, writes
    nothing, and the postback is tried again on a snapshot read afresh."""
    tries = []
    original = postback_fast._try
    monkeypatch.setattr(postback_fast, "_try", lambda *args: tries.append(original(*args)) or tries[-1])
    attempt = postbacks.Attempt(
        {"network": "acme", "token": SECRET, "subid": shop.subids[0], "txn_id": "T1", "amount": "1"},
        "",
        b"",
        "127.0.0.1",
    )
    with app.test_request_context():
        assert snapshots_of(app).network("acme") is not None
        db.session.execute(
            text("UPDATE networks SET max_amount_cents = max_amount_cents WHERE name = 'acme'")
        )
        outcome = postback_fast.receive(attempt)
    assert tries[0] == postback_fast.STALE
    assert outcome is not None and outcome.outcome == "accepted"
    assert db.session.scalar(select(func.count()).select_from(Conversion)) == 1
    assert db.session.scalar(select(func.count()).select_from(PostbackLog)) == 1


def test_snapshot_of_a_network_decrypts_its_secrets_once(app, db, shop, monkeypatch):
    from contentflow.services import postback_cache

    reads = []
    original = postback_cache.read_network
    monkeypatch.setattr(postback_cache, "read_network", lambda name: reads.append(name) or original(name))
    snapshots_of(app).forget("acme", "EUR")
    with app.test_request_context():
        for number in range(3):
            assert postback_fast.receive(
                postbacks.Attempt(
                    {
                        "network": "acme",
                        "token": SECRET,
                        "subid": shop.subids[0],
                        "txn_id": f"T{number}",
                        "amount": "1",
                    },
                    "",
                    b"",
                    "127.0.0.1",
                )
            )
    assert reads == ["acme"]

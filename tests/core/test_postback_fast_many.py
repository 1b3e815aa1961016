"""The fast path's set-based statement (``postback_fast.WRITE_MANY``: a whole group-commit batch in one
statement) against its single statement (``WRITE``) run once per postback, in the same order, in one
transaction: the same rows, outcomes, conversions, ledger and log lines, replays inside one batch
included. (Through the group commit, with a failing batch: ``tests/integration/
test_postback_group_commit.py``.)"""

from __future__ import annotations

import json
import random
from types import SimpleNamespace

import pytest
from flask import current_app

from contentflow.services import fx, postback_cache, postback_fast, postbacks
from contentflow.services.postback_cache import read_network, read_rate, snapshots_of
from tests.conftest import DATABASE_URL
from tests.core.test_postbacks import SECRET, make_click

pytestmark = pytest.mark.skipif(
    not DATABASE_URL.startswith("postgresql"), reason="the fast path is PostgreSQL's"
)


@pytest.fixture
def shop(db, make_partner, make_asset, make_offer):
    """A 40 % offer with two assets (the second with its own 55 %), a click on each, and rates."""
    offer = make_offer(revshare_pct="40")
    partner, other = make_partner(), make_partner()
    plain, byop = make_asset(offer=offer), make_asset(offer=offer)
    byop.revshare_bps = 5500
    db.session.commit()
    clicks = [make_click(db, partner, asset, offer) for asset in (plain, byop)]
    fx.set_rate("USD", "0.9137")
    fx.set_rate("KWD", "3.0123")
    db.session.commit()
    return SimpleNamespace(
        subids=[f"{partner.id}:{click.asset_id}:{click.id}" for click in clicks],
        stranger=f"{other.id}:{clicks[0].asset_id}:{clicks[0].id}",
        unknown=f"{partner.id}:{clicks[0].asset_id}:nosuchclick",
    )


@pytest.fixture
def driver(app, db, monkeypatch):
    """The test transaction's psycopg connection, in an app context (the parameters read snapshots,
    fresh ones: an earlier test's rows were rolled back)."""
    monkeypatch.setitem(app.extensions, postback_cache.EXTENSION_KEY, postback_cache.Snapshots())
    with app.test_request_context():
        yield db.session.connection().connection.driver_connection


def params(subid: str, txn_id: str, amount: str = "10.00", status: str = "confirmed", currency: str = "EUR"):
    """``WRITE``'s parameters for a postback, made as the fast path makes them."""
    fields = {"network": "acme", "token": SECRET, "subid": subid, "txn_id": txn_id, "amount": amount}
    fields |= {"status": status, "currency": currency}
    attempt = postbacks.Attempt(fields, "", b"", "127.0.0.1")
    network = read_network("acme")
    rate = snapshots_of(current_app).rate(currency)
    sale = postbacks.parse_sale(fields, network, rate_of=lambda _: rate.rate)
    return postback_fast.write_params(attempt, network, sale, rate, postbacks.parse_subid(subid))


def stale(values: dict, **version: str) -> dict:
    return {**values, **version}


def one_by_one(driver, batch: list[dict]) -> list[tuple]:
    return [driver.execute(postback_fast.WRITE, values).fetchone() for values in batch]


def as_one(driver, batch: list[dict]) -> list[tuple]:
    return driver.execute(postback_fast.WRITE_MANY, {"batch": json.dumps(batch)}).fetchall()


def state(driver, rows: list[tuple]) -> dict:
    """What a run wrote and answered, conversions named by their txn_id (ids differ between runs)."""
    txn_of = dict(driver.execute("SELECT id, txn_id FROM conversions").fetchall())
    conversions = driver.execute(
        "SELECT network_id, txn_id, subid, click_id, partner_id, asset_id, offer_id, status, amount_minor,"
        " currency, amount_eur_cents, fx_rate, needs_review, review_reason FROM conversions"
    ).fetchall()
    ledger = [
        (partner_id, kind, cents, key.replace(str(conversion_id), txn_of[conversion_id]), memo)
        for partner_id, kind, cents, key, conversion_id, memo in driver.execute(
            "SELECT partner_id, kind, amount_cents, idempotency_key, conversion_id, memo FROM ledger_entries"
        )
    ]
    log = [
        (*row[:3], txn_of.get(row[3]), *row[4:])
        for row in driver.execute(
            "SELECT network_name, network_id, txn_id, conversion_id, outcome, reason, http_status,"
            " params::text, ip_hash FROM postback_log ORDER BY id"
        )
    ]
    return {
        "rows": [(is_fresh, txn_of.get(conversion_id), outcome) for is_fresh, conversion_id, outcome in rows],
        "conversions": sorted(conversions),
        "ledger": sorted(ledger),
        "log": log,
    }


def both_ways(driver, batch: list[dict]) -> tuple[dict, dict]:
    """The state after ``WRITE`` once per postback, then (that undone) after ``WRITE_MANY``."""
    driver.execute("SAVEPOINT one_by_one")
    single = state(driver, one_by_one(driver, batch))
    driver.execute("ROLLBACK TO SAVEPOINT one_by_one")
    return single, state(driver, as_one(driver, batch))


def mixed_batch(shop) -> list[dict]:
    """Every case the fast path meets, replays of one another and of an earlier sale among them."""
    plain, byop = shop.subids
    usd = params(plain, "T-usd", "12.345", currency="USD")
    return [
        params(plain, "T-eur"),
        params(plain, "T-half", "10.005"),
        params(plain, "T-zero", "0.01"),  # a share that rounds to 0: no ledger entry
        usd,
        params(plain, "T-kwd", "1.2345", currency="KWD"),
        params(byop, "T-byop", "33.33"),
        params(plain, "T-pending", status="pending"),
        params(plain, "T-reversed", status="reversed"),
        params(plain, "T-eur"),  # a replay racing its original in the batch
        params(plain, "T-pending", status="pending"),  # and another, later on
        params(plain, "T-pending", status="confirmed"),  # a status change: left to the ORM path
        params(shop.unknown, "T-late"),  # no such click: left to the ORM path...
        params(plain, "T-late"),  # ...so this one makes the conversion...
        params(shop.unknown, "T-late"),  # ...of which this is a replay
        params(shop.stranger, "T-stranger"),  # the click is someone else's
        stale(params(plain, "T-stale"), network_xmin="1"),  # the network changed since its snapshot
        stale(usd, txn_id="T-stale-rate", log_txn_id="T-stale-rate", rate_ctid="(0,0)"),
        params(plain, "T-before"),  # a replay of a sale committed before the batch
        params(plain, "T-before", status="reversed"),  # a status change of it
    ]


OUTCOMES = [
    (True, "T-eur", "accepted"),
    (True, "T-half", "accepted"),
    (True, "T-zero", "accepted"),
    (True, "T-usd", "accepted"),
    (True, "T-kwd", "accepted"),
    (True, "T-byop", "accepted"),
    (True, "T-pending", "accepted"),
    (True, "T-reversed", "accepted"),
    (True, "T-eur", "duplicate"),
    (True, "T-pending", "duplicate"),
    (True, None, None),
    (True, None, None),
    (True, "T-late", "accepted"),
    (True, "T-late", "duplicate"),
    (True, None, None),
    (False, None, None),
    (False, None, None),
    (True, "T-before", "duplicate"),
    (True, None, None),
]


def test_batch_in_one_statement_writes_and_answers_what_one_statement_each_does(driver, shop):
    one_by_one(driver, [params(shop.subids[0], "T-before")])
    batch = mixed_batch(shop)

    single, many = both_ways(driver, batch)

    assert many == single
    assert many["rows"] == OUTCOMES
    credited = {memo.removeprefix("sale "): cents for _, _, cents, _, memo in many["ledger"]}
    assert credited.keys() == {"T-before", "T-eur", "T-half", "T-usd", "T-kwd", "T-byop", "T-late"}
    assert (credited["T-eur"], credited["T-half"], credited["T-byop"]) == (400, 400, 1833)
    assert len(many["log"]) == 1 + sum(outcome is not None for _, _, outcome in OUTCOMES)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_batch_in_any_order_writes_and_answers_what_one_statement_each_does(driver, shop, seed):
    one_by_one(driver, [params(shop.subids[0], "T-before")])
    batch = mixed_batch(shop)
    random.Random(seed).shuffle(batch)

    single, many = both_ways(driver, batch)

    assert many == single


def test_replay_in_the_same_batch_is_the_duplicate_of_its_original(driver, shop):
    sale = params(shop.subids[0], "T-1", "12.34")

    rows = as_one(driver, [sale, sale, sale])

    assert [outcome for _, _, outcome in rows] == ["accepted", "duplicate", "duplicate"]
    assert len({conversion_id for _, conversion_id, _ in rows}) == 1
    written = state(driver, rows)
    assert [cents for _, _, cents, _, _ in written["ledger"]] == [494]
    assert [(line[4], line[5]) for line in written["log"]] == [
        ("accepted", "created"),
        ("duplicate", "replay"),
        ("duplicate", "replay"),
    ]


def test_status_change_in_the_same_batch_is_left_to_the_orm_path(driver, shop):
    rows = as_one(
        driver,
        [params(shop.subids[0], "T-1", status="pending"), params(shop.subids[0], "T-1", status="confirmed")],
    )

    assert [outcome for _, _, outcome in rows] == ["accepted", None]
    written = state(driver, rows)
    assert [conversion[7] for conversion in written["conversions"]] == ["pending"]
    assert written["ledger"] == []
    assert len(written["log"]) == 1


def test_replay_of_a_sale_whose_first_postback_names_no_click_makes_it_once(driver, shop):
    rows = as_one(
        driver,
        [
            params(shop.unknown, "T-1"),
            params(shop.subids[0], "T-1"),
            params(shop.subids[1], "T-1"),
        ],
    )

    assert [(row[0], row[2]) for row in rows] == [(True, None), (True, "accepted"), (True, "duplicate")]
    written = state(driver, rows)
    assert [conversion[2] for conversion in written["conversions"]] == [shop.subids[0]]
    assert [cents for _, _, cents, _, _ in written["ledger"]] == [400]


def test_stale_rate_writes_nothing_for_its_postback_only(driver, shop):
    usd = params(shop.subids[0], "T-usd", "10", currency="USD")
    rate = read_rate("USD")
    assert rate is not None

    rows = as_one(driver, [stale(usd, rate_xmin="1"), params(shop.subids[0], "T-eur")])

    assert [(row[0], row[2]) for row in rows] == [(False, None), (True, "accepted")]
    assert [conversion[1] for conversion in state(driver, rows)["conversions"]] == ["T-eur"]

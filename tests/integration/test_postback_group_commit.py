"""Postbacks through the group commit on PostgreSQL: many requests' statements committed together, each
answered its own outcome; exactly once under concurrency; a failed batch costs its other statements
nothing."""

from __future__ import annotations

import json
import threading
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from contentflow.models import Conversion, LedgerEntry, PostbackLog
from contentflow.services import postback_fast
from contentflow.services.group_commit import GroupCommit, GroupCommitFailed, _Item
from contentflow.services.postback_cache import NO_ROW
from tests.conftest import DATABASE_URL
from tests.integration.test_postback_concurrency import SECRET, make_sale, outcomes, totals

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not DATABASE_URL.startswith("postgresql"), reason="group commit is PostgreSQL's"),
]


@pytest.fixture
def grouped(make_app):
    """An app whose postbacks go through the group commit (the production default)."""
    app = make_app(POSTBACK_GROUP_COMMIT=True)
    yield app
    if postback_fast.WRITER_KEY in app.extensions:
        app.extensions[postback_fast.WRITER_KEY].close()


@pytest.fixture
def other_process(make_app):
    """A second app on the same database and Redis: another web process, with its own snapshots."""
    app = make_app(POSTBACK_GROUP_COMMIT=True)
    yield app
    if postback_fast.WRITER_KEY in app.extensions:
        app.extensions[postback_fast.WRITER_KEY].close()


@pytest.fixture
def writer(committed):
    """A group commit on the test database, driven by the test (no thread unless ``execute`` starts it)."""
    url = committed.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    group_commit = GroupCommit(url)
    yield group_commit
    group_commit.close()


def url(subid: str, txn_id: str, status: str = "confirmed", amount: str = "12.34") -> str:
    fields = {"network": "acme", "token": SECRET, "subid": subid, "amount": amount, "status": status}
    return "/aff/postback?" + urlencode({**fields, "txn_id": txn_id})


def send_together(app, urls: list[str]) -> list[dict]:
    """GET every URL from its own thread, released together; the JSON replies in the same order."""
    barrier = threading.Barrier(len(urls))
    replies: list[dict | None] = [None] * len(urls)
    errors: list[BaseException] = []

    def send(index: int) -> None:
        try:
            client = app.test_client()
            barrier.wait(timeout=30)
            response = client.get(urls[index])
            replies[index] = {"status": response.status_code, **response.get_json()}
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=send, args=(index,)) for index in range(len(urls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return replies


def test_same_postback_from_20_threads_credits_once_through_the_group_commit(grouped, committed):
    subid = make_sale(committed)
    replies = send_together(grouped, [url(subid, "T-1")] * 20)
    assert {reply["status"] for reply in replies} == {200}
    assert sorted(reply["outcome"] for reply in replies) == ["accepted"] + ["duplicate"] * 19
    assert totals(committed) == (1, 1, 494)
    assert outcomes(committed) == {"accepted": 1, "duplicate": 19}


def test_many_sales_and_their_replays_at_once_credit_each_once(grouped, committed):
    subid = make_sale(committed)
    amounts = {f"T-{n}": f"{n}.005" for n in range(1, 31)}
    urls = [url(subid, txn_id, amount=amount) for txn_id, amount in amounts.items()]
    urls += urls[::3]  # a replay of every third, racing its original
    replies = send_together(grouped, urls)
    assert {reply["status"] for reply in replies} == {200}
    # 40 % of each amount in cents (n.005 EUR -> n*100 + 1 cents), half-up
    expected = sum(int((n * 100 + 1) * 40 / 100 + 0.5) for n in range(1, 31))
    assert totals(committed) == (30, 30, expected)
    assert outcomes(committed) == {"accepted": 30, "duplicate": 10}


def test_confirmation_racing_its_pending_sale_is_applied_once(grouped, committed):
    subid = make_sale(committed)
    urls = [url(subid, "T-1", status="pending")] * 5 + [url(subid, "T-1", status="confirmed")] * 5
    replies = send_together(grouped, urls)
    assert {reply["status"] for reply in replies} == {200}
    assert totals(committed) == (1, 1, 494)
    conversion = committed.session.scalars(select(Conversion)).one()
    assert conversion.status == "confirmed"
    committed.session.close()


def test_postback_takes_the_orm_path_when_the_group_commit_fails(grouped, committed):
    grouped.extensions[postback_fast.WRITER_KEY] = GroupCommit("postgresql://nobody@127.0.0.1:1/none")
    subid = make_sale(committed)
    response = grouped.test_client().get(url(subid, "T-1"))
    assert response.get_json() == {"ok": True, "outcome": "accepted", "reason": "created"}
    assert totals(committed) == (1, 1, 494)


def test_change_committed_by_another_process_is_honoured_at_once(grouped, other_process, committed):
    from contentflow.extensions import db
    from contentflow.services import fx, offers

    subid = make_sale(committed)
    with other_process.app_context():
        fx.set_rate("USD", "0.9")
        db.session.commit()
    client = grouped.test_client()
    assert client.get(url(subid, "T-1") + "&currency=USD").get_json()["outcome"] == "accepted"  # warm
    with other_process.app_context():
        new_secret = offers.rotate_network_secret(offers.get_network_by_name("acme"))
        fx.set_rate("USD", "0.5")
        db.session.commit()
    rotated = url(subid, "T-2").replace(SECRET, new_secret) + "&currency=USD"
    assert client.get(rotated).get_json()["outcome"] == "accepted"
    rates = dict(committed.session.execute(select(Conversion.txn_id, Conversion.fx_rate)).all())
    assert rates == {"T-1": "0.9", "T-2": "0.5"}
    committed.session.close()
    with other_process.app_context():
        offers.set_network_active(offers.get_network_by_name("acme"), False)
        db.session.commit()
    assert client.get(url(subid, "T-3")).status_code == 403


# --- one batch ------------------------------------------------------------------------------------------


def write_item(
    committed, subid: str, txn_id: str, status: str = "confirmed", many: str | None = postback_fast.WRITE_MANY
) -> _Item:
    """The fast path's statement for one sale, with its set-based form as the fast path queues it
    (``many=None``: without, so that its batch goes as a pipeline)."""
    from contentflow.services.postback_cache import read_network

    network = read_network("acme")
    committed.session.close()
    partner_id, asset_id, click_id = subid.split(":")
    params = {
        "network_id": network.id,
        "network_xmin": network.version[0],
        "network_ctid": network.version[1],
        "currency": "EUR",
        "rate_xmin": NO_ROW[0],
        "rate_ctid": NO_ROW[1],
        "click_id": click_id,
        "partner_id": partner_id,
        "asset_id": asset_id,
        "txn_id": txn_id,
        "subid": subid,
        "status": status,
        "amount_minor": 1234,
        "amount_eur_cents": 1234,
        "fx_rate": "1",
        "log_network_name": "acme",
        "log_txn_id": txn_id,
        "log_params": json.dumps({"txn_id": txn_id}),
        "log_ip_hash": "0" * 32,
    }
    return _Item(postback_fast.WRITE, params, (network.id, txn_id), many)


SENT_AS = {"set-based": postback_fast.WRITE_MANY, "pipelined": None}


@pytest.mark.parametrize("many", SENT_AS.values(), ids=SENT_AS.keys())
def test_one_batch_answers_each_statement_and_a_bad_one_costs_the_others_nothing(writer, committed, many):
    subid = make_sale(committed)
    batch = [
        write_item(committed, subid, "T-2", many=many),
        write_item(committed, subid, "T-1", many=many),
        write_item(committed, subid, "T-1", many=many),  # its replay, in the same transaction
        write_item(committed, subid, "T-3", status="bogus", many=many),  # breaks a CHECK: the batch fails
    ]
    writer.commit_batch(batch)
    # Run in key order, so that two batches lock the same keys in the same order.
    assert [(item.params["txn_id"], item.row[2] if item.row else None) for item in batch] == [
        ("T-1", "accepted"),
        ("T-1", "duplicate"),
        ("T-2", "accepted"),
        ("T-3", None),
    ]
    assert batch[3].error is not None
    assert totals(committed) == (2, 2, 2 * 494)
    assert committed.session.scalar(select(func.count()).select_from(PostbackLog)) == 3
    committed.session.close()


def test_statement_that_fails_alone_raises_for_its_request_only(writer, committed):
    subid = make_sale(committed)
    bad = write_item(committed, subid, "T-1", status="bogus")
    with pytest.raises(GroupCommitFailed):
        writer.execute(bad.sql, bad.params, bad.sort_key)
    good = write_item(committed, subid, "T-1")
    assert writer.execute(good.sql, good.params, good.sort_key)[2] == "accepted"
    assert committed.session.scalar(select(func.count()).select_from(LedgerEntry)) == 1
    committed.session.close()


def test_batch_of_different_statements_is_committed_together(writer, committed):
    subid = make_sale(committed)
    batch = [write_item(committed, subid, "T-1"), _Item("SELECT 41 + 1", {}, ())]
    writer.commit_batch(batch)
    assert [item.row for item in batch][0] == (42,)
    assert batch[1].row[2] == "accepted"
    assert totals(committed) == (1, 1, 494)


def test_batch_goes_as_one_statement_and_each_gets_its_own_row(writer, committed):
    subid = make_sale(committed)
    batch = [write_item(committed, subid, txn_id) for txn_id in ("T-3", "T-1", "T-2", "T-1")]
    writer.commit_batch(batch)
    assert [(item.params["txn_id"], item.row[2]) for item in batch] == [
        ("T-1", "accepted"),
        ("T-1", "duplicate"),
        ("T-2", "accepted"),
        ("T-3", "accepted"),
    ]
    assert batch[0].row[1] == batch[1].row[1]
    # One statement: every row it wrote bears its one statement timestamp.
    stamps = committed.session.scalars(select(Conversion.created_at).distinct()).all()
    assert len(stamps) == 1
    assert totals(committed) == (3, 3, 3 * 494)
    assert outcomes(committed) == {"accepted": 3, "duplicate": 1}


def test_set_based_form_answering_other_rows_makes_each_statement_run_alone(writer, committed):
    subid = make_sale(committed)
    broken = "SELECT %(batch)s::json IS NOT NULL"  # one row for the whole batch
    batch = [write_item(committed, subid, txn_id, many=broken) for txn_id in ("T-1", "T-2")]
    writer.commit_batch(batch)
    assert [(item.row[2], item.error) for item in batch] == [("accepted", None), ("accepted", None)]
    assert totals(committed) == (2, 2, 2 * 494)

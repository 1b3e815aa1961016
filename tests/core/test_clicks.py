"""Click capture: what a visit records, which clicks are billable (one per IP, link and repeat window),
the flush from the stream into the database, the clicks stored when Redis does not answer, and the
client IP behind proxies. The capture machinery itself: ``test_click_capture.py``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from contentflow.jobs import CORE_JOBS, CORE_SCHEDULES
from contentflow.jobs.clicks import flush_clicks
from contentflow.models import Click
from contentflow.security import hash_ip
from contentflow.services import click_capture, clicks, links

DOWN_REDIS = "redis://127.0.0.1:1/0"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
BOTS = {
    "curl": "curl/8.5.0",
    "python-requests": "python-requests/2.32.3",
    "googlebot": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "facebook": "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "pinterest": "Mozilla/5.0 (compatible; Pinterestbot/1.0; +http://www.pinterest.com/bot.html)",
    "slack": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "whatsapp": "WhatsApp/2.23.20.0 A",
    "telegram": "TelegramBot (like TwitterBot)",
    "no user agent": "",
}


@pytest.fixture
def offer(make_offer):
    return make_offer(cpc_cents=12)


@pytest.fixture
def link(db, partner, make_asset, offer):
    link = links.get_or_create_link(partner.id, make_asset(offer=offer).id)
    db.session.commit()
    return link


@pytest.fixture
def down_client(make_app):
    """A client of an app whose Redis does not answer (nothing listens on port 1)."""
    return make_app(REDIS_URL=DOWN_REDIS).test_client()


def visit(
    client, link, method: str = "GET", user_agent: str = BROWSER, ip: str = "127.0.0.1", **headers: str
) -> str:
    """Follow ``link`` as a visitor would; returns the click id the redirect carries."""
    response = client.open(
        f"/l/{link.code}",
        method=method,
        headers={"User-Agent": user_agent, **headers},
        environ_base={"REMOTE_ADDR": ip},
    )
    assert response.status_code == 302
    return response.headers["Location"].rsplit(":", 1)[1]


def stored(db) -> list[Click]:
    return list(db.session.scalars(select(Click).order_by(Click.created_at)))


def reasons(db) -> list[str | None]:
    return [click.not_billable_reason for click in stored(db)]


# --- stream and flush -----------------------------------------------------------------------------------


def test_click_reaches_the_database_only_after_a_flush(client, db, partner, link, redis):
    click_id = visit(client, link)
    assert stored(db) == []
    assert redis.xlen(clicks.STREAM_KEY) == 1
    assert flush_clicks() == "flushed 1 clicks"
    [click] = stored(db)
    assert click.id == click_id
    assert (click.short_link_id, click.partner_id, click.asset_id) == (link.id, partner.id, link.asset_id)
    assert redis.xlen(clicks.STREAM_KEY) == 0


def test_click_stores_the_ip_only_as_a_keyed_hash(client, db, link):
    visit(client, link, Referer="https://social.example/post/1")
    flush_clicks()
    [click] = stored(db)
    assert click.ip_hash == hash_ip("127.0.0.1") != hash_ip("127.0.0.1", key="another key")
    assert click.visitor_hash == click.ip_hash  # the visitor who is billed once is the IP
    assert "127.0.0.1" not in repr([getattr(click, c.key) for c in Click.__table__.columns])
    assert (click.user_agent, click.referrer) == (BROWSER, "https://social.example/post/1")


def test_billable_click_keeps_the_offer_cpc_of_the_moment_it_was_made(client, db, link, offer):
    visit(client, link)
    offer.cpc_cents = 30  # a price change before the flush does not reprice the click
    db.session.commit()
    flush_clicks()
    [click] = stored(db)
    assert (click.is_billable, click.not_billable_reason, click.cpc_cents, click.offer_id) == (
        True,
        None,
        12,
        offer.id,
    )


def test_flush_with_an_empty_stream_does_nothing(db):
    assert flush_clicks() == "flushed 0 clicks"


def test_flush_in_batches_stores_every_click_once(make_app, db, link, redis):
    small_batches = make_app(CLICK_FLUSH_BATCH_SIZE=2)
    client = small_batches.test_client()
    ids = {visit(client, link, user_agent=f"{BROWSER} #{n}") for n in range(5)}
    with small_batches.app_context():
        assert flush_clicks() == "flushed 5 clicks"
    assert {click.id for click in stored(db)} == ids
    assert redis.xlen(clicks.STREAM_KEY) == 0


def test_large_batches_copied_on_postgresql_store_every_click_once(client, db, link, redis, monkeypatch):
    monkeypatch.setattr(clicks, "COPY_THRESHOLD", 2)  # the flush's COPY path, with a few clicks
    ids = {visit(client, link, user_agent=f"{BROWSER} #{n}") for n in range(5)}
    assert flush_clicks() == "flushed 5 clicks"
    rows = [{c.key: getattr(click, c.key) for c in Click.__table__.columns} for click in stored(db)]
    clicks.insert_clicks(rows)  # a re-flush of the same batch
    db.session.commit()
    assert sorted(click.id for click in stored(db)) == sorted(ids)


def test_large_batch_with_a_gone_partner_drops_only_that_click(
    client, db, link, make_partner, redis, monkeypatch
):
    monkeypatch.setattr(clicks, "COPY_THRESHOLD", 2)
    other = make_partner("gone@example.com")
    other_link = links.get_or_create_link(other.id, link.asset_id)
    db.session.commit()
    kept = {visit(client, link, user_agent=f"{BROWSER} #{n}") for n in range(3)}
    visit(client, other_link)
    db.session.delete(other)
    db.session.commit()
    assert flush_clicks() == "flushed 3 clicks (1 dropped)"
    assert {click.id for click in stored(db)} == kept


def test_inserting_a_flushed_click_again_changes_nothing(client, db, link):
    visit(client, link)
    flush_clicks()
    [click] = stored(db)
    row = {c.key: getattr(click, c.key) for c in Click.__table__.columns}
    clicks.insert_clicks([{**row, "user_agent": "changed"}])
    db.session.commit()
    db.session.expire_all()
    assert [(c.id, c.user_agent) for c in stored(db)] == [(click.id, BROWSER)]


def test_flush_drops_a_click_whose_partner_is_gone_and_stores_the_others(
    client, db, link, make_partner, make_asset, offer
):
    other = make_partner("gone@example.com")
    other_link = links.get_or_create_link(other.id, link.asset_id)
    db.session.commit()
    kept = visit(client, link)
    visit(client, other_link)
    db.session.delete(other)
    db.session.commit()
    assert flush_clicks() == "flushed 1 clicks (1 dropped)"
    assert [click.id for click in stored(db)] == [kept]


def test_flush_skips_a_malformed_entry_and_goes_on(client, db, link, redis):
    redis.xadd(clicks.STREAM_KEY, {"id": "broken"})
    click_id = visit(client, link)
    assert flush_clicks() == "flushed 1 clicks"
    assert [click.id for click in stored(db)] == [click_id]
    assert redis.xlen(clicks.STREAM_KEY) == 0


def test_flush_clicks_is_a_core_job_scheduled_every_five_seconds_on_periodic():
    [schedule] = [s for s in CORE_SCHEDULES if s.job is flush_clicks]
    assert (schedule.every, schedule.queue) == (timedelta(seconds=5), "periodic")
    assert flush_clicks in CORE_JOBS


def target_of(link) -> links.LinkTarget:
    return links.LinkTarget(link.id, link.code, link.partner_id, link.asset_id, 1, 12, "https://x/{subid}")


# --- what is billable: one click per IP, link and repeat window ----------------------------------------


def test_head_request_is_recorded_not_billable(client, db, link):
    visit(client, link, method="HEAD")
    flush_clicks()
    [click] = stored(db)
    assert (click.is_billable, click.not_billable_reason, click.cpc_cents, click.is_bot) == (
        False,
        "head",
        None,
        False,
    )


@pytest.mark.parametrize("user_agent", BOTS.values(), ids=BOTS.keys())
def test_bot_or_link_preview_is_redirected_and_recorded_not_billable(client, db, link, user_agent):
    visit(client, link, user_agent=user_agent)
    flush_clicks()
    [click] = stored(db)
    assert (click.is_bot, click.is_billable, click.not_billable_reason, click.cpc_cents) == (
        True,
        False,
        "bot",
        None,
    )


def test_second_visit_within_the_window_is_a_repeat(client, db, link):
    visit(client, link)
    visit(client, link)
    flush_clicks()
    assert reasons(db) == [None, "repeat"]
    assert [click.cpc_cents for click in stored(db)] == [12, None]


def test_rotating_user_agent_from_one_ip_bills_one_click(client, db, link):
    for n in range(5):
        visit(client, link, user_agent=f"{BROWSER} rotated/{n}")
    flush_clicks()
    assert reasons(db) == [None] + ["repeat"] * 4
    assert sum(click.cpc_cents or 0 for click in stored(db)) == 12


def test_two_ips_with_one_user_agent_bill_two_clicks(client, db, link):
    visit(client, link, ip="198.51.100.7")
    visit(client, link, ip="203.0.113.9")
    visit(client, link, ip="198.51.100.7")
    flush_clicks()
    assert reasons(db) == [None, None, "repeat"]


def test_visit_after_the_window_is_billable_again(client, db, link):
    visit(client, link)
    flush_clicks()
    [first] = stored(db)
    first.created_at -= timedelta(minutes=61)
    db.session.commit()
    visit(client, link)
    flush_clicks()
    assert reasons(db) == [None, None]


def test_window_runs_from_the_last_billable_click_not_the_last_repeat(client, db, link):
    for _ in range(3):
        visit(client, link)
    flush_clicks()
    billed, repeat, last = stored(db)
    billed.created_at -= timedelta(minutes=70)  # billed 70 minutes ago
    repeat.created_at -= timedelta(minutes=30)  # a repeat 30 minutes ago does not extend the window
    db.session.delete(last)
    db.session.commit()
    visit(client, link)
    flush_clicks()
    assert reasons(db) == [None, "repeat", None]


def test_repeat_is_decided_by_the_flush_across_batches(client, db, link):
    visit(client, link)
    flush_clicks()
    visit(client, link)
    flush_clicks()
    assert reasons(db) == [None, "repeat"]
    assert [click.cpc_cents for click in stored(db)] == [12, None]


def test_settle_repeats_bills_one_row_per_ip_and_link_in_a_window(app, db, link):
    at = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)

    def row(ip_hash: str, minutes: int, user_agent: str = BROWSER) -> dict:
        made_at = at + timedelta(minutes=minutes)
        made = clicks.Visit(clicks.new_click_id(), made_at, ip_hash, user_agent, "", False, "")
        return clicks.row_of(target_of(link), made, "")

    one, other = "a" * 32, "b" * 32
    rows = [row(one, 0), row(one, 59, "another"), row(other, 1), row(one, 60), row(one, 61)]
    clicks.settle_repeats(rows)
    assert [r["not_billable_reason"] for r in rows] == [None, "repeat", None, None, "repeat"]
    assert [r["cpc_cents"] for r in rows] == [12, None, 12, 12, None]


def test_same_visitor_on_another_link_is_not_a_repeat(client, db, link, make_asset, offer, partner):
    second = links.get_or_create_link(partner.id, make_asset(title="Second", offer=offer).id)
    db.session.commit()
    visit(client, link)
    visit(client, second)
    flush_clicks()
    assert reasons(db) == [None, None]


def test_head_or_bot_visit_does_not_use_up_the_visitors_billable_click(client, db, link):
    visit(client, link, method="HEAD")
    visit(client, link)
    flush_clicks()
    assert reasons(db) == ["head", None]


def test_repeat_window_of_zero_bills_every_visit(make_app, db, link):
    app = make_app(CLICK_REPEAT_WINDOW_MINUTES=0)
    client = app.test_client()
    visit(client, link)
    visit(client, link)
    with app.app_context():
        flush_clicks()
    assert reasons(db) == [None, None]


# --- Redis unreachable: each click stored in its request (tests; production buffers them) ---------


def test_click_is_inserted_at_once_when_redis_is_unreachable(down_client, db, link):
    click_id = visit(down_client, link)
    [click] = stored(db)
    assert (click.id, click.is_billable, click.cpc_cents) == (click_id, True, 12)


def test_repeat_is_found_in_the_database_when_redis_is_unreachable(down_client, db, link):
    visit(down_client, link)
    visit(down_client, link)
    assert reasons(db) == [None, "repeat"]


def test_rotating_user_agent_bills_one_click_when_redis_is_unreachable(down_client, db, link):
    for n in range(3):
        visit(down_client, link, user_agent=f"{BROWSER} rotated/{n}")
    visit(down_client, link, ip="203.0.113.9")
    assert sorted(reasons(db), key=str) == [None, None, "repeat", "repeat"]
    assert sum(click.cpc_cents or 0 for click in stored(db)) == 24


def test_visit_after_the_window_is_billable_again_when_redis_is_unreachable(down_client, db, link):
    visit(down_client, link)
    [first] = stored(db)
    first.created_at -= timedelta(minutes=61)
    db.session.commit()
    visit(down_client, link)
    assert reasons(db) == [None, None]


def test_visitor_billed_through_the_stream_before_an_outage_is_not_billed_again_during_it(
    client, down_client, db, link
):
    visit(client, link)  # billable, waiting in the stream when Redis goes down
    visit(down_client, link)  # Redis down: inserted at once, and the database has not seen the first one
    flush_clicks()  # Redis is back: the first one is flushed
    assert sorted(reasons(db), key=str) == [None, "repeat"]
    assert sum(click.cpc_cents or 0 for click in stored(db)) == 12


def test_visitor_billed_during_an_outage_is_not_billed_again_once_redis_is_back(
    client, down_client, db, link
):
    visit(down_client, link)  # Redis down: inserted at once, billable
    visit(client, link)  # Redis back, and it never saw this visitor: its claim says billable
    flush_clicks()
    assert reasons(db) == [None, "repeat"]


@pytest.mark.parametrize(("method", "agent", "reason"), [("HEAD", BROWSER, "head"), ("GET", "curl/8", "bot")])
def test_head_and_bot_are_not_billable_when_redis_is_unreachable(
    down_client, db, link, method, agent, reason
):
    visit(down_client, link, method=method, user_agent=agent)
    assert reasons(db) == [reason]


def test_redis_outage_is_logged_once_per_interval_not_per_click(down_client, db, link, caplog, monkeypatch):
    monkeypatch.setattr(click_capture._FallbackLog, "last_at", float("-inf"))
    monkeypatch.setattr(click_capture._FallbackLog, "count", 0)
    for _ in range(3):
        visit(down_client, link)
    [record] = [r for r in caplog.records if r.name == click_capture.__name__]
    assert record.levelname == "WARNING"
    assert (
        "redis unavailable (ConnectionError): 1 click(s) sent to the database instead" in record.getMessage()
    )
    assert len(stored(db)) == 3


# --- the client IP behind proxies -----------------------------------------------------------------------


@pytest.mark.parametrize(("hops", "seen_ip"), [(0, "127.0.0.1"), (1, "198.51.100.7")])
def test_click_ip_honours_trusted_proxy_hops(make_app, db, link, hops, seen_ip):
    app = make_app(TRUSTED_PROXY_HOPS=hops)
    visit(app.test_client(), link, **{"X-Forwarded-For": "198.51.100.7"})
    with app.app_context():
        flush_clicks()
    [click] = stored(db)
    assert click.ip_hash == hash_ip(seen_ip)


def test_one_trusted_hop_takes_the_address_the_proxy_appended(make_app, db, link):
    app = make_app(TRUSTED_PROXY_HOPS=1)
    visit(app.test_client(), link, **{"X-Forwarded-For": "203.0.113.66, 198.51.100.7"})
    with app.app_context():
        flush_clicks()
    [click] = stored(db)
    assert click.ip_hash == hash_ip("198.51.100.7")

"""The redirect's capture machinery: the in-process link cache (staleness passed in, never slept), the
stream's entries and writer, and odd input on ``/l/`` (NUL bytes, invalid UTF-8, huge values)."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import OperationalError

from contentflow.jobs.clicks import flush_clicks
from contentflow.models import Asset
from contentflow.services import click_buffer, click_capture, click_stream, clicks, links
from tests.core.test_clicks import DOWN_REDIS, reasons, stored, target_of, visit


@pytest.fixture
def offer(make_offer):
    return make_offer(cpc_cents=12)


@pytest.fixture
def link(db, partner, make_asset, offer):
    link = links.get_or_create_link(partner.id, make_asset(offer=offer).id)
    db.session.commit()
    return link


# --- the link's resolution, cached in each process for a few seconds ---------------------------------


@pytest.fixture
def clock(app):
    """The session app's capture on a clock the test moves (seconds), instead of sleeping."""
    capture = click_capture.capture_of(app)
    now = [1000.0]
    capture.links.clear()
    real, capture.clock = capture.clock, lambda: now[0]
    yield now
    capture.clock = real
    capture.links.clear()


def test_link_cache_serves_an_entry_for_less_than_its_seconds():
    cache, target = links.LinkCache(seconds=5), target_of(links.ShortLink(id=1, code="c0de"))
    cache.put(target, now=100.0)
    assert cache.get("c0de", now=104.99) is target
    assert cache.get("c0de", now=105.0) is None
    assert cache.get("other", now=100.0) is None


def test_link_cache_drops_the_oldest_entry_when_full():
    cache = links.LinkCache(seconds=5, max_entries=2)
    for n in range(3):
        cache.put(target_of(links.ShortLink(id=n, code=f"code{n}")), now=100.0)
    assert [cache.get(f"code{n}", now=100.0) is not None for n in range(3)] == [False, True, True]


def test_link_is_read_from_the_database_once_per_cache_period(client, db, link, clock, monkeypatch):
    queries = []
    real = links.resolve_code
    monkeypatch.setattr(links, "resolve_code", lambda code: queries.append(code) or real(code))
    visit(client, link)
    clock[0] += links.LINK_CACHE_SECONDS - 0.01
    visit(client, link)
    assert queries == [link.code]
    clock[0] += 0.01
    visit(client, link)
    assert queries == [link.code] * 2


def test_quarantine_takes_effect_within_the_cache_period(client, db, link, clock):
    visit(client, link)
    db.session.get(Asset, link.asset_id).status = "quarantined"
    db.session.commit()
    clock[0] += links.LINK_CACHE_SECONDS - 0.01
    visit(client, link)  # still within the period: the cached resolution answers
    clock[0] += 0.01
    assert client.get(f"/l/{link.code}").status_code == 410
    assert client.head(f"/l/{link.code}").status_code == 410
    assert flush_clicks() == "flushed 2 clicks"


def test_cached_visit_records_the_same_click_as_a_resolved_one(client, db, link, clock):
    visit(client, link, ip="198.51.100.1")  # resolved in the database, then cached
    visit(client, link, ip="198.51.100.2")  # from the cache
    flush_clicks()
    recorded = [(c.short_link_id, c.partner_id, c.asset_id, c.is_billable, c.cpc_cents) for c in stored(db)]
    assert recorded == [(link.id, link.partner_id, link.asset_id, True, 12)] * 2


# --- the stream's entries -------------------------------------------------------------------------------


def test_entry_of_the_previous_release_is_flushed_and_its_billing_decided_again(db, link, offer, redis):
    """Entries written just before a deploy: fields ``target``, ``click``, ``reason`` (the repeat was
    then claimed per IP and user agent; it is decided per IP now)."""
    micros = int(datetime(2026, 5, 1, 12, 0, tzinfo=UTC).timestamp() * 1_000_000)
    target = [
        link.id,
        link.code,
        link.partner_id,
        link.asset_id,
        offer.id,
        12,
        "https://x/{subid}",
    ]
    for n, (reason, user_agent) in enumerate([("", "ua one"), ("", "ua two"), ("bot", "curl/8")]):
        click = [f"previousfmt{n:03d}", micros + n, "a" * 32, f"v{n}" * 16, user_agent, "", reason == "bot"]
        redis.xadd(
            clicks.STREAM_KEY, {"target": json.dumps(target), "click": json.dumps(click), "reason": reason}
        )
    assert flush_clicks() == "flushed 3 clicks"
    assert reasons(db) == [None, "repeat", "bot"]
    assert {click.visitor_hash for click in stored(db)} == {"a" * 32}


def test_entry_of_an_unknown_format_is_skipped(client, db, link, redis):
    redis.xadd(clicks.STREAM_KEY, {"c": json.dumps([99, 1, 2, 3])})
    click_id = visit(client, link)
    assert flush_clicks() == "flushed 1 clicks"
    assert [click.id for click in stored(db)] == [click_id]


def test_entry_round_trips_every_field_of_the_click(app, link):
    made = clicks.Visit(
        "abcdefghijklmn",
        datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=UTC),
        "f" * 32,
        "UA é",
        "r",
        True,
        "bot",
    )
    row = click_stream.row_of_entry({b"c": click_stream.encode_entry(target_of(link), made)})
    assert row == clicks.row_of(target_of(link), made, "bot") | {"offer_id": 1}


# --- odd input: NUL bytes, invalid UTF-8, huge values ---------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/l/%00",
        "/l/abc%00def",
        "/l/%FF%FE",
        "/l/%C3%28",
        "/l/%ED%A0%80",
        "/l/" + "a" * 25,
        "/l/" + "a" * 20_000,
        "/l/abc?pid=%00",
        "/l/abc?pid=p%00",
        "/l/abc?pid=%FF",
        "/l/abc?pid=" + "p" * 20_000,
        "/l/a%00c?pid=p",
    ],
)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_malformed_code_or_pid_answers_4xx_and_records_nothing(client, db, link, redis, path, method):
    """404 from the view, or 400 when the app's edge check refuses the request first; never a 500."""
    response = client.open(path, method=method)
    assert response.status_code in (400, 404)
    assert "Location" not in response.headers
    assert redis.xlen(clicks.STREAM_KEY) == 0


def test_nul_in_the_pid_of_a_real_asset_and_partner_answers_4xx(client, db, link, redis):
    response = client.get(f"/l/{link.asset_id}", query_string={"pid": f"{link.partner_id}\x00"})
    assert response.status_code in (400, 404)
    assert redis.xlen(clicks.STREAM_KEY) == 0


@pytest.mark.parametrize("redis_url", [None, DOWN_REDIS], ids=["stream", "direct"])
def test_nul_bytes_and_odd_text_in_headers_are_stored_cleaned(make_app, db, link, redis_url):
    app = make_app(**({"REDIS_URL": redis_url} if redis_url else {}))
    odd = "Mozilla/5.0\x00 (X11) \udcff Firefox/128.0"
    visit(app.test_client(), link, user_agent=odd + "x" * 600, Referer="https://social.example/\x00p")
    if redis_url is None:
        with app.app_context():
            flush_clicks()
    [click] = stored(db)
    assert click.user_agent.startswith("Mozilla/5.0 (X11) ? Firefox/128.0x")
    assert (len(click.user_agent), click.referrer) == (512, "https://social.example/p")


# --- the stream writer: what it does when Redis fails ----------------------------------------------------


def test_stream_writer_waits_before_trying_a_failed_redis_again(app, redis):
    writer = click_stream.StreamWriter(DOWN_REDIS)
    with pytest.raises(click_stream.StreamUnavailable):
        writer.append(b"[]", now=100.0)
    writer.pool = redis.connection_pool  # Redis answers now, but the writer does not ask it yet
    with pytest.raises(click_stream.StreamUnavailable):
        writer.append(b"[]", now=100.0 + click_stream.RETRY_AFTER_SECONDS - 0.01)
    assert redis.xlen(clicks.STREAM_KEY) == 0
    writer.append(b"[]", now=100.0 + click_stream.RETRY_AFTER_SECONDS)
    assert redis.xlen(clicks.STREAM_KEY) == 1


def test_click_refused_by_redis_goes_to_the_database(make_app, db, link, redis):
    """An error reply (here the key holds a string, not a stream) means the click is not in Redis."""
    redis.set(clicks.STREAM_KEY, "not a stream")
    click_id = visit(make_app().test_client(), link)
    [click] = stored(db)
    assert (click.id, click.is_billable) == (click_id, True)


def test_threads_appending_at_once_each_get_their_entry_in_the_stream(app, redis):
    writer = click_stream.StreamWriter(app.config["RESOLVED_REDIS_URL"])
    barrier = threading.Barrier(8)

    def append_twenty(thread: int) -> None:
        barrier.wait(timeout=30)
        for n in range(20):
            writer.append(json.dumps([thread, n]).encode(), now=1.0)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(append_twenty, range(8)))
    entries = [json.loads(fields[b"c"]) for _, fields in redis.xrange(clicks.STREAM_KEY)]
    assert sorted(map(tuple, entries)) == [(thread, n) for thread in range(8) for n in range(20)]


# --- neither Redis nor the database takes the click: 503, never a redirect --------------------------------


def test_click_nobody_stores_answers_503_and_redirects_nobody(make_app, db, link, monkeypatch):
    def database_down(rows):
        raise OperationalError("INSERT", {}, Exception("connection refused"))

    monkeypatch.setattr(click_buffer, "store_batch", database_down)
    response = make_app(REDIS_URL=DOWN_REDIS).test_client().get(f"/l/{link.code}")
    assert response.status_code == 503
    assert "Location" not in response.headers
    assert stored(db) == []


def test_full_outage_buffer_answers_503_and_redirects_nobody(make_app, db, link, monkeypatch):
    app = make_app(REDIS_URL=DOWN_REDIS, CLICK_BUFFER_BACKGROUND=True)
    click_capture.capture_of(app).buffer.max_rows = 0  # what a database that stopped taking clicks leaves
    monkeypatch.setattr(click_buffer, "FULL_WAIT_SECONDS", 0)
    response = app.test_client().get(f"/l/{link.code}")
    assert response.status_code == 503
    assert "Location" not in response.headers

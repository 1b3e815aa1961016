"""Clicks while Redis fails, on committed data, with the outage buffer's writer thread running as in
production: a private redis-server stopped, killed or paused for real, racing clicks of one visitor in
two processes, and processes asked to stop while the database is not taking their clicks."""

from __future__ import annotations

import http.client
import queue
import signal
import socket
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import redis as redis_lib
from sqlalchemy import func, select

from contentflow.jobs.clicks import flush_clicks
from contentflow.models import Click
from contentflow.services import click_stream, clicks, links
from contentflow.services.click_capture import capture_of
from tests.integration.conftest import ROOT
from tests.integration.test_click_capture import BROWSER, PrivateRedis, click_ids, make_link, stored_ids

pytestmark = pytest.mark.integration

DOWN_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    if server.process.poll() is None:
        server.stop()


@pytest.fixture
def settle_lock(app):
    """Holds the lock every click batch takes before deciding, so the database takes no click until
    ``release()``: what a slow or briefly unavailable database looks like to the outage buffer."""
    url = app.config["SQLALCHEMY_DATABASE_URI"].replace("postgresql+psycopg://", "postgresql://", 1)
    if not url.startswith("postgresql"):
        pytest.skip("advisory locks are PostgreSQL's")
    connection = psycopg.connect(url, autocommit=True)
    connection.execute("SELECT pg_advisory_lock(%s)", (clicks.SETTLE_LOCK_ID,))
    yield lambda: connection.execute("SELECT pg_advisory_unlock_all()")
    connection.close()


def buffering_app(make_app, redis_url: str):
    """An app whose outage buffer is written by its background thread, as in production."""
    return make_app(REDIS_URL=redis_url, CLICK_BUFFER_BACKGROUND=True)


def test_clicks_buffered_while_redis_is_stopped_are_stored_once(make_app, committed, private_redis):
    code = make_link(committed.session)
    app = buffering_app(make_app, private_redis.url)
    client = app.test_client()
    streamed = click_ids(client, code, 3)

    private_redis.stop()
    buffered = click_ids(client, code, 5, start=3)
    capture_of(app).buffer.drain()  # what the writer thread does; returns once all are committed
    assert sorted(stored_ids(committed.session)) == sorted(buffered)

    private_redis.start()
    with app.app_context():
        assert flush_clicks() == "flushed 3 clicks"
    ids = stored_ids(committed.session)
    assert sorted(ids) == sorted(streamed + buffered)
    assert len(set(ids)) == 8


def test_acknowledged_clicks_survive_redis_being_killed(make_app, committed, private_redis):
    code = make_link(committed.session)
    app = buffering_app(make_app, private_redis.url)
    client = app.test_client()
    acknowledged = click_ids(client, code, 4)  # each answered after Redis's reply: in its append-only file

    private_redis.process.kill()  # SIGKILL: no shutdown, no save
    private_redis.process.wait(timeout=30)
    private_redis.process.stdout.close()
    buffered = click_ids(client, code, 2, start=4)  # the dead connection fails, the buffer takes them
    capture_of(app).buffer.drain()

    private_redis.start()
    with app.app_context():
        assert flush_clicks() == "flushed 4 clicks"
    assert sorted(stored_ids(committed.session)) == sorted(acknowledged + buffered)


def test_click_whose_xadd_got_no_reply_in_time_is_stored_once(make_app, committed, private_redis):
    """Redis pauses writes for longer than the redirect waits for its reply: the redirect gives up on
    Redis and buffers the click. Whatever Redis then did with that XADD, one row."""
    code = make_link(committed.session)
    app = buffering_app(make_app, private_redis.url)
    server = redis_lib.Redis.from_url(private_redis.url)
    server.client_pause(2000, all=False)  # WRITE: the XADD waits, the redirect gives up after 0.5 s
    [click_id] = click_ids(app.test_client(), code, 1)
    capture_of(app).buffer.drain()
    assert stored_ids(committed.session) == [click_id]

    with app.app_context():
        flush_clicks()  # its XREADGROUP waits for the pause to end
    assert stored_ids(committed.session) == [click_id]


def test_click_both_buffered_and_in_the_stream_is_stored_once(make_app, committed, redis):
    """An XADD whose reply was lost after Redis stored it: the click is in the stream and was buffered
    too, with the same id."""
    code = make_link(committed.session)
    app = buffering_app(make_app, DOWN_REDIS)
    [click_id] = click_ids(app.test_client(), code, 1)
    capture_of(app).buffer.drain()
    [row] = committed.session.execute(select(Click)).scalars().all()
    target = links.LinkTarget(row.short_link_id, code, row.partner_id, row.asset_id, row.offer_id, 12, "")
    visit = clicks.Visit(row.id, row.created_at, row.ip_hash, row.user_agent, row.referrer, False, "")
    redis.xadd(clicks.STREAM_KEY, {"c": click_stream.encode_entry(target, visit)})
    committed.session.remove()

    assert flush_clicks() == "flushed 1 clicks"
    rows = committed.session.execute(select(Click.id, Click.is_billable)).all()
    assert rows == [(click_id, True)]


def test_racing_clicks_of_one_visitor_in_two_processes_bill_once(make_app, committed):
    code = make_link(committed.session)
    committed.session.remove()
    apps = [buffering_app(make_app, DOWN_REDIS) for _ in range(2)]  # two processes' buffers and writers
    barrier = threading.Barrier(8)

    def follow(n: int) -> int:
        client = apps[n % 2].test_client()
        barrier.wait(timeout=30)
        return client.get(f"/l/{code}", headers={"User-Agent": f"{BROWSER} rotating/{n}"}).status_code

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(follow, range(8))) == [302] * 8
    with ThreadPoolExecutor(2) as pool:  # both writers' batches at once, as two processes' would
        list(pool.map(lambda app: capture_of(app).buffer.drain(), apps))
    rows = committed.session.execute(select(Click.is_billable, Click.cpc_cents)).all()
    assert sorted(rows, key=str) == [(False, None)] * 7 + [(True, 12)]


def test_stopping_buffer_commits_its_clicks_once_the_database_takes_them(make_app, committed, settle_lock):
    code = make_link(committed.session)
    app = buffering_app(make_app, DOWN_REDIS)
    made = click_ids(app.test_client(), code, 6)
    buffer = capture_of(app).buffer
    assert stored_ids(committed.session) == []

    stopping = threading.Thread(target=buffer.stop)
    stopping.start()  # what atexit does when the process is asked to stop
    settle_lock()
    stopping.join(timeout=60)
    assert not stopping.is_alive()
    assert sorted(stored_ids(committed.session)) == sorted(made)
    assert buffer.pending_count() == 0


def test_gunicorn_asked_to_stop_commits_every_buffered_click(committed, process_env, settle_lock):
    """Two sync workers with Redis unreachable and the database not taking clicks yet: every redirect
    answered before SIGTERM is in the database once the workers have exited."""
    code = make_link(committed.session)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = process_env(CONTENTFLOW_ENV="development", REDIS_URL=DOWN_REDIS)
    argv = [sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}"]
    server = subprocess.Popen(  # noqa: S603 - fixed argv
        [*argv, "--log-level", "info", "wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in server.stdout], daemon=True)
    reader.start()
    try:
        wait_for_line(lines, "Listening at")

        def follow(n: int) -> str:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            connection.request("GET", f"/l/{code}", headers={"User-Agent": f"{BROWSER} #{n}"})
            response = connection.getresponse()
            assert response.status == 302
            return response.getheader("Location").rsplit(":", 1)[1]

        with ThreadPoolExecutor(8) as pool:
            answered = list(pool.map(follow, range(40)))
        server.send_signal(signal.SIGTERM)
        wait_for_line(lines, "stopping: committing")  # a worker's exit waits for the database
        settle_lock()
        assert server.wait(timeout=60) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        reader.join(timeout=30)
        server.stdout.close()
    count = committed.session.scalar(select(func.count()).select_from(Click))
    assert count == len(answered) == len(set(answered)) == 40
    assert sorted(stored_ids(committed.session)) == sorted(answered)


def wait_for_line(lines: queue.Queue[str], text: str) -> None:
    """Until the server prints a line holding ``text`` (60 s at most)."""
    while text not in lines.get(timeout=60):
        pass

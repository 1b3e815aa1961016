"""Posting under real conditions: two workers racing on the same due assignments on PostgreSQL post each
once and keep the cap; a real ``flask rq worker`` killed with SIGKILL in the middle of a post leaves it to
the reconciliation, which finds the post instead of posting it again. Reddit is a fake over real HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from contentflow.models import Assignment, PartnerAccount
from contentflow.queueing import enqueue
from plugins.publish.jobs import publish_due
from tests.integration.conftest import FLASK, ROOT
from tests.publish.conftest import FakeReddit, reddit_settings

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@pytest.fixture
def reddit_app(make_app, httpserver):
    return make_app(**reddit_settings(httpserver))


def seed(session, count: int, *, daily_cap: int = 50):
    """A partner with a Reddit account and ``count`` approved assignments due now, committed."""
    from contentflow.services import assets, offers, partners

    partner = partners.get_or_create_partner("pat@example.com")
    offers.create_network("acme", "s3cret-s3cret-s3cret")
    offer = offers.create_offer("Acme", "acme", "https://acme.example.net/go?sub={subid}", cpc_cents=12)
    account = PartnerAccount(
        partner_id=partner.id,
        platform="reddit",
        handle="pat_r",
        external_id="u42",
        access_token="access-1",
        refresh_token="refresh-1",
        token_expires_at=NOW + timedelta(days=30),
        daily_cap=daily_cap,
        min_interval_minutes=0,
    )
    session.add(account)
    session.flush()
    for n in range(count):
        asset = assets.create_asset(f"Video {n}", offer=offer)
        session.add(
            Assignment(
                asset_id=asset.id,
                partner_id=partner.id,
                platform="reddit",
                partner_account_id=account.id,
                status="approved",
            )
        )
    session.commit()


def statuses(session) -> list[str]:
    session.expire_all()
    return [a.status for a in session.scalars(select(Assignment).order_by(Assignment.id))]


def race(app, runs: int = 2) -> list[str]:
    results: list[str] = []
    barrier = threading.Barrier(runs)

    def work() -> None:
        with app.app_context():
            barrier.wait()
            results.append(publish_due(NOW.isoformat()))

    threads = [threading.Thread(target=work) for _ in range(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.fixture
def slow_reddit(httpserver) -> FakeReddit:
    fake = FakeReddit(httpserver)
    submit = fake.submit

    def slowly(request):
        time.sleep(0.05)  # long enough for the other worker to look for work meanwhile
        return submit(request)

    httpserver.clear_all_handlers()
    httpserver.expect_request("/api/submit", method="POST").respond_with_handler(slowly)
    httpserver.expect_request("/user/pat_r/submitted", method="GET").respond_with_handler(fake.listing)
    return fake


def test_two_workers_racing_post_each_assignment_once(reddit_app, committed, slow_reddit):
    if committed.engine.dialect.name != "postgresql":
        pytest.skip("row locks are what this proves: PostgreSQL only")
    seed(committed.session, 6)
    results = race(reddit_app)
    assert len(results) == 2
    assert statuses(committed.session) == ["posted"] * 6
    urls = [form["url"] for form in slow_reddit.submissions]
    assert len(urls) == 6 == len(set(urls))


def test_two_workers_racing_keep_the_accounts_daily_cap(reddit_app, committed, slow_reddit):
    if committed.engine.dialect.name != "postgresql":
        pytest.skip("row locks are what this proves: PostgreSQL only")
    seed(committed.session, 5, daily_cap=2)
    race(reddit_app)
    assert sorted(statuses(committed.session)) == ["approved"] * 3 + ["posted"] * 2
    assert len(slow_reddit.submissions) == 2


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and every process below it (Linux /proc), children first."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    for child in children:
        kill_tree(int(child))
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_a_worker_killed_mid_post_is_reconciled_not_reposted(reddit_app, committed, httpserver, process_env):
    seed(committed.session, 1)
    fake = FakeReddit(httpserver)
    arrived, release = threading.Event(), threading.Event()
    submit = fake.submit

    def hang(request):
        answer = submit(request)  # Reddit has the post...
        arrived.set()
        release.wait(30)  # ...and the worker dies before it hears back
        return answer

    httpserver.clear_all_handlers()
    httpserver.expect_request("/api/submit", method="POST").respond_with_handler(hang)
    httpserver.expect_request("/user/pat_r/submitted", method="GET").respond_with_handler(fake.listing)
    with reddit_app.app_context():
        enqueue(publish_due, NOW.isoformat())
    env = process_env(**{key: str(value) for key, value in reddit_settings(httpserver).items()})
    worker = subprocess.Popen(  # noqa: S603 - our own CLI
        [str(FLASK), "--app", "wsgi", "rq", "worker", "publish", "--burst"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert arrived.wait(60), "the worker never posted"
        kill_tree(worker.pid)  # the worker and its work horse (RQ gives the horse a session of its own)
        worker.wait(10)
    finally:
        release.set()
    time.sleep(0.2)  # let the fake answer the dead connection: a live horse would record the post now
    assert statuses(committed.session) == ["posting"]
    with reddit_app.app_context():
        assert publish_due((NOW + timedelta(minutes=31)).isoformat()) == "publish_due: 1 posted"
    assert statuses(committed.session) == ["posted"]
    assert len(fake.submissions) == 1

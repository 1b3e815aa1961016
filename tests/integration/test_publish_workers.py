"""Posting under real conditions: two workers racing on the same due assignments on PostgreSQL post each
once and keep the cap; a real ``flask rq worker`` killed with SIGKILL in the middle of a post leaves it to
the reconciliation, which finds the post instead of posting it again. Reddit is a fake over real HTTP.

No sleeping: the racing workers meet while each holds a claim in progress (a barrier in the hold check,
which runs with the assignment's row locked), and the killed worker is known gone when its process
descriptors say so."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from contentflow.models import Assignment, PartnerAccount
from contentflow.queueing import enqueue
from contentflow.services import holds
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
    return [a.status for a in session.scalars(sa.select(Assignment).order_by(Assignment.id))]


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


class Meeting:
    """The racing workers' first claims meet: each waits in the hold check, which ``claim_next`` makes
    with the assignment it found row-locked and not yet taken, until the other is there too. So both are
    claiming at the same moment, every run; a claim that let both find the same assignment shows as a
    double post."""

    def __init__(self, check: Callable[..., bool], workers: int = 2) -> None:
        self.check = check
        self.barrier = threading.Barrier(workers, timeout=30)
        self.lock = threading.Lock()
        self.met: set[int] = set()

    def __call__(self, partner_id: str, *, now: datetime | None = None) -> bool:
        with self.lock:
            is_first = threading.get_ident() not in self.met
            self.met.add(threading.get_ident())
        if is_first:
            self.barrier.wait()
        return self.check(partner_id, now=now)


@pytest.fixture
def meeting(monkeypatch) -> Meeting:
    meeting = Meeting(holds.is_on_hold)
    monkeypatch.setattr(holds, "is_on_hold", meeting)
    return meeting


@pytest.fixture
def reddit(httpserver) -> FakeReddit:
    return FakeReddit(httpserver)


def test_two_workers_racing_post_each_assignment_once(reddit_app, committed, reddit, meeting):
    if committed.engine.dialect.name != "postgresql":
        pytest.skip("row locks are what this proves: PostgreSQL only")
    seed(committed.session, 6)
    results = race(reddit_app)
    assert len(results) == 2
    assert "posting" not in statuses(committed.session)
    assert len(reddit.submissions) == statuses(committed.session).count("posted")
    # A worker passes over an assignment whose account the other had locked: the next run posts it.
    with reddit_app.app_context():
        publish_due(NOW.isoformat())
    assert statuses(committed.session) == ["posted"] * 6
    urls = [form["url"] for form in reddit.submissions]
    assert len(urls) == 6 == len(set(urls))


def test_two_workers_racing_keep_the_accounts_daily_cap(reddit_app, committed, reddit, meeting):
    if committed.engine.dialect.name != "postgresql":
        pytest.skip("row locks are what this proves: PostgreSQL only")
    seed(committed.session, 4, daily_cap=1)
    results = race(reddit_app)
    assert len(results) == 2
    assert sorted(statuses(committed.session)) == ["approved"] * 3 + ["posted"]
    assert len(reddit.submissions) == 1


def process_tree(pid: int) -> list[int]:
    """``pid`` and every process below it (Linux /proc), children first."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    return [below for child in children for below in process_tree(int(child))] + [pid]


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and every process below it, children first, and return once all have ended: a
    process descriptor becomes readable when its process ends, so nothing is slept."""
    handles = []
    for member in process_tree(pid):
        try:
            handles.append(os.pidfd_open(member))
        except ProcessLookupError:
            continue  # already gone
    try:
        for handle in handles:
            try:
                signal.pidfd_send_signal(handle, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for handle in handles:
            ended, _, _ = select.select([handle], [], [], 10)
            assert ended, "a worker process outlived SIGKILL"
    finally:
        for handle in handles:
            os.close(handle)


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
        # The worker and its work horse (RQ gives the horse a session of its own), each gone for sure
        # before Reddit answers: nobody is left to hear that the post was made.
        kill_tree(worker.pid)
        worker.wait(10)
    finally:
        release.set()
    assert statuses(committed.session) == ["posting"]
    with reddit_app.app_context():
        assert publish_due((NOW + timedelta(minutes=31)).isoformat()) == "publish_due: 1 posted"
    assert statuses(committed.session) == ["posted"]
    assert len(fake.submissions) == 1

"""Schedules reconciled with rq-scheduler by deterministic ids, ``flask rq scheduler`` in a separate
process, and ``flask jobs run``."""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import timedelta
from importlib import import_module

import pytest
from redis.connection import AbstractConnection
from sqlalchemy import select

from contentflow.jobs import CORE_SCHEDULES, purge_expired_magic_links
from contentflow.models import MagicLinkToken, Partner
from contentflow.models.base import utcnow
from contentflow.queueing import QUEUES, Schedule, get_queue, job, job_catalog
from contentflow.queueing.schedules import install_catalog
from contentflow.queueing.scheduling import add_schedule, make_scheduler, reconcile_schedules
from contentflow.queueing.worker import make_worker
from plugins import AVAILABLE
from tests.fixtures.sample.jobs import touch_sample
from tests.integration.conftest import run_flask

pytestmark = pytest.mark.integration

PLUGINS = ["plugins.publish", "tests.fixtures.sample"]
CORE_IDS = sorted(schedule.schedule_id for schedule in CORE_SCHEDULES)
#: Interval schedules first run at once (on their queue); cron ones wait for their time.
CORE_DUE_IDS = sorted(
    schedule.schedule_id
    for schedule in CORE_SCHEDULES
    if schedule.every is not None and schedule.queue == "periodic"
)
SAMPLE_ID = Schedule(touch_sample, every=timedelta(minutes=5)).schedule_id
#: The publish plugin (on in these apps) schedules its job too.
PUBLISH_ID = "contentflow-schedule-plugins-publish-jobs-publish_due"
DECLARED_IDS = sorted([*CORE_IDS, PUBLISH_ID])
#: A process started from the environment has every flag on (the default): the core's schedules and every
#: real plugin's.
PROCESS_PLUGIN_SCHEDULES = tuple(
    schedule for name in AVAILABLE for schedule in import_module(f"plugins.{name}").plugin.schedules
)
PROCESS_IDS = sorted([*CORE_IDS, *(schedule.schedule_id for schedule in PROCESS_PLUGIN_SCHEDULES)])
PROCESS_DUE_IDS = sorted(
    [
        *CORE_DUE_IDS,
        *(
            schedule.schedule_id
            for schedule in PROCESS_PLUGIN_SCHEDULES
            if schedule.every is not None and schedule.queue == "periodic"
        ),
    ]
)


@job("periodic")
def retired_job() -> str:
    return "no longer declared anywhere"


@pytest.fixture
def sample_app(make_app):
    return make_app(CONTENTFLOW_PLUGINS=PLUGINS, FEATURE_SAMPLE=True)


def declare_sample_schedule(app, schedule: Schedule) -> None:
    """As if the sample plugin had declared ``schedule`` instead of its own."""
    catalog = job_catalog(app)
    others = tuple(s for s in catalog.schedules if s.job is not touch_sample)
    install_catalog(app, dataclasses.replace(catalog, schedules=(*others, schedule)))


def scheduled_ids(scheduler) -> list[str]:
    return sorted(job.id for job in scheduler.get_jobs())


def test_reconcile_twice_keeps_one_job_per_schedule(sample_app):
    scheduler = make_scheduler(sample_app)
    first = reconcile_schedules(sample_app, scheduler)
    second = reconcile_schedules(sample_app, make_scheduler(sample_app))
    assert sorted(first["added"]) == sorted([*DECLARED_IDS, SAMPLE_ID])
    assert second == {"added": [], "cancelled": [], "kept": sorted([*DECLARED_IDS, SAMPLE_ID])}
    assert scheduled_ids(scheduler) == sorted([*DECLARED_IDS, SAMPLE_ID])


def test_reconcile_stores_the_interval_queue_and_a_result_ttl_longer_than_the_interval(sample_app):
    scheduler = make_scheduler(sample_app)
    reconcile_schedules(sample_app, scheduler)
    [sample] = [job for job in scheduler.get_jobs() if job.id == SAMPLE_ID]
    assert sample.meta["interval"] == 300
    assert sample.origin == "periodic"
    assert sample.result_ttl > 300
    assert sample.description == "touch_sample"


def test_reconcile_replaces_a_schedule_whose_interval_changed(sample_app):
    scheduler = make_scheduler(sample_app)
    reconcile_schedules(sample_app, scheduler)
    declare_sample_schedule(sample_app, Schedule(touch_sample, every=timedelta(minutes=10)))
    result = reconcile_schedules(sample_app, scheduler)
    assert result == {"added": [SAMPLE_ID], "cancelled": [SAMPLE_ID], "kept": DECLARED_IDS}
    [sample] = [job for job in scheduler.get_jobs() if job.id == SAMPLE_ID]
    assert sample.meta["interval"] == 600


def test_reconcile_registers_a_cron_schedule_due_within_its_period(sample_app):
    declare_sample_schedule(sample_app, Schedule(touch_sample, cron="*/5 * * * *"))
    scheduler = make_scheduler(sample_app)
    reconcile_schedules(sample_app, scheduler)
    [(sample, due_at)] = [(job, at) for job, at in scheduler.get_jobs(with_times=True) if job.id == SAMPLE_ID]
    assert sample.meta["cron_string"] == "*/5 * * * *"
    assert due_at.minute % 5 == 0
    assert timedelta(0) < due_at - utcnow().replace(tzinfo=None) <= timedelta(minutes=5)


def test_reconcile_cancels_a_schedule_no_longer_declared_and_leaves_other_jobs(sample_app, redis):
    scheduler = make_scheduler(sample_app)
    add_schedule(scheduler, Schedule(retired_job, every=timedelta(hours=1)))
    foreign = scheduler.schedule(scheduled_time=utcnow(), func=retired_job, interval=60, id="someone-elses")
    result = reconcile_schedules(sample_app, scheduler)
    retired_id = Schedule(retired_job, every=timedelta(hours=1)).schedule_id
    assert result["cancelled"] == [retired_id]
    assert retired_id not in scheduler
    assert not redis.exists(f"rq:job:{retired_id}")
    assert foreign in scheduler


def test_scheduled_job_runs_when_due_and_acts(sample_app, redis):
    scheduler = make_scheduler(sample_app)
    reconcile_schedules(sample_app, scheduler)
    scheduler.enqueue_jobs()  # first runs are due at once
    queued = sorted(job.id for job in get_queue("periodic", sample_app).jobs)
    assert queued == sorted([*CORE_DUE_IDS, SAMPLE_ID])
    make_worker(sample_app, simple=True).work(burst=True)
    assert redis.get("contentflow:sample:touched") == b"1"
    assert SAMPLE_ID in scheduler  # and it is due again later


class Crash(BaseException):
    """The scheduler's process dying before it sends its next command to Redis."""


def test_a_scheduler_killed_before_any_of_its_commands_loses_no_schedule_and_queues_a_slot_once(
    sample_app, redis, monkeypatch
):
    """Whichever Redis command the scheduler dies before, every schedule is still there, and each due job
    is either queued once and moved to its next time, or neither (its slot stays due for the next
    scheduler). rq-scheduler's own three separate commands failed both ways."""
    send = AbstractConnection.send_packed_command
    for crash_before in range(100):
        redis.flushdb()
        scheduler = make_scheduler(sample_app)
        reconcile_schedules(sample_app, scheduler)
        before = dict(scheduler.get_jobs(with_times=True))
        sent = [0]

        def send_or_die(connection, command, check_health=True, sent=sent, crash_before=crash_before):
            if sent[0] == crash_before:
                raise Crash
            sent[0] += 1
            return send(connection, command, check_health)

        monkeypatch.setattr(AbstractConnection, "send_packed_command", send_or_die)
        try:
            scheduler.enqueue_jobs()
            survived = True
        except Crash:
            survived = False
        monkeypatch.setattr(AbstractConnection, "send_packed_command", send)

        after = {job.id: at for job, at in scheduler.get_jobs(with_times=True)}
        before = {job.id: at for job, at in before.items()}
        queued = Counter(job_id for name in QUEUES for job_id in get_queue(name, sample_app).job_ids)
        assert sorted(after) == sorted(before), f"crash before command {crash_before}"
        for job_id, due_at in before.items():
            if queued[job_id]:
                assert (queued[job_id], after[job_id] > due_at) == (1, True), (crash_before, job_id)
            else:
                assert after[job_id] == due_at, (crash_before, job_id)
        if survived:
            assert queued, "the interval schedules were due"
            return
    pytest.fail("enqueue_jobs sent over 100 commands")


def test_flask_rq_scheduler_reconciles_enqueues_what_is_due_and_exits(app, process_env):
    result = run_flask(process_env(), "rq", "scheduler", "--burst")
    assert result.returncode == 0, result.stderr
    assert f"schedules: {len(PROCESS_IDS)} added, 0 cancelled, 0 kept" in result.stderr
    assert scheduled_ids(make_scheduler(app)) == PROCESS_IDS
    assert sorted(job.id for job in get_queue("periodic", app).jobs) == PROCESS_DUE_IDS
    again = run_flask(process_env(), "rq", "scheduler", "--burst")
    assert f"schedules: 0 added, 0 cancelled, {len(PROCESS_IDS)} kept" in again.stderr


def test_flask_jobs_run_purges_expired_sign_in_tokens_and_says_so(app, committed):
    partner = Partner(email="pat@example.com")
    committed.session.add(partner)
    committed.session.flush()
    two_days_ago = utcnow() - timedelta(days=2)
    for token_hash, expires_at in (("a" * 64, two_days_ago), ("b" * 64, utcnow() + timedelta(minutes=15))):
        committed.session.add(
            MagicLinkToken(
                token_hash=token_hash, partner_id=partner.id, email=partner.email, expires_at=expires_at
            )
        )
    committed.session.commit()
    result = app.test_cli_runner().invoke(args=["jobs", "run", purge_expired_magic_links.__name__])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "purged 1 sign-in tokens"
    committed.session.rollback()
    assert list(committed.session.scalars(select(MagicLinkToken.token_hash))) == ["b" * 64]

"""The machinery's health, read from a real Redis: queues, failed jobs, workers, the click stream, and each
scheduled job's last run as RQ recorded it (kept beyond RQ's own TTL by the refresh job)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from rq_scheduler import Scheduler

from contentflow.jobs.clicks import GROUP
from contentflow.queueing import get_queue, job_catalog
from contentflow.queueing.worker import make_worker
from contentflow.services.clicks import STREAM_KEY
from plugins.monitoring.jobs import refresh_monitoring
from plugins.monitoring.services import machinery
from tests.monitoring.conftest import NOW


def explode() -> None:
    raise RuntimeError("the network API answered 502")


def succeed() -> str:
    return "flushed 42 clicks"


def schedule_of(name: str):
    return next(s for s in job_catalog().schedules if s.job_name == name)


def health(now=NOW):
    return machinery.read_health(now=now)


def schedule_health(name: str, now=NOW):
    return next(s for s in health(now).schedules if s.job_name == name)


def run_as_scheduled(app, function, name: str) -> None:
    """Run ``function`` in a real worker under the fixed job id of the schedule of ``name``, as the
    scheduler enqueues it."""
    get_queue("periodic").enqueue(function, job_id=schedule_of(name).schedule_id, result_ttl=600)
    make_worker(app, ("periodic",), simple=True).work(burst=True)


def test_queue_lengths_count_the_jobs_waiting(app, db):
    queue = get_queue("email")
    queue.enqueue(succeed)
    queue.enqueue(succeed)

    queues = {q.name: q.waiting_count for q in health().queues}

    assert queues == {"default": 0, "email": 2, "ingest": 0, "publish": 0, "periodic": 0}


def test_failed_jobs_are_counted_on_their_queue(app, db):
    get_queue("default").enqueue(explode)
    make_worker(app, ("default",), simple=True).work(burst=True)

    result = health()

    assert {q.name: q.failed_count for q in result.queues}["default"] == 1
    assert result.failed_count == 1


def test_workers_alive_are_listed_with_their_queues(app, db):
    worker = make_worker(app, ("email", "periodic"), simple=True)
    worker.register_birth()

    [listed] = health().workers

    assert (listed.name, listed.queues) == (worker.name, ("email", "periodic"))
    worker.register_death()


def test_no_worker_is_trouble(app, db):
    assert health().workers == ()
    assert health().has_trouble


def test_click_stream_backlog_and_the_age_of_its_oldest_click(app, db, redis):
    for seconds in (40, 5):
        at_ms = int((NOW - timedelta(seconds=seconds)).timestamp() * 1000)
        redis.xadd(STREAM_KEY, {"click": "{}"}, id=f"{at_ms}-0")

    stream = health().stream

    assert (stream.length, stream.pending_count, stream.oldest_age) == (2, 0, timedelta(seconds=40))


def test_clicks_waiting_longer_than_a_minute_are_trouble(app, db, redis):
    at_ms = int((NOW - timedelta(minutes=2)).timestamp() * 1000)
    redis.xadd(STREAM_KEY, {"click": "{}"}, id=f"{at_ms}-0")

    result = health()

    assert result.stream.oldest_age > machinery.FLUSH_LAG_LIMIT
    assert result.has_trouble


def test_clicks_read_by_a_flush_and_not_acknowledged_are_pending(app, db, redis):
    redis.xadd(STREAM_KEY, {"click": "{}"})
    redis.xadd(STREAM_KEY, {"click": "{}"})
    redis.xgroup_create(STREAM_KEY, GROUP, id="0")
    redis.xreadgroup(GROUP, "flush-test", {STREAM_KEY: ">"}, count=1)

    assert health().stream.pending_count == 1


def test_empty_click_stream_has_no_oldest_click(app, db):
    stream = health().stream

    assert (stream.length, stream.pending_count, stream.oldest_age) == (0, 0, None)


def test_schedule_no_scheduler_registered_is_unscheduled(app, db):
    assert schedule_health("flush_clicks").status == "unscheduled"


def test_schedule_due_long_ago_is_late(app, db, redis):
    overdue = (NOW - timedelta(minutes=10)).timestamp()
    redis.zadd(Scheduler.scheduled_jobs_key, {schedule_of("propose_payouts").schedule_id: overdue})

    assert schedule_health("propose_payouts").status == "late"


def test_scheduled_run_that_succeeded_shows_its_result(app, db, redis):
    run_as_scheduled(app, succeed, "flush_clicks")
    now = datetime.now(UTC)  # the worker stamps the run with the real clock
    redis.zadd(Scheduler.scheduled_jobs_key, {schedule_of("flush_clicks").schedule_id: now.timestamp() + 5})

    found = schedule_health("flush_clicks", now=now)

    assert (found.status, found.last_run.outcome, found.last_run.detail) == (
        "ok",
        "succeeded",
        "flushed 42 clicks",
    )


def test_scheduled_run_that_failed_shows_the_error(app, db):
    run_as_scheduled(app, explode, "accrue_click_earnings")

    found = schedule_health("accrue_click_earnings", now=datetime.now(UTC))

    assert found.status == "failed"
    assert found.last_run.detail == "RuntimeError: the network API answered 502"


def test_interval_job_whose_last_run_is_old_is_late(app, db, redis):
    run_as_scheduled(app, succeed, "flush_clicks")
    later = datetime.now(UTC) + timedelta(minutes=5)
    redis.zadd(Scheduler.scheduled_jobs_key, {schedule_of("flush_clicks").schedule_id: later.timestamp()})

    assert schedule_health("flush_clicks", now=later).status == "late"


def test_last_run_kept_by_the_refresh_outlives_rqs_result(app, db, redis):
    run_as_scheduled(app, succeed, "propose_payouts")
    assert machinery.record_runs() == 1

    redis.delete(f"rq:results:{schedule_of('propose_payouts').schedule_id}")  # RQ's result TTL ran out

    run = schedule_health("propose_payouts").last_run
    assert (run.outcome, run.detail) == ("succeeded", "flushed 42 clicks")


def test_recording_the_same_run_twice_records_it_once(app, db):
    run_as_scheduled(app, succeed, "propose_payouts")

    assert [machinery.record_runs(), machinery.record_runs()] == [1, 0]


def test_redis_down_still_answers_with_the_stored_runs(make_app, db):
    with make_app(REDIS_URL="redis://127.0.0.1:1/0").app_context():
        result = machinery.read_health(now=NOW)

    assert not result.is_redis_up
    assert result.has_trouble
    assert {s.job_name for s in result.schedules} >= {"flush_clicks", "refresh_monitoring"}


@pytest.mark.parametrize("hx", [False, True], ids=["page", "htmx"])
def test_dashboard_with_redis_down_shows_the_figures_and_says_so(make_app, db, admin, hx):
    from tests.conftest import sign_in

    db.session.commit()
    client = make_app(REDIS_URL="redis://127.0.0.1:1/0").test_client()
    sign_in(client, admin)

    response = client.get("/admin/monitoring/cards", headers={"HX-Request": "true"} if hx else {})

    assert response.status_code == 200
    assert "Redis does not answer" in response.get_data(as_text=True)
    assert 'id="monitoring-card-revenue"' in response.get_data(as_text=True)


def test_refresh_keeps_the_figures_when_redis_is_down(make_app, db):
    db.session.commit()
    with make_app(REDIS_URL="redis://127.0.0.1:1/0").app_context():
        outcome = refresh_monitoring(now=NOW.isoformat())

    assert "0 job runs recorded" in outcome

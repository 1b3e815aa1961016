"""Jobs the app enqueues run in real RQ workers, on committed data: in-process, and as ``flask rq worker``
in a separate process with a forked work horse. E-mail goes through the outbox; Brevo is a real HTTP
server (pytest-httpserver)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from rq.job import JobStatus
from sqlalchemy import select
from sqlalchemy import update as sa_update

from contentflow.jobs import purge_expired_magic_links
from contentflow.models import OutboxMessage
from contentflow.models.outbox import DEV_OUTBOX
from contentflow.queueing import enqueue_after_commit, get_queue
from contentflow.queueing.worker import make_worker
from contentflow.services import mail
from tests.conftest import csrf_token_of
from tests.integration.conftest import request_magic_link, run_flask

pytestmark = pytest.mark.integration

SIGN_IN_LINK = "https://cf.example.org/partner/login?token="


def rows(db, *where) -> list[OutboxMessage]:
    """Outbox rows as committed by now. The read transaction ends at once: on SQLite every transaction
    takes the write lock, and the worker would wait for it."""
    db.session.close()
    found = list(db.session.scalars(select(OutboxMessage).where(*where).order_by(OutboxMessage.id)))
    db.session.close()
    return found


def outbox(db) -> list[OutboxMessage]:
    """What was delivered to the development outbox (no Brevo key)."""
    return rows(db, OutboxMessage.provider_message_id == DEV_OUTBOX)


def sign_in_token(db) -> str:
    [row] = rows(db)
    return row.text_body.split("token=", 1)[1].split()[0]


def test_magic_link_reaches_the_dev_outbox_through_a_worker(app, committed):
    queued = request_magic_link(app)
    assert outbox(committed) == []  # nothing is sent by the request itself
    assert [row.status for row in rows(committed)] == ["pending"]
    assert queued.args == (rows(committed)[0].id,)  # the job carries the row id, never the message
    make_worker(app, simple=True).work(burst=True)
    assert queued.get_status(refresh=True) == JobStatus.FINISHED
    [message] = outbox(committed)
    assert message.to_email == "pat@example.com"
    assert SIGN_IN_LINK in message.text_body
    assert SIGN_IN_LINK in message.html_body


def test_magic_link_from_the_outbox_opens_the_sign_in_page(app, committed, client):
    request_magic_link(app)
    make_worker(app, simple=True).work(burst=True)
    [message] = outbox(committed)
    link = message.text_body.split(SIGN_IN_LINK, 1)[1].split()[0]
    assert client.get(f"/partner/login?token={link}").status_code == 200


@pytest.fixture
def brevo_app(make_app, httpserver):
    return make_app(BREVO_API_KEY="k", BREVO_API_URL=httpserver.url_for("/v3"))


def test_worker_posts_the_message_to_brevo(brevo_app, committed, httpserver):
    httpserver.expect_request("/v3/smtp/email", method="POST").respond_with_json(
        {"messageId": "<201@smtp-relay.mailin.fr>"}, status=201
    )
    queued = request_magic_link(brevo_app)
    make_worker(brevo_app, simple=True).work(burst=True)
    assert queued.get_status(refresh=True) == JobStatus.FINISHED
    assert queued.return_value() == "sent to pat@example.com (<201@smtp-relay.mailin.fr>)"
    [(request, _)] = httpserver.log
    assert request.headers["api-key"] == "k"
    payload = request.get_json()
    assert payload["sender"] == {"name": "ContentFlow", "email": "noreply@contentflow.local"}
    assert payload["to"] == [{"email": "pat@example.com"}]
    assert payload["subject"]
    assert SIGN_IN_LINK in payload["textContent"]
    assert SIGN_IN_LINK in payload["htmlContent"]
    assert outbox(committed) == []
    [row] = rows(committed)
    assert (row.status, row.provider_message_id) == ("sent", "<201@smtp-relay.mailin.fr>")
    assert (row.text_body, row.html_body) == ("", "")  # Brevo has it: the sign-in link is not kept


def test_brevo_server_error_schedules_a_retry(brevo_app, committed, httpserver):
    httpserver.expect_request("/v3/smtp/email", method="POST").respond_with_data("busy", status=500)
    queued = request_magic_link(brevo_app)
    make_worker(brevo_app, simple=True).work(burst=True)
    queued.refresh()
    queue = get_queue("email", brevo_app)
    assert queued.get_status() == JobStatus.SCHEDULED
    assert queued.retries_left == 3
    assert queued.id in queue.scheduled_job_registry
    assert queued.id not in queue.failed_job_registry
    [row] = rows(committed)
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "brevo answered 500")


def test_unreachable_brevo_schedules_a_retry(make_app, committed):
    app = make_app(BREVO_API_KEY="k", BREVO_API_URL="http://127.0.0.1:1/v3")
    queued = request_magic_link(app)
    make_worker(app, simple=True).work(burst=True)
    assert queued.get_status(refresh=True) == JobStatus.SCHEDULED
    assert outbox(committed) == []


def test_retried_email_is_sent_when_due_by_a_worker_with_scheduler(brevo_app, committed, httpserver):
    httpserver.expect_oneshot_request("/v3/smtp/email", method="POST").respond_with_data("busy", status=503)
    httpserver.expect_request("/v3/smtp/email", method="POST").respond_with_json(
        {"messageId": "<m2>"}, status=201
    )
    queued = request_magic_link(brevo_app)
    make_worker(brevo_app, simple=True).work(burst=True)
    queue = get_queue("email", brevo_app)
    queue.scheduled_job_registry.schedule(queued, datetime.now(UTC))  # the retry falls due now
    make_worker(brevo_app, simple=True).work(burst=True, with_scheduler=True)
    assert queued.get_status(refresh=True) == JobStatus.FINISHED
    assert len(httpserver.log) == 2


def test_brevo_refusal_fails_the_job_without_retry(brevo_app, committed, httpserver):
    httpserver.expect_request("/v3/smtp/email", method="POST").respond_with_json(
        {"code": "invalid_parameter", "message": "email is not valid"}, status=400
    )
    queued = request_magic_link(brevo_app)
    make_worker(brevo_app, simple=True).work(burst=True, with_scheduler=True)
    queued.refresh()
    queue = get_queue("email", brevo_app)
    assert queued.get_status() == JobStatus.FAILED
    assert queued.id in queue.failed_job_registry
    assert queued.id not in queue.scheduled_job_registry
    assert len(httpserver.log) == 1
    assert [row.status for row in rows(committed)] == ["failed"]


def test_failing_email_job_logs_no_sign_in_token(brevo_app, committed, httpserver, caplog):
    httpserver.expect_request("/v3/smtp/email", method="POST").respond_with_data("busy", status=500)
    request_magic_link(brevo_app)
    token = sign_in_token(committed)
    with caplog.at_level(logging.DEBUG):
        make_worker(brevo_app, simple=True).work(burst=True)
    assert any(record.levelno == logging.ERROR for record in caplog.records)  # the failure was logged
    for record in caplog.records:
        assert token not in record.getMessage()
        assert token not in repr(vars(record))


def test_flask_rq_worker_runs_the_job_in_a_forked_horse(app, committed, process_env):
    queued = request_magic_link(app)
    result = run_flask(process_env(), "rq", "worker", "--burst")
    assert result.returncode == 0, result.stderr
    assert queued.get_status(refresh=True) == JobStatus.FINISHED
    [message] = outbox(committed)
    assert SIGN_IN_LINK in message.text_body
    # Development prints the e-mail itself to the console (the outbox's purpose); the logs never do.
    log_lines = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("{")]
    assert any('"rq.worker"' in line for line in log_lines)
    token = message.text_body.split("token=", 1)[1].split()[0]
    assert not [line for line in log_lines if token in line]


def test_flask_rq_worker_refuses_an_unknown_queue(process_env):
    result = run_flask(process_env(), "rq", "worker", "--burst", "nowhere")
    assert result.returncode != 0
    assert "unknown queue(s) nowhere" in result.stderr


def test_job_enqueued_after_commit_waits_for_the_commit(app, committed):
    queue = get_queue("periodic", app)
    enqueue_after_commit(purge_expired_magic_links)
    assert queue.count == 0
    committed.session.commit()
    assert [job.func_name for job in queue.jobs] == ["contentflow.jobs.accounts.purge_expired_magic_links"]


def test_job_enqueued_after_commit_is_dropped_by_a_rollback(app, committed):
    queue = get_queue("periodic", app)
    enqueue_after_commit(purge_expired_magic_links)
    committed.session.rollback()
    committed.session.commit()  # a later commit does not bring it back
    assert queue.count == 0


def test_job_of_a_rolled_back_savepoint_is_dropped_and_the_others_kept(app, committed):
    enqueue_after_commit(purge_expired_magic_links)
    savepoint = committed.session.begin_nested()
    enqueue_after_commit("deliver_mail", 1)
    savepoint.rollback()
    committed.session.commit()
    assert get_queue("periodic", app).count == 1
    assert get_queue("email", app).count == 0


def test_job_of_a_released_savepoint_waits_for_the_outer_commit(app, committed):
    queue = get_queue("periodic", app)
    savepoint = committed.session.begin_nested()
    enqueue_after_commit(purge_expired_magic_links)
    savepoint.commit()
    assert queue.count == 0
    committed.session.commit()
    assert queue.count == 1


# --- the outbox: no e-mail lost when Redis fails after the commit, none sent twice --------------------


def test_magic_link_survives_redis_failing_between_the_commit_and_the_enqueue(app, committed, monkeypatch):
    import redis

    from contentflow.jobs.accounts import deliver_overdue_mail
    from contentflow.queueing import decorators

    def refuse(*args, **kwargs):
        raise redis.ConnectionError("Redis went away after the commit")

    client = app.test_client()
    token = csrf_token_of(client)
    monkeypatch.setattr(decorators, "enqueue_on", refuse)
    response = client.post("/partner/magic", data={"email": "pat@example.com", "csrf_token": token})
    monkeypatch.undo()
    assert response.status_code == 200  # committed: the partner is told the link is on its way
    [row] = rows(committed)
    assert row.status == "pending"
    assert get_queue("email", app).count == 0
    with app.app_context():
        assert deliver_overdue_mail() == "sent 0 overdue e-mails"  # its job may still come: not yet
        a_while_ago = datetime.now(UTC) - mail.OVERDUE_AFTER * 2
        committed.session.execute(sa_update(OutboxMessage).values(next_attempt_at=a_while_ago))
        committed.session.commit()
        assert deliver_overdue_mail() == "sent 1 overdue e-mails"
    [message] = outbox(committed)
    assert SIGN_IN_LINK in message.text_body


def test_a_rolled_back_request_leaves_no_email(app, committed):
    with app.test_request_context():
        mail.queue_message(mail.Message("pat@example.com", "s", "t"))
        committed.session.rollback()
    assert rows(committed) == []
    assert get_queue("email", app).count == 0


def test_a_row_being_sent_by_a_live_worker_is_not_taken_by_another(app, committed):
    with app.test_request_context():
        row = mail.queue_message(mail.Message("pat@example.com", "s", "t"))
        committed.session.commit()
        assert mail.claim(row.id) is not None
        committed.session.commit()
        assert mail.claim(row.id) is None  # a second job, or the sweep, finds it taken
        assert mail.overdue_ids() == []


def test_a_worker_killed_mid_send_leaves_the_row_to_the_sweep(app, committed):
    from contentflow.jobs.accounts import deliver_overdue_mail

    with app.test_request_context():
        row = mail.queue_message(mail.Message("pat@example.com", "s", "t"))
        committed.session.commit()
        mail.claim(row.id, now=datetime.now(UTC) - mail.STALE_CLAIM * 2)  # claimed, then the worker died
        committed.session.commit()
        assert mail.overdue_ids() == [row.id]
        assert deliver_overdue_mail() == "sent 1 overdue e-mails"
    [sent] = outbox(committed)
    assert (sent.status, sent.attempts) == ("sent", 2)


def test_a_sent_row_is_never_sent_again(app, committed):
    from contentflow.jobs.accounts import deliver_mail

    with app.test_request_context():
        row = mail.queue_message(mail.Message("pat@example.com", "s", "t"))
        committed.session.commit()
        assert deliver_mail(row.id).startswith("sent to pat@example.com")
        assert deliver_mail(row.id) == f"mail #{row.id}: nothing to send (sent, failed or being sent)"
    assert [r.attempts for r in rows(committed)] == [1]

"""Outgoing e-mail: written to the outbox in the caller's transaction (``queue_message``), delivered from
there through Brevo's transactional API (``POST /v3/smtp/email``) by the ``deliver_mail`` job.

- ``queue_message`` adds the row and asks for ``deliver_mail(<id>)`` once the transaction commits. If
  Redis fails at that moment the row waits: ``deliver_overdue_mail`` (every minute) finds it. So a
  committed sign-in request always gets its e-mail, and a rolled-back one never does.
- Delivery claims the row first (one conditional UPDATE: pending -> sending), so two workers never send
  the same row at once. A worker killed while sending leaves ``sending``; after ``STALE_CLAIM`` the sweep
  sends it again: e-mail is at-least-once, never lost.
- Without ``BREVO_API_KEY`` outside production, messages go to the console (stderr) and stay in the
  outbox for the dev outbox page.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

import requests
from flask import current_app
from sqlalchemy import or_, select, update

from contentflow.extensions import db
from contentflow.models import OutboxMessage
from contentflow.models.base import utcnow
from contentflow.models.outbox import DEV_OUTBOX
from contentflow.queueing import enqueue_after_commit

log = logging.getLogger(__name__)

#: The job (by name: the jobs layer sits above the services) that delivers one outbox row.
DELIVERY_JOB = "deliver_mail"
#: Waits after each failed attempt; the delivery job's RQ retries use the same intervals.
RETRY_INTERVALS = (10, 60, 300, 900)
MAX_ATTEMPTS = len(RETRY_INTERVALS) + 1
#: A row still pending this long after it fell due was missed by its job: the sweep takes it.
OVERDUE_AFTER = timedelta(minutes=1)
#: A claim older than this belongs to a worker that died mid-send (Brevo answers within 10 s).
STALE_CLAIM = timedelta(minutes=10)


@dataclass(frozen=True)
class Message:
    """One outgoing e-mail."""

    to: str
    subject: str
    text: str
    html: str = ""
    tag: str = "transactional"
    #: Extra headers (``List-Unsubscribe`` for a share e-mail): sent as they are by Brevo.
    headers: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


class TransientMailError(RuntimeError):
    """Brevo could not take the message now (timeout, 429, 5xx): try again later."""


class RejectedMailError(RuntimeError):
    """Brevo refused the message (4xx): retrying will not help."""


def queue_message(message: Message) -> OutboxMessage:
    """Write ``message`` to the outbox in the current transaction; it is delivered after the commit (and
    never if the transaction rolls back). Idempotent only per call: each call is one e-mail."""
    row = OutboxMessage(
        to_email=message.to,
        subject=message.subject[:300],
        text_body=message.text,
        html_body=message.html,
        tag=message.tag[:40],
        headers=dict(message.headers) or None,
        next_attempt_at=utcnow(),
    )
    db.session.add(row)
    db.session.flush()
    # The job carries the row id only: no address, no body, no token in Redis or in worker logs.
    enqueue_after_commit(DELIVERY_JOB, row.id, description=f"deliver_mail({message.tag})", best_effort=True)
    return row


def claim(message_id: int, *, now: datetime | None = None) -> OutboxMessage | None:
    """Take row ``message_id`` for delivery (pending, or claimed by a worker long dead): it becomes
    ``sending``. None when it is sent, failed, missing or being sent by another worker."""
    now = now or utcnow()
    claimed = db.session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == message_id,
            or_(
                OutboxMessage.status == "pending",
                (OutboxMessage.status == "sending") & (OutboxMessage.claimed_at < now - STALE_CLAIM),
            ),
        )
        .values(status="sending", claimed_at=now, attempts=OutboxMessage.attempts + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not claimed:
        return None
    row = db.session.get(OutboxMessage, message_id)
    db.session.refresh(row)
    return row


def send(row: OutboxMessage, *, now: datetime | None = None) -> str:
    """Deliver a claimed row and record the outcome on it. Returns the provider's message id.

    Raises TransientMailError (the row is pending again, due after its back-off; after ``MAX_ATTEMPTS``
    it is failed) or RejectedMailError (the row is failed). Never logs the body.
    """
    now = now or utcnow()
    message = Message(
        row.to_email, row.subject, row.text_body, row.html_body, row.tag, dict(row.headers or {})
    )
    try:
        provider_id = deliver(message)
    except TransientMailError as error:
        row.last_error = str(error)[:500]
        if row.attempts >= MAX_ATTEMPTS:
            row.status = "failed"
        else:
            row.status = "pending"
            row.next_attempt_at = now + timedelta(seconds=RETRY_INTERVALS[row.attempts - 1])
        db.session.flush()
        raise
    except RejectedMailError as error:
        row.status, row.last_error = "failed", str(error)[:500]
        db.session.flush()
        raise
    row.status, row.sent_at, row.provider_message_id = "sent", now, provider_id[:200]
    if provider_id != DEV_OUTBOX:
        row.text_body = row.html_body = ""  # Brevo has it: no sign-in link rests in our database
    db.session.flush()
    return provider_id


def overdue_ids(*, now: datetime | None = None, limit: int = 100) -> list[int]:
    """Rows their job missed: pending well past their due time, or claimed by a worker long dead."""
    now = now or utcnow()
    return list(
        db.session.scalars(
            select(OutboxMessage.id)
            .where(
                or_(
                    (OutboxMessage.status == "pending")
                    & (OutboxMessage.next_attempt_at <= now - OVERDUE_AFTER),
                    (OutboxMessage.status == "sending") & (OutboxMessage.claimed_at < now - STALE_CLAIM),
                )
            )
            .order_by(OutboxMessage.id)
            .limit(limit)
        )
    )


def dev_outbox(limit: int = 50) -> list[OutboxMessage]:
    """What went to the development outbox instead of Brevo, newest first."""
    return list(
        db.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.provider_message_id == DEV_OUTBOX)
            .order_by(OutboxMessage.id.desc())
            .limit(limit)
        )
    )


def brevo_payload(message: Message) -> dict:
    """The JSON body of Brevo's ``POST /v3/smtp/email`` for ``message``."""
    config = current_app.config
    payload = {
        "sender": {"name": config["EMAIL_FROM_NAME"], "email": config["EMAIL_FROM"]},
        "to": [{"email": message.to}],
        "subject": message.subject,
        "textContent": message.text,
        "tags": [message.tag],
    }
    if message.html:
        payload["htmlContent"] = message.html
    if message.headers:
        payload["headers"] = dict(message.headers)
    return payload


def deliver(message: Message) -> str:
    """Send ``message`` now. Returns Brevo's message id, or ``outbox`` in development without a key.

    Raises TransientMailError (retry) or RejectedMailError (do not retry). Never logs the body.
    """
    config = current_app.config
    if not config["BREVO_API_KEY"]:
        if config["IS_PRODUCTION"]:
            raise RejectedMailError("BREVO_API_KEY is not set")
        # Development only: the console is where a developer without Brevo reads the sign-in link.
        print(
            f"\n--- e-mail to {message.to}: {message.subject}\n{message.text}\n---",
            file=sys.stderr,
            flush=True,
        )
        return DEV_OUTBOX
    try:
        response = requests.post(
            f"{config['BREVO_API_URL'].rstrip('/')}/smtp/email",
            json=brevo_payload(message),
            headers={"api-key": config["BREVO_API_KEY"], "accept": "application/json"},
            timeout=10,
        )
    except requests.RequestException as error:
        raise TransientMailError(f"brevo unreachable: {type(error).__name__}") from None
    if response.status_code == 429 or response.status_code >= 500:
        raise TransientMailError(f"brevo answered {response.status_code}")
    if response.status_code >= 400:
        raise RejectedMailError(f"brevo refused the message: {response.status_code} {response.text[:200]}")
    try:
        message_id = str(response.json().get("messageId", ""))
    except (ValueError, AttributeError):
        message_id = ""  # accepted all the same: raising now would send it a second time
    log.info("mail sent", extra={"tag": message.tag, "brevo_message_id": message_id})
    return message_id

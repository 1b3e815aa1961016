"""Account jobs: e-mail delivery from the outbox, and sign-in token clean-up."""

from __future__ import annotations

import logging
from datetime import timedelta

from rq import Retry

from contentflow.extensions import db
from contentflow.queueing import PermanentJobError, Schedule, job
from contentflow.services import magic_links, mail

log = logging.getLogger(__name__)


@job("email", retry=Retry(max=len(mail.RETRY_INTERVALS), interval=list(mail.RETRY_INTERVALS)))
def deliver_mail(message_id: int) -> str:
    """Send outbox row ``message_id``, enqueued when the transaction that wrote it committed.

    A transient Brevo failure raises TransientMailError, so RQ retries with back-off; a refusal (or the
    last attempt failing) raises PermanentJobError: the job fails at once, visible in the failed-job
    registry. A row already sent or being sent is left alone (idempotent: one send per claim; a retry
    after a lost answer may send twice: e-mail is at-least-once).
    """
    row = mail.claim(message_id)
    db.session.commit()  # the claim is visible before the send: no other worker takes the row
    if row is None:
        return f"mail #{message_id}: nothing to send (sent, failed or being sent)"
    try:
        provider_id = mail.send(row)
    except mail.TransientMailError as error:
        db.session.commit()
        if row.status == "failed":
            raise PermanentJobError(
                f"mail #{message_id} failed after {row.attempts} attempts: {error}"
            ) from None
        raise
    except mail.RejectedMailError as error:
        db.session.commit()
        raise PermanentJobError(f"mail rejected, not retried: {error}") from None
    db.session.commit()
    return f"sent to {row.to_email} ({provider_id})"


@job("email", timeout=300)
def deliver_overdue_mail() -> str:
    """Send the outbox rows their job missed (Redis failed after the commit, a worker died mid-send).
    Commits per row; a failure leaves the row for its next attempt. Idempotent."""
    sent = failed = 0
    for message_id in mail.overdue_ids():
        row = mail.claim(message_id)
        db.session.commit()
        if row is None:
            continue
        try:
            mail.send(row)
            sent += 1
        except (mail.TransientMailError, mail.RejectedMailError) as error:
            failed += 1
            log.warning("overdue mail #%d not sent: %s", message_id, type(error).__name__)
        db.session.commit()
    return f"sent {sent} overdue e-mails" + (f", {failed} failed" if failed else "")


@job("periodic")
def purge_expired_magic_links() -> str:
    """Delete sign-in tokens used or expired more than a day ago. Idempotent."""
    count = magic_links.purge_tokens()
    db.session.commit()
    return f"purged {count} sign-in tokens"


JOBS = (deliver_mail, deliver_overdue_mail, purge_expired_magic_links)
SCHEDULES = (
    Schedule(purge_expired_magic_links, every=timedelta(hours=1)),
    Schedule(deliver_overdue_mail, every=timedelta(minutes=1), queue="email"),
)

"""Account jobs: e-mail delivery and sign-in token clean-up."""

from __future__ import annotations

import logging
from datetime import timedelta

from rq import Retry

from contentflow.extensions import db
from contentflow.plugin import Schedule
from contentflow.queueing import PermanentJobError, job
from contentflow.services import magic_links, mail

log = logging.getLogger(__name__)


@job("email", retry=Retry(max=4, interval=[10, 60, 300, 900]))
def deliver_email(message: dict) -> str:
    """Send one e-mail (a ``mail.Message`` as a dict).

    Transient Brevo failures raise TransientMailError, so RQ retries; a refusal raises PermanentJobError:
    the job fails at once, visible in the failed-job registry. Not idempotent: a retry after a lost
    answer may send twice (e-mail is at-least-once).
    """
    try:
        result = mail.deliver(mail.Message(**message))
    except mail.RejectedMailError as error:
        raise PermanentJobError(f"mail rejected, not retried: {error}") from None
    db.session.commit()
    return f"sent to {message['to']} ({result})"


@job("periodic")
def purge_expired_magic_links() -> str:
    """Delete sign-in tokens used or expired more than a day ago. Idempotent."""
    count = magic_links.purge_tokens()
    db.session.commit()
    return f"purged {count} sign-in tokens"


JOBS = (deliver_email, purge_expired_magic_links)
SCHEDULES = (Schedule(purge_expired_magic_links, every=timedelta(hours=1)),)

"""What happened to a post, recorded on its assignment: posted, tried again later, failed for good, or
waiting for the partner to reconnect the account. Each returns the outcome's name (the job counts them);
each flushes and the caller commits."""

from __future__ import annotations

from datetime import datetime

from flask import current_app

from contentflow.extensions import db
from contentflow.models import Assignment, PartnerAccount
from plugins.publish.publishers.base import Published, PublishError, TransientError
from plugins.publish.services import accounts, pacing


def record_posted(assignment: Assignment, published: Published, now: datetime) -> str:
    """The post is on the platform: keep its id and URL. Returns ``posted``. Idempotent for the same
    post; raises nothing of its own."""
    assignment.status = "posted"
    assignment.external_post_id = published.external_id[:200]
    assignment.external_url = published.url[:2048]
    assignment.posted_at = now
    assignment.last_error = None
    db.session.flush()
    return "posted"


def record_retry(assignment: Assignment, error: TransientError, now: datetime) -> str:
    """The post failed for now: back to the queue after its back-off (``retry``), or ``failed`` once
    ``PUBLISH_MAX_ATTEMPTS`` tries are spent. Not idempotent on its own: the caller moves the assignment
    out of ``posting`` once. Raises nothing of its own."""
    if assignment.attempts >= current_app.config["PUBLISH_MAX_ATTEMPTS"]:
        return record_failed(assignment, f"gave up after {assignment.attempts} attempts: {error.message}")
    assignment.status = "approved"
    assignment.planned_at = now + pacing.backoff(assignment.attempts, error.retry_after)
    assignment.posting_started_at = None
    assignment.last_error = error.message
    db.session.flush()
    return "retry"


def record_failed(assignment: Assignment, message: str) -> str:
    """The post cannot be made (the platform refused it, or too many tries). Returns ``failed``.
    Idempotent; raises nothing of its own."""
    assignment.status = "failed"
    assignment.posting_started_at = None
    assignment.last_error = message[:1000]
    db.session.flush()
    return "failed"


def record_reconnect(assignment: Assignment, account: PartnerAccount, error: PublishError) -> str:
    """The account's authorization was refused: the account stops until the partner reconnects it, and
    the assignment, which was not at fault, waits approved without losing an attempt. Returns
    ``reconnect``. Not idempotent on its own (it gives the attempt back): the caller moves the assignment
    out of ``posting`` once. Raises nothing of its own."""
    accounts.mark_needs_reconnect(account, error.message)
    assignment.status = "approved"  # posted once the partner reconnects
    assignment.attempts = max(assignment.attempts - 1, 0)
    assignment.posting_started_at = None
    assignment.last_error = error.message
    db.session.flush()
    return "reconnect"

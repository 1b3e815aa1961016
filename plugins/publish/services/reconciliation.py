"""Reconciliation of stuck posts: an assignment still ``posting`` after
``PUBLISH_POSTING_TIMEOUT_MINUTES`` belongs to a worker that died. Its post is looked up where the API
allows it: found, it is ``posted``; not there, it goes back to the queue; where the platform cannot be
searched, answers what we cannot read, or stays unreachable for ``LOOK_UP_FOR``, ``needs_review`` for an
admin. Never a blind re-post."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update

from contentflow.extensions import db
from contentflow.models import Asset, Assignment, PartnerAccount
from contentflow.models.base import utcnow
from plugins.publish.publishers.base import AuthError, CannotFind, PublishError, TransientError
from plugins.publish.services import accounts, outcomes, posts
from plugins.publish.services.claims import lock_rows

log = logging.getLogger(__name__)

#: How long the reconciliation keeps asking a platform that cannot answer before an admin is asked.
LOOK_UP_FOR = timedelta(hours=24)


def reconcile_stuck(*, now: datetime | None = None) -> dict[str, int]:
    """Settle assignments left ``posting`` past the timeout by a worker that died (module docstring).
    Commits per assignment; returns counts by outcome. Idempotent: each stuck assignment is locked and
    settled once, and a second run finds only those still waiting for their platform. Raises nothing:
    an unexpected error on one assignment sends it to an admin."""
    now = now or utcnow()
    cutoff = now - timedelta(minutes=current_app.config["PUBLISH_POSTING_TIMEOUT_MINUTES"])
    outcome_counts: dict[str, int] = {}
    statement = select(Assignment.id).where(
        Assignment.status == "posting", Assignment.posting_started_at < cutoff
    )
    for assignment_id in list(db.session.scalars(statement.order_by(Assignment.id).limit(100))):
        try:
            outcome = _reconcile_one(assignment_id, cutoff, now)
        except Exception:
            # A bug, not a platform answer: this assignment waits for an admin, and it does not stop
            # the run (nor every later run) from settling and posting the others.
            db.session.rollback()
            log.exception("reconciling assignment %d failed unexpectedly", assignment_id)
            outcome = _give_up_looking(assignment_id, cutoff)
        db.session.commit()
        outcome_counts[outcome] = outcome_counts.get(outcome, 0) + 1
    return outcome_counts


def _give_up_looking(assignment_id: int, cutoff: datetime) -> str:
    moved = db.session.execute(
        update(Assignment)
        .where(
            Assignment.id == assignment_id,
            Assignment.status == "posting",
            Assignment.posting_started_at < cutoff,
        )
        .values(
            status="needs_review",
            last_error="a worker stopped during the post and looking it up failed: check it",
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    return "review" if moved else "busy"


def _lock_stuck(assignment_id: int, cutoff: datetime) -> Assignment | None:
    statement = select(Assignment).where(
        Assignment.id == assignment_id, Assignment.status == "posting", Assignment.posting_started_at < cutoff
    )
    statement = lock_rows(statement, skip_locked=True)
    return db.session.scalar(statement.execution_options(populate_existing=True))


def _reconcile_one(assignment_id: int, cutoff: datetime, now: datetime) -> str:
    assignment = _lock_stuck(assignment_id, cutoff)
    if assignment is None:
        return "busy"
    account = (
        db.session.get(PartnerAccount, assignment.partner_account_id)
        if assignment.partner_account_id
        else None
    )
    if account is None:
        return _record_review(assignment, "the account was removed during the post")
    asset = db.session.get(Asset, assignment.asset_id)
    post = posts.build_post(assignment, asset, accounts.settings_of(account).target)
    try:
        found = posts.look_up(account, post, now)
    except CannotFind:
        return _record_review(assignment, "this platform cannot be searched: check it")
    except AuthError as error:
        accounts.mark_needs_reconnect(account, error.message)
        return _record_review(assignment, "the account must be reconnected to check")
    except TransientError as error:
        if assignment.posting_started_at > now - LOOK_UP_FOR:
            return "later"  # the platform cannot answer now: looked up again at the next run
        return _record_review(assignment, f"it could not be looked up: {error.message}")
    except PublishError as error:  # an answer we cannot read: asking again would not help
        return _record_review(assignment, f"looking it up failed: {error.message}")
    if found is not None:
        return outcomes.record_posted(assignment, found, now)
    error = TransientError("a worker stopped during the post, and the post is not on the platform")
    return outcomes.record_retry(assignment, error, now)


def _record_review(assignment: Assignment, why: str) -> str:
    """An admin decides: the post of a worker that stopped mid-post may or may not be on the platform."""
    assignment.status = "needs_review"
    assignment.last_error = f"a worker stopped during the post and {why}"[:1000]
    db.session.flush()
    return "review"

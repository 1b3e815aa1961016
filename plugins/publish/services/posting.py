"""Posting approved assignments: claim one at a time, post it with the partner's own credentials, record
what happened. Never the same assignment twice, even when a worker dies mid-post. ``jobs.publish_due``
first ends what can never be posted (``claims.settle_unpostable``) and reconciles (step 3), then claims
and posts one assignment at a time, committing after each step:

1. **Claim** (``claims.claim_next``): the oldest due assignment that may be posted now, under row locks,
   within the account's cap and interval (``pacing``); committed before anything is sent.
2. **Post** (``prepare``, then ``send``, below): refresh the token when due and commit it, call the
   platform's publisher with no transaction open, then record (``outcomes``) ``posted`` (id and URL), a
   retry with back-off (``TransientError``; ``Retry-After`` honoured), a reconnection request
   (``AuthError``: the account stops until the partner reconnects), or ``failed`` (``PermanentError``, or
   too many attempts). When the request that creates the post may have reached the platform (a timeout,
   a 5xx), the post is looked up; not found yet, it waits for step 3.
3. **Reconcile** (``reconciliation.reconcile_stuck``): posts left ``posting`` by a worker that died are
   looked up, never blindly re-posted.

What a post says (``build_post``) lives in ``posts``. The names the job and the tests use from the other
modules are re-exported here, so ``posting`` stays the one entry point.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from contentflow.extensions import db
from contentflow.models import Asset, Assignment, PartnerAccount
from contentflow.models.base import utcnow
from plugins.publish.platforms import get_platform
from plugins.publish.publishers import publisher
from plugins.publish.publishers.base import (
    Account,
    AuthError,
    CannotFind,
    Post,
    Published,
    PublishError,
    TransientError,
)
from plugins.publish.services import accounts, outcomes, posts
from plugins.publish.services.claims import Claimed, claim_next, settle_unpostable
from plugins.publish.services.posts import build_post
from plugins.publish.services.reconciliation import reconcile_stuck

__all__ = [
    "MAX_POSTS_PER_RUN",
    "Claimed",
    "Prepared",
    "build_post",
    "claim_next",
    "prepare",
    "reconcile_stuck",
    "send",
    "settle_unpostable",
]

#: What a run does at most, so one run cannot hold the publish queue for long.
MAX_POSTS_PER_RUN = 20


@dataclass(frozen=True)
class Prepared:
    """A claimed assignment ready to send: its post and the account's fresh credentials."""

    assignment_id: int
    account_id: int
    post: Post
    credentials: Account


def prepare(claimed: Claimed, *, now: datetime | None = None) -> Prepared | str:
    """Build the post of a claimed assignment and make sure its token is valid (a refreshed token is
    stored: the caller commits it before sending, so a worker dying mid-post loses no new token). Returns
    the outcome instead when it cannot be sent: ``reconnect`` (refresh refused), ``retry``, ``gone`` (no
    longer ``posting``, so preparing twice sends nothing twice). Raises nothing of its own."""
    now = now or utcnow()
    assignment = db.session.get(Assignment, claimed.assignment_id)
    account = db.session.get(PartnerAccount, claimed.account_id)
    if assignment is None or account is None or assignment.status != "posting":
        return "gone"
    post = posts.build_post(
        assignment, db.session.get(Asset, assignment.asset_id), accounts.settings_of(account).target
    )
    try:
        credentials = accounts.fresh_credentials(account, now=now)
    except AuthError as error:
        return outcomes.record_reconnect(assignment, account, error)
    except TransientError as error:
        return outcomes.record_retry(assignment, error, now)
    return Prepared(assignment.id, account.id, post, credentials)


def send(prepared: Prepared, *, now: datetime | None = None) -> str:
    """Post a prepared assignment (no database transaction is open while the platform works) and record
    the outcome: ``posted``, ``retry``, ``reconnect``, ``failed``, ``review`` (its outcome could not be found
    out) or ``unknown`` (left ``posting`` for the reconciliation). The caller commits. Not idempotent: it
    posts, so it runs once per claim. Raises nothing of its own: the platform's errors are outcomes."""
    now = now or utcnow()
    platform_name = prepared.credentials.platform
    outcome: Published | PublishError
    try:
        outcome = publisher(platform_name).publish(
            prepared.post, prepared.credentials, get_platform(platform_name)
        )
    except PublishError as error:
        outcome = error
    assignment = db.session.get(Assignment, prepared.assignment_id)
    account = db.session.get(PartnerAccount, prepared.account_id)
    if assignment is None or account is None:
        return "gone"
    if isinstance(outcome, Published):
        return outcomes.record_posted(assignment, outcome, now)
    if isinstance(outcome, AuthError):
        return outcomes.record_reconnect(assignment, account, outcome)
    if isinstance(outcome, TransientError):
        if not outcome.maybe_posted:
            return outcomes.record_retry(assignment, outcome, now)
        return _settle_unknown(assignment, account, prepared.post, outcome, now)
    return outcomes.record_failed(assignment, outcome.message)


def _settle_unknown(
    assignment: Assignment, account: PartnerAccount, post: Post, error: TransientError, now: datetime
) -> str:
    """The creating request may have reached the platform: look for the post. Found, it is recorded.
    Not found, the assignment stays ``posting`` until the reconciliation looks again after the timeout:
    a platform may list a new post only after a while (YouTube's uploads), and trying again now could
    post twice."""
    try:
        found = posts.look_up(account, post, now)
    except CannotFind:
        assignment.status, assignment.last_error = "needs_review", error.message
        db.session.flush()
        return "review"
    except PublishError:
        found = None
    if found is not None:
        return outcomes.record_posted(assignment, found, now)
    assignment.last_error = f"{error.message}; looked up again later before any new try"
    db.session.flush()
    return "unknown"

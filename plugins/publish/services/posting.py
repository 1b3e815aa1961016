"""Posting approved assignments: claim one at a time, post it with the partner's own credentials, record
what happened. Never the same assignment twice, even when a worker dies mid-post.

1. **Claim** (``claim_next``): the oldest due approved assignment whose asset is ready, whose account is
   enabled and connected and whose partner is not on hold (core holds service), locked with ``SELECT ...
   FOR UPDATE SKIP LOCKED`` together with its account row, so two workers neither take the same
   assignment nor post twice on one account past its cap. The account's daily cap (posts in the last
   24 hours, rolling) and minimum interval are checked under that lock; an assignment that must wait is
   given its next possible time. The claim (``approved -> posting``, ``posting_started_at``) is a
   conditional UPDATE, committed before anything is sent. SQLite takes its write lock at ``BEGIN
   IMMEDIATE``: same effect.
2. **Post** (``prepare``, then ``send``): refresh the token when due and commit it, call the platform's
   publisher with no transaction open, then record
   ``posted`` (id and URL), a retry with back-off (``TransientError``; ``Retry-After`` honoured), a
   reconnection request (``AuthError``: the account stops until the partner reconnects), or ``failed``
   (``PermanentError``, or too many attempts). When the request that creates the post may have reached
   the platform (a timeout, a 5xx), the post is looked up; not found yet, it waits for step 3.
3. **Reconcile** (``reconcile_stuck``): an assignment still ``posting`` after
   ``PUBLISH_POSTING_TIMEOUT_MINUTES`` belongs to a worker that died. Its post is looked up where the API
   allows it: found, it is ``posted``; not there, it goes back to the queue; where the platform cannot
   be searched, answers what we cannot read, or stays unreachable for ``LOOK_UP_FOR``, ``needs_review``
   for an admin. Never a blind re-post.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy import func, or_, select, update

from contentflow.extensions import db
from contentflow.models import Asset, Assignment, PartnerAccount
from contentflow.models.base import utcnow
from contentflow.services import holds, links
from plugins.publish.models import AccountSettings
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
from plugins.publish.services import accounts

log = logging.getLogger(__name__)

#: What a run does at most, so one run cannot hold the publish queue for long.
MAX_POSTS_PER_RUN = 20
#: Waits before attempt n + 1 (the last value repeats), unless the platform said when.
BACKOFF_MINUTES = (1, 5, 15, 60)
#: Statuses whose posting time counts against an account's cap and interval.
COUNTED = ("posting", "posted", "needs_review")
DAY = timedelta(hours=24)
#: How long the reconciliation keeps asking a platform that cannot answer before an admin is asked.
LOOK_UP_FOR = timedelta(hours=24)


@dataclass(frozen=True)
class Claimed:
    """An assignment this worker took, with what posting it needs."""

    assignment_id: int
    account_id: int


def _is_postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def backoff(attempts: int, retry_after: float | None) -> timedelta:
    wait = timedelta(minutes=BACKOFF_MINUTES[min(max(attempts, 1), len(BACKOFF_MINUTES)) - 1])
    return max(wait, timedelta(seconds=retry_after or 0))


def settle_unpostable(*, now: datetime) -> int:
    """Assignments whose asset can never be posted end now: quarantined (DMCA) ones are skipped, those of
    an asset whose ingestion failed fail. Returns how many."""
    changed = 0
    for status, new, why in (
        ("quarantined", "skipped", "the asset was taken down"),
        ("failed", "failed", "the asset's video could not be ingested"),
    ):
        changed += db.session.execute(
            update(Assignment)
            .where(
                Assignment.status.in_(("pending", "approved")),
                Assignment.asset_id.in_(select(Asset.id).where(Asset.status == status)),
            )
            .values(status=new, last_error=why, updated_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
    return changed


def _due(now: datetime, passed: set[int]):
    statement = (
        select(Assignment)
        .join(Asset, Asset.id == Assignment.asset_id)
        .join(PartnerAccount, PartnerAccount.id == Assignment.partner_account_id)
        .outerjoin(AccountSettings, AccountSettings.account_id == PartnerAccount.id)
        .where(
            Assignment.status == "approved",
            or_(Assignment.planned_at.is_(None), Assignment.planned_at <= now),
            Asset.status == "ready",
            PartnerAccount.enabled.is_(True),
            or_(AccountSettings.needs_reconnect.is_(None), AccountSettings.needs_reconnect.is_(False)),
        )
        .order_by(Assignment.planned_at, Assignment.id)
        .limit(1)
    )
    if passed:
        statement = statement.where(Assignment.id.not_in(passed))
    if _is_postgresql():
        statement = statement.with_for_update(of=Assignment, skip_locked=True)
    return statement


def _lock_account(account_id: int) -> PartnerAccount | None:
    statement = select(PartnerAccount).where(PartnerAccount.id == account_id)
    if _is_postgresql():
        statement = statement.with_for_update(skip_locked=True)
    return db.session.scalar(statement.execution_options(populate_existing=True))


def next_slot(account: PartnerAccount, *, now: datetime) -> datetime | None:
    """When the account may post again: None now, else the time its daily cap (rolling 24 h) or its
    minimum interval allows."""
    started = list(
        db.session.scalars(
            select(Assignment.posting_started_at)
            .where(
                Assignment.partner_account_id == account.id,
                Assignment.status.in_(COUNTED),
                Assignment.posting_started_at > now - DAY,
            )
            .order_by(Assignment.posting_started_at)
        )
    )
    waits = []
    if len(started) >= account.daily_cap:
        # The cap frees up when the oldest post of the window leaves it.
        waits.append(started[len(started) - account.daily_cap] + DAY if account.daily_cap else now + DAY)
    if started and account.min_interval_minutes:
        waits.append(started[-1] + timedelta(minutes=account.min_interval_minutes))
    later = max(waits, default=None)
    return later if later is not None and later > now else None


def claim_next(*, now: datetime | None = None, passed: set[int] | None = None) -> Claimed | None:
    """Take the next assignment that may be posted now (see the module docstring), in the current
    transaction; the caller commits before posting. ``passed`` collects ids looked at and left (partner
    on hold, account busy or at its cap), so one run does not look at them again. None: nothing to do."""
    now = now or utcnow()
    passed = passed if passed is not None else set()
    while True:
        assignment = db.session.scalar(_due(now, passed))
        if assignment is None:
            return None
        passed.add(assignment.id)
        if holds.is_on_hold(assignment.partner_id, now=now):
            continue  # stays approved: posted once the hold ends
        account = _lock_account(assignment.partner_account_id)
        if account is None:
            continue  # another worker is posting on this account now
        later = next_slot(account, now=now)
        if later is not None:
            assignment.planned_at = later
            db.session.flush()
            continue
        # Conditional, on top of the row lock: whatever the database's locking, only the worker that
        # moves it from approved takes it.
        taken = db.session.execute(
            update(Assignment)
            .where(Assignment.id == assignment.id, Assignment.status == "approved")
            .values(
                status="posting",
                posting_started_at=now,
                attempts=Assignment.attempts + 1,
                post_tag=func.coalesce(Assignment.post_tag, f"cf{assignment.id}{secrets.token_hex(4)}"),
                updated_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        ).rowcount
        db.session.refresh(assignment)
        if not taken:
            continue
        # The short link the post carries is committed with the claim: if this worker dies mid-post, the
        # reconciliation looks for the very same link on the platform.
        links.get_or_create_link(assignment.partner_id, assignment.asset_id)
        db.session.flush()
        return Claimed(assignment.id, account.id)


# --- the post ----------------------------------------------------------------------------------------


def _media(relative: str | None) -> Path | None:
    if not relative:
        return None
    return Path(current_app.config["MEDIA_ROOT"]) / relative


def _public_media_url(asset: Asset, kind: str) -> str | None:
    from contentflow.services import media

    return media.public_url(asset, kind)


def build_post(assignment: Assignment, asset: Asset, target: str | None) -> Post:
    """The post of ``assignment``: the asset's text, the call to action with the partner's own short
    link, the hashtags and the ``#ad`` disclosure (every post carries both)."""
    link = links.short_url(links.get_or_create_link(assignment.partner_id, asset.id))
    hashtags = [word for word in asset.hashtags.split() if word.startswith("#") and len(word) > 1]
    if "#ad" not in (tag.lower() for tag in hashtags):
        hashtags.append("#ad")
    call_to_action = f"{asset.cta.strip()} {link}".strip()
    text = "\n\n".join(
        part for part in (asset.description.strip(), call_to_action, " ".join(hashtags)) if part
    )
    has_video = bool(asset.media_path)
    return Post(
        assignment_id=assignment.id,
        title=asset.title,
        text=text,
        link=link,
        tags=tuple(tag.lstrip("#") for tag in hashtags),
        marker=assignment.post_tag or f"cf{assignment.id}",
        media_path=_media(asset.media_path),
        media_type=asset.mime_type,
        media_size=asset.size_bytes,
        media_url=_public_media_url(asset, "video") if has_video else None,
        cover_path=_media(asset.cover_path),
        cover_url=_public_media_url(asset, "cover") if asset.cover_path else None,
        target=target,
    )


def _record_posted(assignment: Assignment, published: Published, now: datetime) -> str:
    assignment.status = "posted"
    assignment.external_post_id = published.external_id[:200]
    assignment.external_url = published.url[:2048]
    assignment.posted_at = now
    assignment.last_error = None
    db.session.flush()
    return "posted"


def _record_retry(assignment: Assignment, error: TransientError, now: datetime) -> str:
    if assignment.attempts >= current_app.config["PUBLISH_MAX_ATTEMPTS"]:
        return _record_failed(assignment, f"gave up after {assignment.attempts} attempts: {error.message}")
    assignment.status = "approved"
    assignment.planned_at = now + backoff(assignment.attempts, error.retry_after)
    assignment.posting_started_at = None
    assignment.last_error = error.message
    db.session.flush()
    return "retry"


def _record_failed(assignment: Assignment, message: str) -> str:
    assignment.status = "failed"
    assignment.posting_started_at = None
    assignment.last_error = message[:1000]
    db.session.flush()
    return "failed"


def _record_reconnect(assignment: Assignment, account: PartnerAccount, error: PublishError) -> str:
    accounts.mark_needs_reconnect(account, error.message)
    assignment.status = (
        "approved"  # posted once the partner reconnects: the account was at fault, not the post
    )
    assignment.attempts = max(assignment.attempts - 1, 0)
    assignment.posting_started_at = None
    assignment.last_error = error.message
    db.session.flush()
    return "reconnect"


def _look_up(assignment: Assignment, account: PartnerAccount, post: Post, now: datetime) -> Published | None:
    """The platform's post for this assignment, or None. Raises CannotFind, TransientError, AuthError."""
    credentials = accounts.fresh_credentials(account, now=now)
    return publisher(account.platform).find(post, credentials, get_platform(account.platform))


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
    the outcome instead when it cannot be sent: ``reconnect`` (refresh refused), ``retry``, ``gone``."""
    now = now or utcnow()
    assignment = db.session.get(Assignment, claimed.assignment_id)
    account = db.session.get(PartnerAccount, claimed.account_id)
    if assignment is None or account is None or assignment.status != "posting":
        return "gone"
    post = build_post(
        assignment, db.session.get(Asset, assignment.asset_id), accounts.settings_of(account).target
    )
    try:
        credentials = accounts.fresh_credentials(account, now=now)
    except AuthError as error:
        return _record_reconnect(assignment, account, error)
    except TransientError as error:
        return _record_retry(assignment, error, now)
    return Prepared(assignment.id, account.id, post, credentials)


def send(prepared: Prepared, *, now: datetime | None = None) -> str:
    """Post a prepared assignment (no database transaction is open while the platform works) and record
    the outcome: ``posted``, ``retry``, ``reconnect``, ``failed``, ``review`` (its outcome could not be found
    out) or ``unknown`` (left ``posting`` for the reconciliation). The caller commits."""
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
        return _record_posted(assignment, outcome, now)
    if isinstance(outcome, AuthError):
        return _record_reconnect(assignment, account, outcome)
    if isinstance(outcome, TransientError):
        if not outcome.maybe_posted:
            return _record_retry(assignment, outcome, now)
        return _settle_unknown(assignment, account, prepared.post, outcome, now)
    return _record_failed(assignment, outcome.message)


def _settle_unknown(
    assignment: Assignment, account: PartnerAccount, post: Post, error: TransientError, now: datetime
) -> str:
    """The creating request may have reached the platform: look for the post. Found, it is recorded.
    Not found, the assignment stays ``posting`` until the reconciliation looks again after the timeout:
    a platform may list a new post only after a while (YouTube's uploads), and trying again now could
    post twice."""
    try:
        found = _look_up(assignment, account, post, now)
    except CannotFind:
        assignment.status, assignment.last_error = "needs_review", error.message
        db.session.flush()
        return "review"
    except PublishError:
        found = None
    if found is not None:
        return _record_posted(assignment, found, now)
    assignment.last_error = f"{error.message}; looked up again later before any new try"
    db.session.flush()
    return "unknown"


def reconcile_stuck(*, now: datetime | None = None) -> dict[str, int]:
    """Settle assignments left ``posting`` past the timeout by a worker that died (module docstring).
    Commits per assignment; returns counts by outcome."""
    now = now or utcnow()
    cutoff = now - timedelta(minutes=current_app.config["PUBLISH_POSTING_TIMEOUT_MINUTES"])
    outcomes: dict[str, int] = {}
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
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


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


def _reconcile_one(assignment_id: int, cutoff: datetime, now: datetime) -> str:
    statement = select(Assignment).where(
        Assignment.id == assignment_id, Assignment.status == "posting", Assignment.posting_started_at < cutoff
    )
    if _is_postgresql():
        statement = statement.with_for_update(skip_locked=True)
    assignment = db.session.scalar(statement.execution_options(populate_existing=True))
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
    post = build_post(assignment, asset, accounts.settings_of(account).target)
    try:
        found = _look_up(assignment, account, post, now)
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
        return _record_posted(assignment, found, now)
    error = TransientError("a worker stopped during the post, and the post is not on the platform")
    return _record_retry(assignment, error, now)


def _record_review(assignment: Assignment, why: str) -> str:
    """An admin decides: the post of a worker that stopped mid-post may or may not be on the platform."""
    assignment.status = "needs_review"
    assignment.last_error = f"a worker stopped during the post and {why}"[:1000]
    db.session.flush()
    return "review"


def count_posted_since(account_id: int, since: datetime) -> int:
    """How many posts the account made (or is making) since ``since``."""
    return int(
        db.session.scalar(
            select(func.count())
            .select_from(Assignment)
            .where(
                Assignment.partner_account_id == account_id,
                Assignment.status.in_(COUNTED),
                Assignment.posting_started_at >= since,
            )
        )
    )

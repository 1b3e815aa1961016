"""Claiming: which approved assignment a worker posts next, taken so that no other worker takes it.

The oldest due approved assignment whose asset is ready, whose account is enabled and connected and whose
partner is not on hold (core holds service) is locked with ``SELECT ... FOR UPDATE SKIP LOCKED`` together
with its account row, so two workers neither take the same assignment nor post twice on one account past
its cap. The account's daily cap and minimum interval (``pacing``) are checked under that lock; an
assignment that must wait is given its next possible time. The claim (``approved -> posting``,
``posting_started_at``) is a conditional UPDATE, committed by the caller before anything is sent. SQLite
takes its write lock at ``BEGIN IMMEDIATE``: same effect.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select, update

from contentflow.extensions import db
from contentflow.models import Asset, Assignment, PartnerAccount
from contentflow.models.base import utcnow
from contentflow.services import holds, links
from plugins.publish.models import AccountSettings
from plugins.publish.services import pacing


@dataclass(frozen=True)
class Claimed:
    """An assignment this worker took, with what posting it needs."""

    assignment_id: int
    account_id: int


def lock_rows(statement: Select, **options: Any) -> Select:
    """``statement`` with ``FOR UPDATE`` (``options`` as ``with_for_update`` takes them) on PostgreSQL;
    unchanged on SQLite, which has no row locks and serialises writers at ``BEGIN IMMEDIATE``."""
    if db.session.get_bind().dialect.name == "postgresql":
        return statement.with_for_update(**options)
    return statement


def settle_unpostable(*, now: datetime) -> int:
    """Assignments whose asset can never be posted end now: quarantined (DMCA) ones are skipped, those of
    an asset whose ingestion failed fail. Returns how many. Idempotent (a second run finds none); raises
    nothing of its own; the caller commits."""
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


def _due(now: datetime, passed: set[int]) -> Select:
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
    return lock_rows(statement, of=Assignment, skip_locked=True)


def _lock_account(account_id: int) -> PartnerAccount | None:
    statement = lock_rows(select(PartnerAccount).where(PartnerAccount.id == account_id), skip_locked=True)
    return db.session.scalar(statement.execution_options(populate_existing=True))


def _take(assignment: Assignment, now: datetime) -> bool:
    """Move the assignment from approved to posting; False when another worker took it first."""
    # Conditional, on top of the row lock: whatever the database's locking, only the worker that moves it
    # from approved takes it.
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
    return bool(taken)


def claim_next(*, now: datetime | None = None, passed: set[int] | None = None) -> Claimed | None:
    """Take the next assignment that may be posted now (see the module docstring), in the current
    transaction; the caller commits before posting. ``passed`` collects ids looked at and left (partner
    on hold, account busy or at its cap), so one run does not look at them again. None: nothing to do.
    Safe to run from many workers at once: each assignment is claimed once. Raises nothing of its own."""
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
            continue  # another worker is claiming on this account now: the next run (a minute) takes it
        later = pacing.next_slot(account, now=now)
        if later is not None:
            assignment.planned_at = later
            db.session.flush()
            continue
        if not _take(assignment, now):
            continue
        # The short link the post carries is committed with the claim: if this worker dies mid-post, the
        # reconciliation looks for the very same link on the platform.
        links.get_or_create_link(assignment.partner_id, assignment.asset_id)
        db.session.flush()
        return Claimed(assignment.id, account.id)

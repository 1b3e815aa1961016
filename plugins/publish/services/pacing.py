"""Caps and intervals: when an account may post again (its daily cap over a rolling 24 hours, its minimum
interval between posts), and how long a post that failed for now waits before its next attempt."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from contentflow.extensions import db
from contentflow.models import Assignment, PartnerAccount

#: Waits before attempt n + 1 (the last value repeats), unless the platform said when.
BACKOFF_MINUTES = (1, 5, 15, 60)
#: Statuses whose posting time counts against an account's cap and interval.
COUNTED = ("posting", "posted", "needs_review")
DAY = timedelta(hours=24)


def backoff(attempts: int, retry_after: float | None) -> timedelta:
    """The wait before the next try after ``attempts`` tries: ``BACKOFF_MINUTES``, or the platform's
    ``Retry-After`` (seconds) when that is longer. Pure; raises nothing."""
    wait = timedelta(minutes=BACKOFF_MINUTES[min(max(attempts, 1), len(BACKOFF_MINUTES)) - 1])
    return max(wait, timedelta(seconds=retry_after or 0))


def next_slot(account: PartnerAccount, *, now: datetime) -> datetime | None:
    """When the account may post again: None now, else the time its daily cap (rolling 24 h) or its
    minimum interval allows. Reads only; raises nothing of its own."""
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


def count_posted_since(account_id: int, since: datetime) -> int:
    """How many posts the account made (or is making) since ``since``. Reads only; raises nothing of its
    own."""
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

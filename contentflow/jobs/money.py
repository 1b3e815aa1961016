"""Money jobs: click earnings accrual (daily), payout proposals (weekly)."""

from __future__ import annotations

import logging
from datetime import UTC, date, timedelta

from sqlalchemy.exc import IntegrityError

from contentflow.errors import DomainError
from contentflow.extensions import db
from contentflow.models.base import utcnow
from contentflow.plugin import Schedule
from contentflow.queueing import job
from contentflow.services import ledger, payouts

log = logging.getLogger(__name__)

#: A run without a day credits yesterday and the days before it, so a missed run catches up.
CATCH_UP_DAYS = 3


@job("periodic")
def accrue_click_earnings(day: str | None = None) -> str:
    """Credit the billable clicks of ``day`` (``YYYY-MM-DD``, any closed day), or of the last
    ``CATCH_UP_DAYS`` closed days when None. One entry per partner, offer and day; commits per day.

    Idempotent: a re-run writes nothing. Raises ValueError for a malformed day and ValidationError for a
    day not over yet.
    """
    now = utcnow()
    today = now.astimezone(UTC).date()
    days = (
        [date.fromisoformat(day)]
        if day
        else [today - timedelta(days=back) for back in range(CATCH_UP_DAYS, 0, -1)]
    )
    written = 0
    for each in days:
        written += ledger.accrue_click_earnings(each, now=now)
        db.session.commit()
    return f"credited {written} click-earnings entries for {', '.join(d.isoformat() for d in days)}"


@job("periodic")
def propose_payouts() -> str:
    """Propose this week's payout to every partner whose available balance reached the minimum, who
    has payout details and no open payout. Commits per partner. Idempotent per ISO week."""
    now = utcnow()
    proposed = 0
    for partner_id in payouts.proposal_candidates(now=now):
        try:
            payout = payouts.propose_payout(partner_id, now=now)
            db.session.commit()
        except (DomainError, IntegrityError) as error:
            # One partner's refusal (or a concurrent run's proposal) must not stop the others.
            db.session.rollback()
            log.info("no payout proposed", extra={"partner_id": partner_id, "reason": type(error).__name__})
            continue
        proposed += payout is not None
    return f"proposed {proposed} payouts"


JOBS = (accrue_click_earnings, propose_payouts)
SCHEDULES = (
    # Well after midnight UTC, so the clicks of the day before have been flushed to the database.
    Schedule(accrue_click_earnings, cron="20 0 * * *"),
    Schedule(propose_payouts, cron="0 6 * * 1"),
)

"""Money jobs: click earnings accrual (daily), payout proposals (weekly)."""

from __future__ import annotations

import logging
from datetime import date

from sqlalchemy.exc import IntegrityError

from contentflow.errors import DomainError
from contentflow.extensions import db
from contentflow.models.base import utcnow
from contentflow.queueing import Schedule, job
from contentflow.services import ledger, payouts

log = logging.getLogger(__name__)


@job("periodic")
def accrue_click_earnings(day: str | None = None) -> str:
    """Credit the uncredited billable clicks of ``day`` (``YYYY-MM-DD``, any closed day), or of every
    closed day that has some when None (clicks that reached the database late included). One entry per
    partner, offer and day and run; commits per day.

    Idempotent: a re-run writes nothing; each click is credited once. Raises ValueError for a malformed
    day and ValidationError for a day not over yet.
    """
    now = utcnow()
    days = [date.fromisoformat(day)] if day else ledger.days_to_accrue(now=now)
    written = 0
    for each in days:
        written += ledger.accrue_click_earnings(each, now=now)
        db.session.commit()
    shown = ", ".join(d.isoformat() for d in days) or "no day (nothing to credit)"
    return f"credited {written} click-earnings entries for {shown}"


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

"""What the last refresh computed from whole tables: the network's money and the current offer (core
``balances`` service), the partners active in each range, the assignments done with.

The balances read the whole ledger (and the current offer a week of clicks): at ten million clicks that
takes over a second, far beyond what one view may spend; the active partners and the posted assignments
grow with the network. So the refresh job computes them once a minute and the dashboard says when.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select

from contentflow.extensions import db
from contentflow.models import Assignment
from contentflow.services import balances
from plugins.monitoring.models import RangeFigures, Snapshot, upsert

#: Assignments whose status no longer changes: counted by the refresh, not at every view.
DONE_STATUSES = ("posted", "skipped")


@dataclass(frozen=True)
class Figures:
    """Network balances in EUR cents, the headline offer and the counts, as computed at ``computed_at``."""

    computed_at: datetime
    confirmed_cents: int
    reserved_cents: int
    paid_cents: int
    pending_withdrawals_cents: int
    raw_available_cents: int
    offer_name: str | None
    cpc_cents: int | None
    epc_cents: int | None
    is_capture_installed: bool
    posted_count: int = 0
    skipped_count: int = 0
    active_partner_counts: dict[str, int] = field(default_factory=dict)

    @property
    def available_cents(self) -> int:
        """What partners could withdraw, never shown below zero (as ``Balances.available_cents``)."""
        return max(0, self.raw_available_cents)

    def active_partner_count(self, days: int) -> int:
        """Partners with a click in the last ``days`` days."""
        return int(self.active_partner_counts.get(str(days), 0))


def take_snapshot(*, now: datetime, is_capture_installed: bool = True) -> Figures:
    """Compute the snapshot as of ``now`` and keep it (one row, replaced); the range figures must be
    up to date (``rollups.refresh_ranges``). Flushes, never commits. Idempotent."""
    money = balances.get_balances(None, now=now)
    headline = balances.current_offer(None, now=now)
    done = _done_assignment_counts()
    values = {
        "id": 1,
        "computed_at": now,
        "confirmed_cents": money.confirmed_cents,
        "reserved_cents": money.reserved_cents,
        "paid_cents": money.paid_cents,
        "pending_withdrawals_cents": money.pending_withdrawals_cents,
        "raw_available_cents": money.raw_available_cents,
        "offer_id": headline.offer.id if headline.offer is not None else None,
        "offer_name": headline.offer.name if headline.offer is not None else None,
        "cpc_cents": headline.cpc_cents,
        "epc_cents": headline.epc_cents,
        "active_partner_counts": _active_partner_counts(),
        "posted_count": int(done.get("posted", 0)),
        "skipped_count": int(done.get("skipped", 0)),
        "is_capture_installed": is_capture_installed,
    }
    statement = upsert(Snapshot.__table__).values(values)
    db.session.execute(
        statement.on_conflict_do_update(
            index_elements=["id"], set_={key: statement.excluded[key] for key in values if key != "id"}
        )
    )
    return _figures(values)


def _done_assignment_counts() -> dict[str, int]:
    by_status = (
        select(Assignment.status, func.count())
        .where(Assignment.status.in_(DONE_STATUSES))
        .group_by(Assignment.status)
    )
    return dict(db.session.execute(by_status).all())


def _active_partner_counts() -> dict[str, int]:
    """Partners with a click in each range, from the range figures (keys are the ranges, as text: JSON)."""
    by_range = (
        select(RangeFigures.days, func.count())
        .where(RangeFigures.kind == "partner", RangeFigures.click_count > 0)
        .group_by(RangeFigures.days)
    )
    return {str(days): int(count) for days, count in db.session.execute(by_range)}


def latest_snapshot() -> Figures | None:
    """What the last refresh computed, or None before the first one."""
    table = Snapshot.__table__
    row = db.session.execute(select(table).where(table.c.id == 1)).mappings().first()
    return _figures(dict(row)) if row is not None else None


def _figures(values: dict) -> Figures:
    return Figures(**{name: values[name] for name in Figures.__dataclass_fields__})

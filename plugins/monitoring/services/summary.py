"""Everything the monitoring dashboard shows, in one call: ``summarize(days=..., now=...)``.

Traffic figures come from the daily rollups (a range of N days is today and the N - 1 days before it,
in UTC), money from the last refresh's snapshot, the rest from small live queries (assignments, holds,
a day of postbacks, partners) and Redis (``machinery``). No query reads ``clicks``, ``conversions`` or
the ledger. Cards other plugins contribute come through the core hook ``monitoring.cards``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import func, select

from contentflow.errors import ValidationError
from contentflow.extension_points import MONITORING_CARDS, Card
from contentflow.extensions import db
from contentflow.models import Asset, Assignment, Hold, Partner, PostbackLog
from contentflow.models.assignment import ASSIGNMENT_STATUSES
from contentflow.models.postback_log import POSTBACK_OUTCOMES
from contentflow.money import round_half_up
from contentflow.services import holds
from contentflow.services.balances import as_date
from plugins.monitoring.models import DailyTotal, RangeFigures
from plugins.monitoring.services import machinery, snapshot
from plugins.monitoring.services.machinery import Health
from plugins.monitoring.services.rollups import RANGES, RANK_MIN_BILLABLE_CLICKS
from plugins.monitoring.services.snapshot import DONE_STATUSES

#: The daily chart shows at least this many days, whatever the range.
CHART_MIN_DAYS = 30
TOP_COUNT = 5
TOP_MIN_BILLABLE_CLICKS = RANK_MIN_BILLABLE_CLICKS


@dataclass(frozen=True)
class Figures:
    """Traffic figures over a period; revenue in EUR cents (commissions of confirmed sales)."""

    click_count: int = 0
    billable_click_count: int = 0
    conversion_count: int = 0
    confirmed_count: int = 0
    revenue_cents: int = 0

    @property
    def epc_cents(self) -> int | None:
        """Revenue per billable click, in cents rounded half-up; None without billable clicks."""
        if not self.billable_click_count:
            return None
        return round_half_up(Decimal(self.revenue_cents) / self.billable_click_count)

    def __add__(self, other: Figures) -> Figures:
        return Figures(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


@dataclass(frozen=True)
class Day:
    """The network's figures of one day (a point of the daily chart)."""

    day: date
    figures: Figures


@dataclass(frozen=True)
class Ranked:
    """A partner or an asset ranked by EPC over the range."""

    id: str
    label: str
    figures: Figures


@dataclass(frozen=True)
class Summary:
    """The dashboard at ``now`` over the last ``days`` days (``first_day`` to today)."""

    now: datetime
    days: int
    first_day: date
    traffic: Figures
    #: The daily chart: at least ``CHART_MIN_DAYS`` days, oldest first, days without rows as zeros.
    daily: tuple[Day, ...]
    top_assets: tuple[Ranked, ...]
    top_partners: tuple[Ranked, ...]
    #: Partners with a click in the range (as of the last refresh), and every partner account that is active.
    active_partner_count: int
    partner_count: int
    #: Money, current offer and slow counts as of the last refresh; None until it has run once.
    snapshot: snapshot.Figures | None
    #: Assignments by status: those on their way live, those done with as of the last refresh.
    assignments: tuple[tuple[str, int], ...]
    open_hold_count: int
    #: Postbacks of the last 24 hours by outcome (every outcome present, zeros included).
    postbacks: tuple[tuple[str, int], ...]
    health: Health
    extra_cards: tuple[Card, ...]


def check_range(days: int) -> int:
    """``days`` when it is one of the dashboard's ranges. Raises ValidationError otherwise."""
    if days not in RANGES:
        raise ValidationError(_("The range is 7, 30 or 90 days."), code="bad_range")
    return days


def summarize(*, days: int = 7, now: datetime) -> Summary:
    """Every figure of the dashboard over the last ``days`` days as of ``now``. Read-only.

    Raises ValidationError for a range the dashboard does not offer."""
    check_range(days)
    now = now.astimezone(UTC)
    today = now.date()
    first_day = today - timedelta(days=days - 1)
    chart_first = today - timedelta(days=max(days, CHART_MIN_DAYS) - 1)
    daily = daily_totals(chart_first, today)
    traffic = sum((d.figures for d in daily if d.day >= first_day), Figures())
    latest = snapshot.latest_snapshot()
    return Summary(
        now=now,
        days=days,
        first_day=first_day,
        traffic=traffic,
        daily=daily,
        top_assets=top_by_epc("asset", days),
        top_partners=top_by_epc("partner", days),
        active_partner_count=latest.active_partner_count(days) if latest else 0,
        partner_count=_count(select(func.count()).select_from(Partner).where(Partner.status == "active")),
        snapshot=latest,
        assignments=assignment_counts(latest),
        open_hold_count=_count(select(func.count()).select_from(Hold).where(*holds.active_clause(now))),
        postbacks=postback_counts(now=now),
        health=machinery.read_health(now=now),
        extra_cards=tuple(sorted(MONITORING_CARDS(days=days), key=lambda card: card.order)),
    )


def _count(query) -> int:
    return int(db.session.scalar(query) or 0)


def _figures(row) -> Figures:
    return Figures(*(int(value or 0) for value in row))


def daily_totals(first: date, last: date) -> tuple[Day, ...]:
    """The network's figures for each day from ``first`` to ``last``, zeros where nothing happened."""
    columns = [getattr(DailyTotal, f.name) for f in fields(Figures)]
    rows = db.session.execute(
        select(DailyTotal.day, *columns).where(DailyTotal.day >= first, DailyTotal.day <= last)
    ).all()
    found = {as_date(row[0]): _figures(row[1:]) for row in rows}
    span = (last - first).days + 1
    return tuple(
        Day(day, found.get(day, Figures())) for day in (first + timedelta(days=n) for n in range(span))
    )


def top_by_epc(kind: str, days: int) -> tuple[Ranked, ...]:
    """The ``TOP_COUNT`` partners or assets (``kind``) with the best EPC over the range, as the last
    refresh ranked them (``rollups.refresh_ranges``), each with its name (a partner's display name, else
    e-mail; an asset's title)."""
    figures = [getattr(RangeFigures, f.name) for f in fields(Figures)]
    if kind == "partner":
        label = func.coalesce(func.nullif(Partner.display_name, ""), Partner.email)
        named = select(RangeFigures.key_id, label, *figures).outerjoin(
            Partner, Partner.id == RangeFigures.key_id
        )
    else:
        named = select(RangeFigures.key_id, Asset.title, *figures).outerjoin(
            Asset, Asset.id == RangeFigures.key_id
        )
    rows = db.session.execute(
        named.where(
            RangeFigures.days == days, RangeFigures.kind == kind, RangeFigures.epc_rank <= TOP_COUNT
        ).order_by(RangeFigures.epc_rank)
    ).all()
    return tuple(Ranked(row[0], row[1] or row[0], _figures(row[2:])) for row in rows)


def assignment_counts(latest: snapshot.Figures | None) -> tuple[tuple[str, int], ...]:
    """Assignments by status in the order of their life cycle, zeros included: the statuses still on
    their way counted now (a few rows, through ``ix_assignments_due``), the done ones as of ``latest``."""
    moving = [status for status in ASSIGNMENT_STATUSES if status not in DONE_STATUSES]
    by_status = (
        select(Assignment.status, func.count())
        .where(Assignment.status.in_(moving))
        .group_by(Assignment.status)
    )
    found = dict(db.session.execute(by_status).all())
    if latest is not None:
        found.update(posted=latest.posted_count, skipped=latest.skipped_count)
    return tuple((status, int(found.get(status, 0))) for status in ASSIGNMENT_STATUSES)


def postback_counts(*, now: datetime) -> tuple[tuple[str, int], ...]:
    """Postbacks received in the 24 hours before ``now``, by outcome (zeros included)."""
    found = dict(
        db.session.execute(
            select(PostbackLog.outcome, func.count())
            .where(PostbackLog.created_at > now - timedelta(hours=24), PostbackLog.created_at <= now)
            .group_by(PostbackLog.outcome)
        ).all()
    )
    return tuple((outcome, int(found.get(outcome, 0))) for outcome in POSTBACK_OUTCOMES)

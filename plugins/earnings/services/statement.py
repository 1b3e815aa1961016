"""A partner's earnings statement, from the core ledger alone: earnings and billable clicks per day,
earnings per video, the ledger's entries by page and as CSV. Balances themselves come from the core's
``balances.get_balances``. Read-only; ``now`` is an argument.

- A day's earnings are the earning entries (``ledger.EARNING_KINDS``) credited that UTC day: click
  earnings are credited after midnight UTC, so a day's clicks show in the next day's earnings.
- Earnings per video: a sale's share (and its reversal) belongs to the sale's video; click earnings to
  the videos of the clicks each accrual run credited (the entry is their sum, CPC as of each click);
  what no video explains (referral bonuses, adjustments) is a line of its own, so that the lines add up
  to the confirmed earnings.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from contentflow.extensions import db
from contentflow.models import Asset, Click, Conversion, LedgerEntry
from contentflow.models.base import utcnow
from contentflow.money import from_cents
from contentflow.services import ledger
from contentflow.services.balances import as_date, utc_day
from contentflow.services.ledger import EARNING_KINDS, start_of_day
from contentflow.services.payout_details import FORMULA_STARTS

#: The periods the activity chart offers, in days; the first is the default.
PERIODS = (30, 90)
ENTRIES_PER_PAGE = 25
#: Videos listed by name in "earnings per video"; the others are summed on one line.
TOP_ASSETS = 15
KIND_LABELS = {
    "click_earnings": _l("Click earnings"),
    "conversion_share": _l("Sale share"),
    "referral_bonus": _l("Referral bonus"),
    "withdrawal": _l("Withdrawal"),
    "withdrawal_returned": _l("Withdrawal returned"),
    "reversal": _l("Reversed sale"),
    "adjustment": _l("Adjustment"),
}
CSV_COLUMNS = ("date_utc", "kind", "amount_eur", "memo", "entry_id")


@dataclass(frozen=True)
class Day:
    """One UTC day of the activity chart."""

    on: date
    earnings_cents: int
    click_count: int


@dataclass(frozen=True)
class Activity:
    """Earnings and billable clicks per UTC day over the last ``days`` days, today included."""

    days: int
    series: tuple[Day, ...]

    @property
    def earnings_cents(self) -> int:
        """Everything credited over the period."""
        return sum(day.earnings_cents for day in self.series)

    @property
    def click_count(self) -> int:
        """Billable clicks over the period."""
        return sum(day.click_count for day in self.series)


@dataclass(frozen=True)
class AssetLine:
    """Earnings of one video (``asset_id``), of the other videos together, or not tied to a video
    (``asset_id`` None, ``title`` empty, ``kind`` says which)."""

    asset_id: str | None
    title: str
    cents: int
    kind: str = "asset"  # asset | other_assets | no_asset


def choose_period(raw: str | None) -> int:
    """``?days=``: one of PERIODS, else the first."""
    return int(raw) if raw in {str(days) for days in PERIODS} else PERIODS[0]


def daily_activity(partner_id: str, days: int, *, now: datetime | None = None) -> Activity:
    """Earnings credited and billable clicks made per UTC day, the last ``days`` days up to ``now``."""
    now = (now or utcnow()).astimezone(UTC)
    first = now.date() - timedelta(days=days - 1)
    since = start_of_day(first)
    earning_day = utc_day(LedgerEntry.created_at)
    earnings = dict(
        db.session.execute(
            select(earning_day, func.sum(LedgerEntry.amount_cents))
            .where(
                LedgerEntry.partner_id == partner_id,
                LedgerEntry.kind.in_(EARNING_KINDS),
                LedgerEntry.created_at >= since,
                LedgerEntry.created_at <= now,
            )
            .group_by(earning_day)
        ).all()
    )
    click_day = utc_day(Click.created_at)
    clicks = dict(
        db.session.execute(
            select(click_day, func.count())
            .where(
                Click.partner_id == partner_id,
                Click.is_billable.is_(True),
                Click.created_at >= since,
                Click.created_at <= now,
            )
            .group_by(click_day)
        ).all()
    )
    earnings = {as_date(day): int(total) for day, total in earnings.items()}
    clicks = {as_date(day): int(count) for day, count in clicks.items()}
    series = tuple(
        Day(day, earnings.get(day, 0), clicks.get(day, 0))
        for day in (first + timedelta(days=offset) for offset in range(days))
    )
    return Activity(days=days, series=series)


def earnings_by_asset(
    partner_id: str, confirmed_cents: int, *, limit: int = TOP_ASSETS
) -> tuple[AssetLine, ...]:
    """Every earning of the partner's ledger by video, best first; the lines add up to
    ``confirmed_cents`` (the balances' confirmed earnings). Read-only."""
    by_asset: dict[str, int] = {}
    credited_clicks = db.session.execute(
        select(Click.asset_id, func.sum(Click.cpc_cents))
        .where(
            Click.partner_id == partner_id,
            Click.accrual_batch.is_not(None),
            Click.is_billable.is_(True),
            Click.cpc_cents > 0,
        )
        .group_by(Click.asset_id)
    ).all()
    sales = db.session.execute(
        select(Conversion.asset_id, func.sum(LedgerEntry.amount_cents))
        .join(Conversion, Conversion.id == LedgerEntry.conversion_id)
        .where(
            LedgerEntry.partner_id == partner_id,
            LedgerEntry.kind.in_(EARNING_KINDS),
            Conversion.asset_id.is_not(None),
        )
        .group_by(Conversion.asset_id)
    ).all()
    for asset_id, cents in [*credited_clicks, *sales]:
        by_asset[asset_id] = by_asset.get(asset_id, 0) + int(cents)
    ranked = sorted(by_asset.items(), key=lambda item: (-item[1], item[0]))
    named = [asset_id for asset_id, _cents in ranked[:limit]]
    titles = dict(db.session.execute(select(Asset.id, Asset.title).where(Asset.id.in_(named))).all())
    lines = [AssetLine(asset_id, titles.get(asset_id, ""), cents) for asset_id, cents in ranked[:limit]]
    rest = sum(cents for _, cents in ranked[limit:])
    if rest:
        lines.append(AssetLine(None, "", rest, "other_assets"))
    unexplained = confirmed_cents - sum(by_asset.values())
    if unexplained:
        lines.append(AssetLine(None, "", unexplained, "no_asset"))
    return tuple(lines)


@dataclass(frozen=True)
class EntriesPage:
    """One page of a partner's ledger, newest first: its number (from 1) and whether an older one exists."""

    entries: tuple[LedgerEntry, ...]
    number: int
    has_next: bool


def ledger_page(partner_id: str, page: int, *, per_page: int = ENTRIES_PER_PAGE) -> EntriesPage:
    """Page ``page`` (from 1) of the partner's ledger, newest first; a page past the end is the last
    page (a stale or typed ``?page=`` shows entries, not an empty table). Read-only."""
    page = max(1, page)
    entries = ledger.list_entries(partner_id, limit=per_page + 1, offset=(page - 1) * per_page)
    if not entries and page > 1:
        count = db.session.scalar(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.partner_id == partner_id)
        )
        page = max(1, -(-count // per_page))
        entries = ledger.list_entries(partner_id, limit=per_page + 1, offset=(page - 1) * per_page)
    return EntriesPage(tuple(entries[:per_page]), page, len(entries) > per_page)


def choose_page(raw: str | None) -> int:
    """``?page=``: a whole number (ASCII digits) from 1; anything else is 1."""
    text = (raw or "").strip()
    is_number = text.isascii() and text.isdigit() and len(text) < 7
    return max(1, int(text)) if is_number else 1


def _csv_text(value: str) -> str:
    """A text cell a spreadsheet will not run as a formula."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def ledger_csv(partner_id: str) -> str:
    """The partner's whole ledger as CSV (header row; amounts ``12.50`` in EUR, signed; dates ISO 8601
    UTC), oldest first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    entries = db.session.scalars(
        select(LedgerEntry)
        .where(LedgerEntry.partner_id == partner_id)
        .order_by(LedgerEntry.created_at, LedgerEntry.id)
        .execution_options(yield_per=1000)
    )
    for entry in entries:
        writer.writerow(
            (
                entry.created_at.astimezone(UTC).isoformat(timespec="seconds"),
                entry.kind,
                str(from_cents(entry.amount_cents)),
                _csv_text(entry.memo or ""),
                entry.id,
            )
        )
    return buffer.getvalue()

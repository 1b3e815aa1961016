"""Daily rollups of clicks and conversions, for the network, each partner and each asset.

How a change reaches the rollups: triggers on ``clicks`` and ``conversions`` (``capture``) mark its UTC
day in ``monitoring_stale_days`` inside the transaction that makes the change, whatever wrote it (the
click flush, a redirect while Redis is down, a postback, an admin resolving a conversion, a partner
deleted with their clicks). A mark is therefore visible exactly when its rows are: there is no watermark
to overtake, so a click flushed hours late, or a transaction that commits after a later one, is never
missed. ``refresh_day`` then recomputes the whole day from its rows (INSERT ... ON CONFLICT DO UPDATE,
and the rows it did not write are deleted) and clears the marks it has seen, only if no change came in
meanwhile (each mark carries a version the triggers bump). Recomputing is idempotent: running it twice,
or for a day nothing changed, writes the same figures.

Days older than ``WINDOW_DAYS`` (the dashboard's longest range) are neither kept nor recomputed.
``refresh_ranges`` then sums each partner's and asset's daily rows over the dashboard's ranges, so a view
ranks them from one row each.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import (
    BigInteger,
    Date,
    Integer,
    Numeric,
    Select,
    String,
    case,
    cast,
    delete,
    func,
    literal,
    or_,
    select,
    true,
    union_all,
)

from contentflow.extensions import db
from contentflow.models import Click, Conversion
from contentflow.services.ledger import start_of_day
from plugins.monitoring import capture
from plugins.monitoring.models import DailyAsset, DailyPartner, DailyTotal, RangeFigures, StaleDay, upsert

#: The dashboard's ranges, in days, today included; the rollups keep the longest.
RANGES = (7, 30, 90)
WINDOW_DAYS = max(RANGES)
FIGURES = ("click_count", "billable_click_count", "conversion_count", "confirmed_count", "revenue_cents")
#: An EPC over fewer billable clicks says nothing: such partners and assets are not ranked.
RANK_MIN_BILLABLE_CLICKS = 10
#: Serialises rollup runs on PostgreSQL (``pg_advisory_xact_lock``): two runs recomputing one day at once
#: could otherwise finish in the wrong order and leave the older figures. SQLite's single writer does it.
LOCK_KEY = 0x6D6F6E69746F72


@dataclass(frozen=True)
class Rollup:
    """A rollup table and the columns its rows are keyed by, in ``clicks`` and in ``conversions``."""

    model: type
    keys: tuple[str, ...] = ()

    @property
    def table(self):
        """The model's table (for Core statements)."""
        return self.model.__table__


ROLLUPS = (Rollup(DailyTotal), Rollup(DailyPartner, ("partner_id",)), Rollup(DailyAsset, ("asset_id",)))


def _dialect() -> str:
    return db.session.get_bind().dialect.name


def first_kept_day(*, now: datetime) -> date:
    """The oldest day the rollups keep: the first day of the dashboard's longest range."""
    return now.astimezone(UTC).date() - timedelta(days=WINDOW_DAYS - 1)


def marked_days() -> list[date]:
    """Every day with a mark, newest first."""
    return list(db.session.scalars(select(StaleDay.day).distinct().order_by(StaleDay.day.desc())))


def days_to_refresh(*, now: datetime) -> list[date]:
    """The marked days the rollups keep, newest first (today's figures matter most)."""
    oldest = first_kept_day(now=now)
    return [day for day in marked_days() if day >= oldest]


def _lock() -> None:
    if _dialect() == "postgresql":
        db.session.execute(select(func.pg_advisory_xact_lock(LOCK_KEY)))


def refresh_day(day: date, *, run_id: str) -> int:
    """Recompute every rollup row of ``day`` from its clicks and conversions, then clear the marks read
    before recomputing that no change has bumped since. Flushes; the caller commits right away (the
    deleted marks stay locked until then). Returns how many marks were cleared. Idempotent."""
    _lock()
    marks = db.session.execute(select(StaleDay.slot, StaleDay.version).where(StaleDay.day == day)).all()
    for rollup in ROLLUPS:
        _recompute(rollup, day, run_id)
    cleared = 0
    for slot, version in marks:
        result = db.session.execute(
            delete(StaleDay).where(StaleDay.day == day, StaleDay.slot == slot, StaleDay.version == version)
        )
        cleared += result.rowcount
    return cleared


def _recompute(rollup: Rollup, day: date, run_id: str) -> None:
    table = rollup.table
    fresh = fresh_figures(rollup, day).subquery()
    columns = ["day", *rollup.keys, *FIGURES, "run_id"]
    rows = select(
        literal(day, Date),
        *(fresh.c[name] for name in (*rollup.keys, *FIGURES)),
        literal(run_id, String),
    ).where(true())  # SQLite reads "SELECT ... FROM x ON CONFLICT" as a join without a WHERE
    statement = upsert(table).from_select(columns, rows)
    statement = statement.on_conflict_do_update(
        index_elements=["day", *rollup.keys],
        set_={name: statement.excluded[name] for name in (*FIGURES, "run_id")},
    )
    db.session.execute(statement)
    db.session.execute(delete(table).where(table.c.day == day, table.c.run_id != run_id))


def fresh_figures(rollup: Rollup, day: date) -> Select:
    """The figures of ``day`` computed from ``clicks`` and ``conversions``, one row per key (a single row
    for the network), leaving out keys with no click and no conversion. Conversions count on the day they
    were reported; revenue is the commission of the confirmed ones."""
    start = start_of_day(day)
    end = start + timedelta(days=1)
    both = union_all(_click_figures(rollup, start, end), _conversion_figures(rollup, start, end)).subquery()
    keys = [both.c[key] for key in rollup.keys]
    return (
        select(*keys, *(func.sum(both.c[name]).label(name) for name in FIGURES))
        .group_by(*keys)
        .having(or_(func.sum(both.c.click_count) > 0, func.sum(both.c.conversion_count) > 0))
    )


def _click_figures(rollup: Rollup, start: datetime, end: datetime) -> Select:
    zero = literal(0, BigInteger)
    keys = [getattr(Click, key) for key in rollup.keys]
    return (
        select(
            *(column.label(key) for key, column in zip(rollup.keys, keys, strict=True)),
            func.count().label("click_count"),
            func.count().filter(Click.is_billable.is_(True)).label("billable_click_count"),
            zero.label("conversion_count"),
            zero.label("confirmed_count"),
            zero.label("revenue_cents"),
        )
        .where(Click.created_at >= start, Click.created_at < end)
        .group_by(*keys)
    )


def _conversion_figures(rollup: Rollup, start: datetime, end: datetime) -> Select:
    zero = literal(0, BigInteger)
    keys = [getattr(Conversion, key) for key in rollup.keys]
    is_confirmed = Conversion.status == "confirmed"
    revenue = func.coalesce(func.sum(Conversion.amount_eur_cents).filter(is_confirmed), 0)
    return (
        select(
            *(column.label(key) for key, column in zip(rollup.keys, keys, strict=True)),
            zero.label("click_count"),
            zero.label("billable_click_count"),
            func.count().label("conversion_count"),
            func.count().filter(is_confirmed).label("confirmed_count"),
            revenue.label("revenue_cents"),
        )
        .where(Conversion.created_at >= start, Conversion.created_at < end, *(k.is_not(None) for k in keys))
        .group_by(*keys)
    )


def refresh_ranges(*, now: datetime) -> int:
    """Replace every partner's and asset's range figures with the sums of their daily rows over each of
    the ``RANGES`` ending today, ranked by EPC (revenue per billable click; ties by revenue, then id)
    among those with at least ``RANK_MIN_BILLABLE_CLICKS``. Flushes; the caller commits. Returns how many
    rows were written. Idempotent."""
    _lock()
    db.session.execute(delete(RangeFigures))
    today = now.astimezone(UTC).date()
    columns = ["days", "kind", "key_id", *FIGURES, "epc_rank"]
    written = 0
    for days in RANGES:
        for kind, model, key in (
            ("partner", DailyPartner, DailyPartner.partner_id),
            ("asset", DailyAsset, DailyAsset.asset_id),
        ):
            sums = (
                select(key.label("key_id"), *(func.sum(getattr(model, name)).label(name) for name in FIGURES))
                .where(model.day >= today - timedelta(days=days - 1), model.day <= today)
                .group_by(key)
                .subquery()
            )
            statement = RangeFigures.__table__.insert().from_select(
                columns, select(literal(days, Integer), literal(kind, String), *sums.c, _epc_rank(sums))
            )
            written += db.session.execute(statement).rowcount
    return written


def _epc_rank(sums):
    """Rank among the rows with enough billable clicks (they sort first), None for the others."""
    is_ranked = sums.c.billable_click_count >= RANK_MIN_BILLABLE_CLICKS
    epc = cast(sums.c.revenue_cents, Numeric) / func.nullif(sums.c.billable_click_count, 0)
    order = func.row_number().over(
        order_by=(case((is_ranked, 0), else_=1), epc.desc(), sums.c.revenue_cents.desc(), sums.c.key_id)
    )
    return case((is_ranked, order), else_=None)


def prune(*, now: datetime) -> int:
    """Delete the rollup rows and marks of days older than the window. Returns how many rows went."""
    oldest = first_kept_day(now=now)
    removed = db.session.execute(delete(StaleDay).where(StaleDay.day < oldest)).rowcount
    for rollup in ROLLUPS:
        removed += db.session.execute(delete(rollup.table).where(rollup.table.c.day < oldest)).rowcount
    return removed


def mark_window(*, now: datetime) -> int:
    """Mark every day of the window (a rebuild: after restoring a backup, or if a trigger was missing).
    Returns how many days were marked. Idempotent."""
    today = now.astimezone(UTC).date()
    days = [today - timedelta(days=n) for n in range(WINDOW_DAYS)]
    statement = upsert(StaleDay.__table__).values([{"day": day, "slot": 0, "version": 1} for day in days])
    db.session.execute(
        statement.on_conflict_do_update(
            index_elements=["day", "slot"], set_={"version": StaleDay.__table__.c.version + 1}
        )
    )
    return len(days)


def is_capture_installed() -> bool:
    """Whether every trigger that marks changed days is in place (``capture``)."""
    return capture.is_installed(db.session.connection())


def reinstall_capture() -> None:
    """Put back any missing trigger (the caller commits). Idempotent."""
    capture.install(db.session.connection())

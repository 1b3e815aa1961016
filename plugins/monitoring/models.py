"""What the monitoring dashboard reads instead of scanning ``clicks``, ``conversions`` and the ledger:
daily rollups (network, per partner, per asset) and their sums over the dashboard's ranges, the marks that
say which days must be rolled up again, a snapshot of what only whole tables can say (the network's money
among it), and the last run of every scheduled job.

The marks are written by database triggers on ``clicks`` and ``conversions`` (``capture``), in the
transaction that changes the rows: a day's mark becomes visible exactly when its new rows do, whatever
path wrote them and in whatever order their transactions commit.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Boolean, CheckConstraint, Date, Index, Integer, String, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from contentflow.extensions import db
from contentflow.models.base import UTCDateTime

#: How many marks a day can have: each database connection bumps one (``pg_backend_pid() % MARK_SLOTS``),
#: so concurrent writers of the same day (postbacks, flushes) rarely queue on one row.
MARK_SLOTS = 16


def upsert(table: Table):
    """An INSERT of the session's database (PostgreSQL or SQLite) that takes ``on_conflict_do_update``:
    how every row here is written, so that running a refresh twice writes the same rows."""
    dialect = db.session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


class StaleDay(db.Model):
    """A UTC day whose clicks or conversions changed since its rollup rows were computed."""

    __tablename__ = "monitoring_stale_days"
    __table_args__ = (CheckConstraint(f"slot >= 0 AND slot < {MARK_SLOTS}", name="slot"),)

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    slot: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    #: Bumped by every change the triggers see: the rollup deletes the mark only when the version it read
    #: before recomputing the day is still the current one.
    version: Mapped[int] = mapped_column(BigInteger, default=1)


class Figures:
    """Traffic figures, for the network, a partner or an asset, over a day or a range of days."""

    click_count: Mapped[int] = mapped_column(BigInteger, default=0)
    billable_click_count: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Sales reported (any status).
    conversion_count: Mapped[int] = mapped_column(BigInteger, default=0)
    confirmed_count: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Commissions of the confirmed sales, in EUR cents.
    revenue_cents: Mapped[int] = mapped_column(BigInteger, default=0)


class DayFigures(Figures):
    """A day's figures, written by a rollup run."""

    #: The rollup run that wrote the row: rows of a recomputed day that its run did not write are gone.
    run_id: Mapped[str] = mapped_column(String(16))


class DailyTotal(DayFigures, db.Model):
    """The whole network's day, sales no click explains included."""

    __tablename__ = "monitoring_daily_totals"

    day: Mapped[date] = mapped_column(Date, primary_key=True)


class DailyPartner(DayFigures, db.Model):
    """One partner's day. No foreign key: a deleted partner's clicks go, their day is recomputed."""

    __tablename__ = "monitoring_daily_partners"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    partner_id: Mapped[str] = mapped_column(String(12), primary_key=True)


class DailyAsset(DayFigures, db.Model):
    """One asset's day. No foreign key, for the same reason."""

    __tablename__ = "monitoring_daily_assets"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    asset_id: Mapped[str] = mapped_column(String(12), primary_key=True)


class RangeFigures(Figures, db.Model):
    """A partner's or an asset's figures over the last 7, 30 or 90 days (today included) as of the last
    refresh, summed from the daily rows: ranking a network's partners from their daily rows would read up
    to 90 rows each at every view."""

    __tablename__ = "monitoring_ranges"
    __table_args__ = (
        CheckConstraint("kind IN ('partner', 'asset')", name="kind"),
        Index("ix_monitoring_ranges_rank", "days", "kind", "epc_rank"),
    )

    days: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    #: The partner's or the asset's id.
    key_id: Mapped[str] = mapped_column(String(12), primary_key=True)
    #: 1 for the best EPC of its range and kind, then 2...; None with too few billable clicks to rank.
    epc_rank: Mapped[int | None] = mapped_column(Integer)


class Snapshot(db.Model):
    """What the last refresh computed from whole tables, which cost too much to read at every view: the
    network's balances and the current offer (core ``balances`` service), the partners active in each
    range, the assignments done with (their count only grows). One row."""

    __tablename__ = "monitoring_snapshot"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False, default=1)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    confirmed_cents: Mapped[int] = mapped_column(BigInteger)
    reserved_cents: Mapped[int] = mapped_column(BigInteger)
    paid_cents: Mapped[int] = mapped_column(BigInteger)
    pending_withdrawals_cents: Mapped[int] = mapped_column(BigInteger)
    #: Negative when a reversal took back money already paid; shown as zero.
    raw_available_cents: Mapped[int] = mapped_column(BigInteger)
    #: The headline offer (best active CPC) and the partners' 7-day EPC, in EUR cents.
    offer_id: Mapped[int | None] = mapped_column(BigInteger)
    offer_name: Mapped[str | None] = mapped_column(String(120))
    cpc_cents: Mapped[int | None] = mapped_column(BigInteger)
    epc_cents: Mapped[int | None] = mapped_column(BigInteger)
    #: Partners with a click in each range: ``{"7": 1834, "30": ..., "90": ...}``.
    active_partner_counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    posted_count: Mapped[int] = mapped_column(BigInteger, default=0)
    skipped_count: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Whether the triggers that mark changed days were all in place at the refresh.
    is_capture_installed: Mapped[bool] = mapped_column(Boolean, default=True)


class JobRun(db.Model):
    """The last run RQ recorded for a scheduled job, kept beyond RQ's own result TTL (a weekly job's
    result expires after a day)."""

    __tablename__ = "monitoring_job_runs"

    #: The schedule's fixed RQ job id (``Schedule.schedule_id``).
    schedule_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    job_name: Mapped[str] = mapped_column(String(100))
    #: succeeded, failed, stopped or retrying.
    outcome: Mapped[str] = mapped_column(String(16))
    ended_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: The job's return value, or the last line of its error.
    detail: Mapped[str] = mapped_column(String(500), default="")
    #: RQ's id of the result (a Redis stream id), so a run is recorded once.
    result_id: Mapped[str] = mapped_column(String(40))

"""monitoring plugin: daily rollups, the marks of days to roll up again (kept by triggers), the money
snapshot and the last run of each scheduled job

- ``monitoring_daily_totals`` / ``_partners`` / ``_assets``: one row per UTC day (and partner, asset) with
  clicks, billable clicks, conversions, confirmed conversions and revenue.
- ``monitoring_stale_days``: a day is marked by a trigger on ``clicks`` and ``conversions`` in the very
  transaction that inserts, changes or deletes its rows (PostgreSQL: once per statement, so a flush batch
  or a batch of postbacks costs one upsert, except per row for clicks' updates; SQLite, the single-writer
  first run: per row). The rollup recomputes the
  marked days. The days of the last 90 are marked here, so an existing database is rolled up at once.
- ``monitoring_ranges`` (each partner's and asset's sums over the last 7, 30 and 90 days),
  ``monitoring_snapshot`` (the network's money, active partners, assignments done with) and
  ``monitoring_job_runs`` (the last run of each scheduled job): written by the refresh job.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 18:00:00

"""

from datetime import UTC, datetime, timedelta

from alembic import op
import sqlalchemy as sa

import contentflow.models.base


# revision identifiers, used by Alembic.
revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

SLOTS = 16  # plugins.monitoring.models.MARK_SLOTS

# The change capture's DDL as this revision installs it: copied from plugins/monitoring/capture.py, never
# imported from it, so that a later edit there cannot change what this revision did.
# tests/monitoring/test_capture.py checks that capture.py (which puts back a missing trigger at run time)
# still installs exactly this; a change of the triggers needs a new revision with the new DDL.
POSTGRESQL_INSTALL = (
    "CREATE OR REPLACE FUNCTION monitoring_mark_day(at timestamptz) RETURNS void LANGUAGE sql AS $$\n"
    "      INSERT INTO monitoring_stale_days (day, slot, version)\n"
    "      VALUES ((at AT TIME ZONE 'UTC')::date, pg_backend_pid() % 16, 1)\n"
    "      ON CONFLICT (day, slot) DO UPDATE SET version = monitoring_stale_days.version + 1\n"
    "    $$",
    "CREATE OR REPLACE FUNCTION monitoring_mark_click_days() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "    BEGIN\n"
    "      INSERT INTO monitoring_stale_days (day, slot, version)\n"
    "      SELECT DISTINCT (created_at AT TIME ZONE 'UTC')::date, pg_backend_pid() % 16, 1\n"
    "      FROM changed_clicks ORDER BY 1\n"
    "      ON CONFLICT (day, slot) DO UPDATE SET version = monitoring_stale_days.version + 1;\n"
    "      RETURN NULL;\n"
    "    END $$",
    "CREATE OR REPLACE FUNCTION monitoring_mark_conversion_days() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "    BEGIN\n"
    "      IF TG_OP = 'UPDATE' THEN\n"
    "        INSERT INTO monitoring_stale_days (day, slot, version)\n"
    "        SELECT DISTINCT (created_at AT TIME ZONE 'UTC')::date, pg_backend_pid() % 16, 1\n"
    "        FROM (SELECT created_at FROM earlier_conversions\n"
    "              UNION ALL SELECT created_at FROM changed_conversions) AS changed ORDER BY 1\n"
    "        ON CONFLICT (day, slot) DO UPDATE SET version = monitoring_stale_days.version + 1;\n"
    "      ELSE\n"
    "        INSERT INTO monitoring_stale_days (day, slot, version)\n"
    "        SELECT DISTINCT (created_at AT TIME ZONE 'UTC')::date, pg_backend_pid() % 16, 1\n"
    "        FROM changed_conversions ORDER BY 1\n"
    "        ON CONFLICT (day, slot) DO UPDATE SET version = monitoring_stale_days.version + 1;\n"
    "      END IF;\n"
    "      RETURN NULL;\n"
    "    END $$",
    "CREATE OR REPLACE FUNCTION monitoring_mark_row_days() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "    BEGIN\n"
    "      IF TG_OP <> 'INSERT' THEN PERFORM monitoring_mark_day(OLD.created_at); END IF;\n"
    "      IF TG_OP <> 'DELETE' THEN PERFORM monitoring_mark_day(NEW.created_at); END IF;\n"
    "      RETURN NULL;\n"
    "    END $$",
    "DROP TRIGGER IF EXISTS monitoring_clicks_inserted ON clicks",
    "CREATE TRIGGER monitoring_clicks_inserted AFTER INSERT ON clicks "
    "REFERENCING NEW TABLE AS changed_clicks FOR EACH STATEMENT "
    "EXECUTE FUNCTION monitoring_mark_click_days()",
    "DROP TRIGGER IF EXISTS monitoring_clicks_deleted ON clicks",
    "CREATE TRIGGER monitoring_clicks_deleted AFTER DELETE ON clicks "
    "REFERENCING OLD TABLE AS changed_clicks FOR EACH STATEMENT "
    "EXECUTE FUNCTION monitoring_mark_click_days()",
    "DROP TRIGGER IF EXISTS monitoring_clicks_updated ON clicks",
    "CREATE TRIGGER monitoring_clicks_updated AFTER UPDATE ON clicks FOR EACH ROW WHEN ("
    "OLD.created_at IS DISTINCT FROM NEW.created_at OR OLD.is_billable IS DISTINCT FROM NEW.is_billable OR "
    "OLD.partner_id IS DISTINCT FROM NEW.partner_id OR OLD.asset_id IS DISTINCT FROM NEW.asset_id) "
    "EXECUTE FUNCTION monitoring_mark_row_days()",
    "DROP TRIGGER IF EXISTS monitoring_conversions_inserted ON conversions",
    "CREATE TRIGGER monitoring_conversions_inserted AFTER INSERT ON conversions "
    "REFERENCING NEW TABLE AS changed_conversions FOR EACH STATEMENT "
    "EXECUTE FUNCTION monitoring_mark_conversion_days()",
    "DROP TRIGGER IF EXISTS monitoring_conversions_deleted ON conversions",
    "CREATE TRIGGER monitoring_conversions_deleted AFTER DELETE ON conversions "
    "REFERENCING OLD TABLE AS changed_conversions FOR EACH STATEMENT "
    "EXECUTE FUNCTION monitoring_mark_conversion_days()",
    "DROP TRIGGER IF EXISTS monitoring_conversions_updated ON conversions",
    "CREATE TRIGGER monitoring_conversions_updated AFTER UPDATE ON conversions "
    "REFERENCING OLD TABLE AS earlier_conversions NEW TABLE AS changed_conversions FOR EACH STATEMENT "
    "EXECUTE FUNCTION monitoring_mark_conversion_days()",
)
POSTGRESQL_REMOVE = (
    "DROP TRIGGER IF EXISTS monitoring_clicks_inserted ON clicks",
    "DROP TRIGGER IF EXISTS monitoring_clicks_deleted ON clicks",
    "DROP TRIGGER IF EXISTS monitoring_clicks_updated ON clicks",
    "DROP TRIGGER IF EXISTS monitoring_conversions_inserted ON conversions",
    "DROP TRIGGER IF EXISTS monitoring_conversions_deleted ON conversions",
    "DROP TRIGGER IF EXISTS monitoring_conversions_updated ON conversions",
    "DROP FUNCTION IF EXISTS monitoring_mark_row_days()",
    "DROP FUNCTION IF EXISTS monitoring_mark_conversion_days()",
    "DROP FUNCTION IF EXISTS monitoring_mark_click_days()",
    "DROP FUNCTION IF EXISTS monitoring_mark_day(timestamptz)",
)
_SQLITE_MARK_OLD = (
    "INSERT INTO monitoring_stale_days (day, slot, version) VALUES (date(OLD.created_at), 0, 1) "
    "ON CONFLICT (day, slot) DO UPDATE SET version = version + 1;"
)
_SQLITE_MARK_NEW = (
    "INSERT INTO monitoring_stale_days (day, slot, version) VALUES (date(NEW.created_at), 0, 1) "
    "ON CONFLICT (day, slot) DO UPDATE SET version = version + 1;"
)
SQLITE_INSTALL = (
    "CREATE TRIGGER IF NOT EXISTS monitoring_clicks_inserted AFTER INSERT ON clicks FOR EACH ROW "
    f"BEGIN {_SQLITE_MARK_NEW} END",
    "CREATE TRIGGER IF NOT EXISTS monitoring_clicks_deleted AFTER DELETE ON clicks FOR EACH ROW "
    f"BEGIN {_SQLITE_MARK_OLD} END",
    "CREATE TRIGGER IF NOT EXISTS monitoring_clicks_updated "
    "AFTER UPDATE OF created_at, is_billable, partner_id, asset_id ON clicks FOR EACH ROW "
    f"BEGIN {_SQLITE_MARK_OLD} {_SQLITE_MARK_NEW} END",
    "CREATE TRIGGER IF NOT EXISTS monitoring_conversions_inserted AFTER INSERT ON conversions FOR EACH ROW "
    f"BEGIN {_SQLITE_MARK_NEW} END",
    "CREATE TRIGGER IF NOT EXISTS monitoring_conversions_deleted AFTER DELETE ON conversions FOR EACH ROW "
    f"BEGIN {_SQLITE_MARK_OLD} END",
    "CREATE TRIGGER IF NOT EXISTS monitoring_conversions_updated AFTER UPDATE ON conversions FOR EACH ROW "
    f"BEGIN {_SQLITE_MARK_OLD} {_SQLITE_MARK_NEW} END",
)
SQLITE_REMOVE = (
    "DROP TRIGGER IF EXISTS monitoring_clicks_inserted",
    "DROP TRIGGER IF EXISTS monitoring_clicks_deleted",
    "DROP TRIGGER IF EXISTS monitoring_clicks_updated",
    "DROP TRIGGER IF EXISTS monitoring_conversions_inserted",
    "DROP TRIGGER IF EXISTS monitoring_conversions_deleted",
    "DROP TRIGGER IF EXISTS monitoring_conversions_updated",
)


def capture_statements(dialect: str, *, remove: bool = False) -> tuple[str, ...]:
    """The DDL this revision runs to install (or, ``remove``, to drop) the change capture."""
    if dialect == "postgresql":
        return POSTGRESQL_REMOVE if remove else POSTGRESQL_INSTALL
    return SQLITE_REMOVE if remove else SQLITE_INSTALL


def _figures():
    return [
        sa.Column("click_count", sa.BigInteger(), nullable=False),
        sa.Column("billable_click_count", sa.BigInteger(), nullable=False),
        sa.Column("conversion_count", sa.BigInteger(), nullable=False),
        sa.Column("confirmed_count", sa.BigInteger(), nullable=False),
        sa.Column("revenue_cents", sa.BigInteger(), nullable=False),
        sa.Column("run_id", sa.String(length=16), nullable=False),
    ]


def upgrade():
    op.create_table(
        "monitoring_daily_assets",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("asset_id", sa.String(length=12), nullable=False),
        *_figures(),
        sa.PrimaryKeyConstraint("day", "asset_id", name=op.f("pk_monitoring_daily_assets")),
    )
    op.create_table(
        "monitoring_daily_partners",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("partner_id", sa.String(length=12), nullable=False),
        *_figures(),
        sa.PrimaryKeyConstraint("day", "partner_id", name=op.f("pk_monitoring_daily_partners")),
    )
    op.create_table(
        "monitoring_daily_totals",
        sa.Column("day", sa.Date(), nullable=False),
        *_figures(),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_monitoring_daily_totals")),
    )
    op.create_table(
        "monitoring_ranges",
        *_figures()[:-1],
        sa.Column("days", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("key_id", sa.String(length=12), nullable=False),
        sa.Column("epc_rank", sa.Integer(), nullable=True),
        sa.CheckConstraint("kind IN ('partner', 'asset')", name=op.f("ck_monitoring_ranges_kind")),
        sa.PrimaryKeyConstraint("days", "kind", "key_id", name=op.f("pk_monitoring_ranges")),
    )
    with op.batch_alter_table("monitoring_ranges", schema=None) as batch_op:
        batch_op.create_index("ix_monitoring_ranges_rank", ["days", "kind", "epc_rank"], unique=False)
    op.create_table(
        "monitoring_job_runs",
        sa.Column("schedule_id", sa.String(length=200), nullable=False),
        sa.Column("job_name", sa.String(length=100), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("ended_at", contentflow.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.Column("result_id", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("schedule_id", name=op.f("pk_monitoring_job_runs")),
    )
    op.create_table(
        "monitoring_snapshot",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("computed_at", contentflow.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("confirmed_cents", sa.BigInteger(), nullable=False),
        sa.Column("reserved_cents", sa.BigInteger(), nullable=False),
        sa.Column("paid_cents", sa.BigInteger(), nullable=False),
        sa.Column("pending_withdrawals_cents", sa.BigInteger(), nullable=False),
        sa.Column("raw_available_cents", sa.BigInteger(), nullable=False),
        sa.Column("offer_id", sa.BigInteger(), nullable=True),
        sa.Column("offer_name", sa.String(length=120), nullable=True),
        sa.Column("cpc_cents", sa.BigInteger(), nullable=True),
        sa.Column("epc_cents", sa.BigInteger(), nullable=True),
        sa.Column("active_partner_counts", sa.JSON(), nullable=False),
        sa.Column("posted_count", sa.BigInteger(), nullable=False),
        sa.Column("skipped_count", sa.BigInteger(), nullable=False),
        sa.Column("is_capture_installed", sa.Boolean(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_monitoring_snapshot_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_snapshot")),
    )
    stale_days = op.create_table(
        "monitoring_stale_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("slot", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(f"slot >= 0 AND slot < {SLOTS}", name=op.f("ck_monitoring_stale_days_slot")),
        sa.PrimaryKeyConstraint("day", "slot", name=op.f("pk_monitoring_stale_days")),
    )
    for statement in capture_statements(op.get_bind().dialect.name):
        op.execute(statement)
    today = datetime.now(UTC).date()
    op.bulk_insert(
        stale_days, [{"day": today - timedelta(days=n), "slot": 0, "version": 1} for n in range(90)]
    )


def downgrade():
    for statement in capture_statements(op.get_bind().dialect.name, remove=True):
        op.execute(statement)
    op.drop_table("monitoring_stale_days")
    op.drop_table("monitoring_snapshot")
    op.drop_table("monitoring_job_runs")
    with op.batch_alter_table("monitoring_ranges", schema=None) as batch_op:
        batch_op.drop_index("ix_monitoring_ranges_rank")

    op.drop_table("monitoring_ranges")
    op.drop_table("monitoring_daily_totals")
    op.drop_table("monitoring_daily_partners")
    op.drop_table("monitoring_daily_assets")

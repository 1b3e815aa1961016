"""The change capture: database triggers that mark the UTC day of every click and conversion inserted,
changed or deleted in ``monitoring_stale_days``, inside the transaction that makes the change (whatever
wrote it), so the mark is visible exactly when the rows are.

PostgreSQL marks once per statement for inserted and deleted clicks (a flush batch costs one upsert) and
for every change of conversions (a batch of postbacks, one statement, costs one upsert: see
``services.postback_fast.WRITE_MANY``), from the statement's transition tables, after its last row; for
clicks changed by an UPDATE it marks per row, and only when a column the rollups read changed (the accrual
updates clicks in bulk without moving them). Each connection bumps its own mark of the day
(``pg_backend_pid() % MARK_SLOTS``), so concurrent writers rarely wait for one another. SQLite (the
single-writer first run) marks per row.

Why once per statement is enough: a rollup clears a mark only if its version is still the one read
before recomputing the day (``services.rollups.refresh_day``). A transaction that changes a day's rows
bumps that day's mark in the same transaction, so the bump becomes visible, or blocks the clearing,
exactly when the rows do, however many rows it changed. Marking after the statement's last row also
takes the mark's row lock last, when the statement holds its other locks already.
Migration 0009 installs them from its own copy of this DDL (a migration never imports code that may change
after it ran; ``tests/monitoring/test_capture.py`` checks the two agree, so a change here needs a new
revision). ``flask monitoring refresh --rebuild`` puts back any that went missing (a SQLite table rebuilt
by a later migration loses its triggers). Every statement here is idempotent.

The triggers fire whatever ``FEATURE_MONITORING`` says (flags gate behaviour, never schema): a mark is one
small upsert per flush batch or conversion, at most ``MARK_SLOTS`` rows a day, and the marks written while
the plugin is off are what make its first refresh after it comes back recompute exactly the changed days.
"""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, text

from plugins.monitoring.models import MARK_SLOTS

#: A change to one of these columns moves a click between rollup rows; the accrual's own update
#: (``accrual_batch``) does not, and marks nothing.
CLICK_COLUMNS = ("created_at", "is_billable", "partner_id", "asset_id")
_CLICK_CHANGED = " OR ".join(f"OLD.{column} IS DISTINCT FROM NEW.{column}" for column in CLICK_COLUMNS)

POSTGRESQL_FUNCTIONS = (
    f"""CREATE OR REPLACE FUNCTION monitoring_mark_day(at timestamptz) RETURNS void LANGUAGE sql AS $$
      INSERT INTO monitoring_stale_days (day, slot, version)
      VALUES ((at AT TIME ZONE 'UTC')::date, pg_backend_pid() % {MARK_SLOTS}, 1)
      ON CONFLICT (day, slot) DO UPDATE SET version = monitoring_stale_days.version + 1
    $$""",  # noqa: S608 - a constant, no input
    f"""CREATE OR REPLACE FUNCTION monitoring_mark_click_days() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO monitoring_stale_days (day, slot, version)
      SELECT DISTINCT (created_at AT TIME ZONE 'UTC')::date, pg_backend_pid() % {MARK_SLOTS}, 1
      FROM changed_clicks ORDER BY 1
      ON CONFLICT (day, slot) DO UPDATE SET version = monitoring_stale_days.version + 1;
      RETURN NULL;
    END $$""",  # noqa: S608 - a constant, no input
    f"""CREATE OR REPLACE FUNCTION monitoring_mark_conversion_days() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'UPDATE' THEN
        INSERT INTO monitoring_stale_days (day, slot, version)
        SELECT DISTINCT (created_at AT TIME ZONE 'UTC')::date, pg_backend_pid() % {MARK_SLOTS}, 1
        FROM (SELECT created_at FROM earlier_conversions
              UNION ALL SELECT created_at FROM changed_conversions) AS changed ORDER BY 1
        ON CONFLICT (day, slot) DO UPDATE SET version = monitoring_stale_days.version + 1;
      ELSE
        INSERT INTO monitoring_stale_days (day, slot, version)
        SELECT DISTINCT (created_at AT TIME ZONE 'UTC')::date, pg_backend_pid() % {MARK_SLOTS}, 1
        FROM changed_conversions ORDER BY 1
        ON CONFLICT (day, slot) DO UPDATE SET version = monitoring_stale_days.version + 1;
      END IF;
      RETURN NULL;
    END $$""",  # noqa: S608 - a constant, no input
    """CREATE OR REPLACE FUNCTION monitoring_mark_row_days() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP <> 'INSERT' THEN PERFORM monitoring_mark_day(OLD.created_at); END IF;
      IF TG_OP <> 'DELETE' THEN PERFORM monitoring_mark_day(NEW.created_at); END IF;
      RETURN NULL;
    END $$""",
)
#: name -> (table, what fires it and what it runs)
POSTGRESQL_TRIGGERS = {
    "monitoring_clicks_inserted": (
        "clicks",
        "AFTER INSERT ON clicks REFERENCING NEW TABLE AS changed_clicks FOR EACH STATEMENT "
        "EXECUTE FUNCTION monitoring_mark_click_days()",
    ),
    "monitoring_clicks_deleted": (
        "clicks",
        "AFTER DELETE ON clicks REFERENCING OLD TABLE AS changed_clicks FOR EACH STATEMENT "
        "EXECUTE FUNCTION monitoring_mark_click_days()",
    ),
    "monitoring_clicks_updated": (
        "clicks",
        f"AFTER UPDATE ON clicks FOR EACH ROW WHEN ({_CLICK_CHANGED}) "
        "EXECUTE FUNCTION monitoring_mark_row_days()",
    ),
    "monitoring_conversions_inserted": (
        "conversions",
        "AFTER INSERT ON conversions REFERENCING NEW TABLE AS changed_conversions FOR EACH STATEMENT "
        "EXECUTE FUNCTION monitoring_mark_conversion_days()",
    ),
    "monitoring_conversions_deleted": (
        "conversions",
        "AFTER DELETE ON conversions REFERENCING OLD TABLE AS changed_conversions FOR EACH STATEMENT "
        "EXECUTE FUNCTION monitoring_mark_conversion_days()",
    ),
    "monitoring_conversions_updated": (
        "conversions",
        "AFTER UPDATE ON conversions "
        "REFERENCING OLD TABLE AS earlier_conversions NEW TABLE AS changed_conversions FOR EACH STATEMENT "
        "EXECUTE FUNCTION monitoring_mark_conversion_days()",
    ),
}

_SQLITE_MARK = (
    "INSERT INTO monitoring_stale_days (day, slot, version) VALUES (date({row}.created_at), 0, 1) "
    "ON CONFLICT (day, slot) DO UPDATE SET version = version + 1;"
)
#: name -> (what fires it, the rows whose day it marks)
SQLITE_TRIGGERS = {
    "monitoring_clicks_inserted": ("AFTER INSERT ON clicks", ("NEW",)),
    "monitoring_clicks_deleted": ("AFTER DELETE ON clicks", ("OLD",)),
    "monitoring_clicks_updated": (f"AFTER UPDATE OF {', '.join(CLICK_COLUMNS)} ON clicks", ("OLD", "NEW")),
    "monitoring_conversions_inserted": ("AFTER INSERT ON conversions", ("NEW",)),
    "monitoring_conversions_deleted": ("AFTER DELETE ON conversions", ("OLD",)),
    "monitoring_conversions_updated": ("AFTER UPDATE ON conversions", ("OLD", "NEW")),
}


def trigger_names(dialect: str) -> tuple[str, ...]:
    """The triggers the capture needs on ``dialect`` (``postgresql`` or ``sqlite``)."""
    return tuple(POSTGRESQL_TRIGGERS if dialect == "postgresql" else SQLITE_TRIGGERS)


def install_statements(dialect: str) -> list[str]:
    """The DDL that installs (or re-installs) every trigger and its functions."""
    if dialect == "postgresql":
        triggers = [
            statement
            for name, (table, body) in POSTGRESQL_TRIGGERS.items()
            for statement in (f"DROP TRIGGER IF EXISTS {name} ON {table}", f"CREATE TRIGGER {name} {body}")
        ]
        return [*POSTGRESQL_FUNCTIONS, *triggers]
    statements = []
    for name, (event, rows) in SQLITE_TRIGGERS.items():
        marks = " ".join(_SQLITE_MARK.format(row=row) for row in rows)
        statements.append(f"CREATE TRIGGER IF NOT EXISTS {name} {event} FOR EACH ROW BEGIN {marks} END")
    return statements


def removal_statements(dialect: str) -> list[str]:
    """The DDL that removes the triggers and their functions."""
    if dialect == "postgresql":
        drops = [
            f"DROP TRIGGER IF EXISTS {name} ON {table}" for name, (table, _) in POSTGRESQL_TRIGGERS.items()
        ]
        functions = (
            "monitoring_mark_row_days()",
            "monitoring_mark_conversion_days()",
            "monitoring_mark_click_days()",
            "monitoring_mark_day(timestamptz)",
        )
        return [*drops, *(f"DROP FUNCTION IF EXISTS {function}" for function in functions)]
    return [f"DROP TRIGGER IF EXISTS {name}" for name in SQLITE_TRIGGERS]


def install(connection: Connection) -> None:
    """Install every trigger (the caller commits). Idempotent."""
    for statement in install_statements(connection.dialect.name):
        connection.execute(text(statement))


def is_installed(connection: Connection) -> bool:
    """Whether every trigger is in place (and, on PostgreSQL, enabled)."""
    names = list(trigger_names(connection.dialect.name))
    if connection.dialect.name == "postgresql":
        query = text(
            "SELECT count(*) FROM pg_trigger "
            "WHERE tgname = ANY(:names) AND NOT tgisinternal AND tgenabled <> 'D'"
        )
    else:
        query = text("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name IN :names")
        query = query.bindparams(bindparam("names", expanding=True))
    return connection.execute(query, {"names": names}).scalar() == len(names)

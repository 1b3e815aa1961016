"""What the triggers that mark changed days (``plugins/monitoring/capture.py``) cost the writers of clicks
and conversions: the monitoring bench's last step (``bench/monitoring.py``). Each write is timed with the
triggers off and on; the order alternates between rounds, so neither side always runs on a colder cache.
The clicks and conversions written stay in the bench's database."""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

CLICK_COLUMNS = (
    "id, partner_id, asset_id, cpc_cents, created_at, ip_hash, visitor_hash, user_agent, referrer, is_bot, "
    "is_billable"
)
TRIGGERS = (("clicks", "monitoring_clicks_inserted"), ("conversions", "monitoring_conversions_changed"))
FLUSH_BATCH = 1000


def one_click(connection, partner: str, asset: str) -> None:
    """The path while Redis is down: one click inserted and committed."""
    connection.execute(
        f"INSERT INTO clicks ({CLICK_COLUMNS}) "  # noqa: S608 - fixed names
        "VALUES (%s, %s, %s, 12, now(), 'x', 'y', '', '', false, true)",
        (f"tc{uuid.uuid4().hex[:12]}", partner, asset),
    )
    connection.commit()


def flush_batch(connection, partner: str, asset: str, at: str) -> None:
    """What ``clicks.copy_clicks`` does with a flush batch: COPY into a temporary table, INSERT ... SELECT."""
    connection.execute(
        "CREATE TEMPORARY TABLE IF NOT EXISTS clicks_incoming (LIKE clicks) ON COMMIT DELETE ROWS"
    )
    with connection.cursor().copy(f"COPY clicks_incoming ({CLICK_COLUMNS}) FROM STDIN") as copy:
        for _ in range(FLUSH_BATCH):
            row = (f"tb{uuid.uuid4().hex[:12]}", partner, asset, 12, at, "x", "y", "", "", False, True)
            copy.write_row(row)
    connection.execute(
        f"INSERT INTO clicks ({CLICK_COLUMNS}) SELECT {CLICK_COLUMNS} FROM clicks_incoming "  # noqa: S608
        "ON CONFLICT (id) DO NOTHING"
    )
    connection.commit()


def one_conversion(connection, network: int, partner: str, asset: str) -> None:
    """A postback's conversion, inserted and committed."""
    connection.execute(
        "INSERT INTO conversions (network_id, txn_id, subid, partner_id, asset_id, status, amount_minor, "
        "currency, amount_eur_cents, needs_review, created_at, updated_at) "
        "VALUES (%s, %s, '', %s, %s, 'pending', 100, 'EUR', 100, false, now(), now())",
        (network, f"tc{uuid.uuid4().hex}", partner, asset),
    )
    connection.commit()


def median_ms(action: Callable[[], None], calls: int) -> float:
    """The median duration of ``calls`` runs of ``action``, in milliseconds, after one warm-up run."""
    action()
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def switch_triggers(connection, *, is_on: bool) -> None:
    """Enable or disable the capture's insert triggers of ``clicks`` and ``conversions``."""
    for table, name in TRIGGERS:
        connection.execute(f"ALTER TABLE {table} {'ENABLE' if is_on else 'DISABLE'} TRIGGER {name}")
    connection.commit()


def trigger_cost(connection) -> None:
    """Print each writer's median with the triggers off and on, two rounds in alternating order; leaves
    the triggers on."""
    partner, asset = connection.execute("SELECT partner_id, asset_id FROM short_links LIMIT 1").fetchone()
    network = connection.execute("SELECT id FROM networks LIMIT 1").fetchone()[0]
    connection.commit()
    at = datetime.now(UTC).isoformat(sep=" ")
    print("triggers' cost to the writers (medians):")
    for round_number, order in ((1, (False, True)), (2, (True, False))):
        for is_on in order:
            switch_triggers(connection, is_on=is_on)
            click = median_ms(lambda: one_click(connection, partner, asset), 1000)
            batch = median_ms(lambda: flush_batch(connection, partner, asset, at), 30)
            conversion = median_ms(lambda: one_conversion(connection, network, partner, asset), 1000)
            print(
                f"  round {round_number}, triggers {'on ' if is_on else 'off'}: a click inserted and "
                f"committed {click:.3f} ms, a flush batch of {FLUSH_BATCH:,} clicks {batch:.1f} ms, "
                f"a conversion inserted and committed {conversion:.3f} ms"
            )
    switch_triggers(connection, is_on=True)

"""Monitoring bench: ten million clicks and a hundred thousand conversions over 90 days, loaded with COPY;
then the dashboard's summary (from the rollups) is timed beside the naive summary that scans the tables.

    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/cf_bench_mon .venv/bin/python bench/monitoring.py

The database is **emptied** and migrated; Redis (``BENCH_REDIS_URL``) is flushed. Everything runs in this
process, on the production-mode app with throwaway secrets. Steps, each timed:

1. seed (``bench/monitoring_data.py``): 2,000 partners (a few bring most of the traffic), 400 assets,
   10,000 links, 4 offers; clicks (85 % billable, repeats and bots the rest; the closed days' clicks
   credited), conversions of every status (2 % that no click explains), the ledger they imply, paid and
   requested withdrawals, postbacks with 30 % replays, assignments, holds. Clicks are COPYed with triggers
   off (``session_replication_role = replica``, which skips foreign-key checks too), so the rollups start
   from a rebuild, as after restoring a backup;
2. the rebuild of the 90 days (``flask monitoring refresh --rebuild``); then, triggers on, 2,000 clicks
   written as the flush writes them and one flushed 40 days late, and the next refresh; then whether every
   rollup row still equals a direct count of its rows (drift);
3. ``summarize()`` for 7 and 90 days, ``BENCH_CALLS`` (50) calls each: median and p95; the whole page (a
   signed-in admin's GET) the same way; the live balance reads the snapshot replaces; the naive summary
   (``BENCH_NAIVE_CALLS``, 50);
4. what the triggers cost the writers (``bench/monitoring_triggers.py``): a click inserted and committed,
   a flush batch, a conversion, with the triggers off and on (the rows it adds stay in the database).

``BENCH_SKIP_SEED=1`` measures again on the data a previous run left. Knobs: ``BENCH_CLICKS``
(10,000,000), ``BENCH_CONVERSIONS`` (100,000). Prints figures; never asserts.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import monitoring_data as data  # noqa: E402 - bench/ is the script's folder
from common import bench_env, fresh_database  # noqa: E402
from monitoring_triggers import trigger_cost  # noqa: E402

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/cf_bench_mon")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/10")
CLICKS = int(os.environ.get("BENCH_CLICKS", "10000000"))
CONVERSIONS = int(os.environ.get("BENCH_CONVERSIONS", "100000"))
CALLS = int(os.environ.get("BENCH_CALLS", "50"))
NAIVE_CALLS = int(os.environ.get("BENCH_NAIVE_CALLS", "50"))
SKIP_SEED = os.environ.get("BENCH_SKIP_SEED", "") == "1"
BASE_URL = "https://bench.example.org"
#: The run's throwaway secrets, kept so that ``BENCH_SKIP_SEED=1`` can read what the seeding encrypted.
ENV_FILE = ROOT / "instance" / "bench-monitoring-env.json"
random.seed(20261203)


def timed(label: str, action: Callable[[], object]) -> object:
    """Run ``action``, print how long it took, return its result."""
    started = time.perf_counter()
    result = action()
    print(f"{label}: {time.perf_counter() - started:.1f} s", flush=True)
    return result


def latency(action: Callable[[], object], calls: int) -> str:
    """``median / p95`` in milliseconds of ``calls`` runs of ``action``, after two warm-up runs."""
    for _ in range(2):
        action()
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, int(len(samples) * 0.95))]
    return f"{statistics.median(samples):.1f} ms / {p95:.1f} ms"


def seed(app, connection, now: datetime) -> list[data.Link]:
    """Load the network, its traffic and its money (``monitoring_data``); print the tables' sizes."""
    print(f"seeding {CLICKS:,} clicks and {CONVERSIONS:,} conversions over {data.DAYS} days", flush=True)
    links, cumulative = timed("seed: catalog", lambda: data.seed_catalog(app, connection))
    timed("seed: clicks (COPY)", lambda: data.seed_clicks(connection, links, cumulative, CLICKS, now))
    timed(
        "seed: conversions (COPY)",
        lambda: data.seed_conversions(connection, links, cumulative, CONVERSIONS, now),
    )
    timed(
        "seed: ledger, payouts, postbacks, assignments, holds; VACUUM ANALYZE",
        lambda: data.seed_derived(connection),
    )
    for table in ("clicks", "conversions", "ledger_entries", "postback_log", "assignments"):
        rows, size = connection.execute(
            "SELECT reltuples::bigint, pg_size_pretty(pg_total_relation_size(oid)) FROM pg_class "
            "WHERE relname = %s",
            (table,),
        ).fetchone()
        print(f"  {table}: {rows:,} rows, {size} with indexes")
    return links


def refresh(app, label: str, *, rebuild: bool = False) -> None:
    """Run the refresh job (after marking the whole window: ``rebuild``), timed."""
    from contentflow.extensions import db
    from plugins.monitoring.jobs import refresh_monitoring
    from plugins.monitoring.services import rollups

    def run() -> str:
        with app.app_context():
            if rebuild:
                rollups.mark_window(now=datetime.now(UTC))
                db.session.commit()
            return refresh_monitoring()

    print(f"  {timed(label, run)}")


def late_and_new_clicks(app, links: list[data.Link], now: datetime) -> None:
    """2,000 clicks of the last minutes written as the flush writes them (COPY), and one click of 40 days
    ago flushed now: the triggers mark their days."""
    from contentflow.extensions import db
    from contentflow.services import clicks

    def row(link: data.Link, at: datetime, n: int) -> dict:
        return {
            "id": f"new{n:011d}",
            "short_link_id": link[0],
            "partner_id": link[1],
            "asset_id": link[2],
            "offer_id": link[3],
            "cpc_cents": link[4],
            "created_at": at,
            "ip_hash": "0" * 32,
            "visitor_hash": f"{n:032d}",
            "user_agent": "bench",
            "referrer": "",
            "is_bot": False,
            "is_billable": True,
            "not_billable_reason": None,
        }

    with app.app_context():
        recent = now - timedelta(minutes=5)
        clicks.insert_clicks([row(random.choice(links), recent, n) for n in range(2000)])
        clicks.insert_clicks([row(links[0], now - timedelta(days=40), 99_999)])
        db.session.commit()


def drift(app) -> str:
    """Whether every rollup row equals a direct count of the rows it summarizes, over the 90 days."""
    from sqlalchemy import select

    from contentflow.extensions import db
    from plugins.monitoring.services import rollups

    with app.app_context():
        today = datetime.now(UTC).date()
        differing = 0
        for rollup in rollups.ROLLUPS:
            width = len(rollup.keys) + 1
            columns = [rollup.table.c[name] for name in ("day", *rollup.keys, *rollups.FIGURES)]
            stored = {tuple(r[:width]): tuple(r[width:]) for r in db.session.execute(select(*columns))}
            for day in (today - timedelta(days=n) for n in range(rollups.WINDOW_DAYS)):
                for row in db.session.execute(rollups.fresh_figures(rollup, day)):
                    expected = tuple(int(value) for value in row[width - 1 :])
                    differing += stored.pop((day, *row[: width - 1]), None) != expected
            differing += len(stored)  # rows that no click or conversion explains
    return "none: every rollup row equals a direct count" if not differing else f"{differing} rows differ"


NAIVE = [
    "SELECT count(*), count(*) FILTER (WHERE is_billable), count(DISTINCT partner_id) FROM clicks "
    "WHERE created_at >= :since",
    "SELECT count(*), sum(amount_eur_cents) FILTER (WHERE status = 'confirmed') FROM conversions "
    "WHERE created_at >= :since",
    "SELECT (created_at AT TIME ZONE 'UTC')::date, count(*) FROM clicks "
    "WHERE created_at >= :chart GROUP BY 1",
    "SELECT (created_at AT TIME ZONE 'UTC')::date, sum(amount_eur_cents) FROM conversions "
    "WHERE status = 'confirmed' AND created_at >= :chart GROUP BY 1",
    *(
        f"SELECT c.{key}, c.billable, v.revenue FROM (SELECT {key}, "  # noqa: S608 - fixed names
        f"count(*) FILTER (WHERE is_billable) AS billable FROM clicks WHERE created_at >= :since "
        f"GROUP BY {key}) c JOIN (SELECT {key}, sum(amount_eur_cents) AS revenue FROM conversions "
        f"WHERE status = 'confirmed' AND created_at >= :since GROUP BY {key}) v "
        f"USING ({key}) WHERE c.billable >= 10 ORDER BY v.revenue::numeric / c.billable DESC LIMIT 5"
        for key in ("partner_id", "asset_id")
    ),
    "SELECT status, count(*) FROM assignments GROUP BY status",
    "SELECT outcome, count(*) FROM postback_log WHERE created_at > now() - interval '24 hours' "
    "GROUP BY outcome",
    "SELECT count(DISTINCT partner_id) FROM clicks WHERE created_at >= :since",
]


def naive_summary(now: datetime) -> None:
    """The 7-day dashboard without rollups: the seed's queries on the core tables, the charts' 30 days,
    the rankings, the counts, and the live ledger sums."""
    from sqlalchemy import text

    from contentflow.extensions import db
    from contentflow.services import balances

    midnight = datetime.combine(now.date(), datetime.min.time(), tzinfo=UTC)
    bounds = {"since": midnight - timedelta(days=6), "chart": midnight - timedelta(days=29)}
    for statement in NAIVE:
        db.session.execute(text(statement), bounds).all()
    balances.get_balances(None, now=now)
    balances.current_offer(None, now=now)


def in_context(app, action: Callable[[], object]) -> Callable[[], None]:
    """``action`` in a fresh app context, its session removed after: a request's life."""
    from contentflow.extensions import db

    def run() -> None:
        with app.app_context():
            action()
            db.session.remove()

    return run


def page_getter(app, days: int) -> Callable[[], None]:
    """A GET of the dashboard over ``days`` days by the bench's admin, signed in once."""
    from sqlalchemy import select

    from contentflow.extensions import db
    from contentflow.models import AdminUser

    client = app.test_client()
    with app.app_context():
        admin_id = db.session.scalar(select(AdminUser).where(AdminUser.email == "bench@example.com")).get_id()
    with client.session_transaction(base_url=BASE_URL) as session:
        session["_user_id"], session["_fresh"] = admin_id, True

    def get() -> None:
        response = client.get(f"/admin/monitoring/?days={days}", base_url=BASE_URL)
        assert response.status_code == 200, response.status_code

    return get


def measure(app) -> None:
    """Median and p95 of the summary, the page, the live balance reads and the naive summary."""
    from contentflow.services import balances
    from plugins.monitoring.services import summary

    load = os.getloadavg()[0]
    print(f"latency, median / p95 of {CALLS} calls after 2 warm-up calls (load average {load:.1f}):")
    for days in (7, 90):
        call = in_context(app, lambda d=days: summary.summarize(days=d, now=datetime.now(UTC)))
        print(f"  summary, {days} days, from the rollups: {latency(call, CALLS)}")
    for days in (7, 90):
        result = latency(page_getter(app, days), CALLS)
        print(f"  page GET /admin/monitoring/?days={days} (summary, templates, SVG): {result}")
    live = latency(in_context(app, lambda: (balances.get_balances(None), balances.current_offer(None))), 20)
    print(
        f"  get_balances(None) + current_offer(None) read live (20 calls; the snapshot replaces them): {live}"
    )
    naive = latency(in_context(app, lambda: naive_summary(datetime.now(UTC))), NAIVE_CALLS)
    print(
        f"  naive summary, 7 days, scanning clicks, conversions and the ledger ({NAIVE_CALLS} calls): {naive}"
    )


def main() -> None:
    """Seed (unless ``BENCH_SKIP_SEED``), roll up, check drift, measure the reads, then the writers."""
    import psycopg
    import redis
    from flask_migrate import upgrade

    from contentflow import create_app

    if SKIP_SEED:
        environment = json.loads(ENV_FILE.read_text())
    else:
        fresh_database(DATABASE_URL)
        redis.Redis.from_url(REDIS_URL).flushdb()
        environment = bench_env(DATABASE_URL, REDIS_URL)
        ENV_FILE.parent.mkdir(exist_ok=True)
        ENV_FILE.write_text(json.dumps(environment))
    app = create_app({"ENVIRON": environment})
    if not SKIP_SEED:
        with app.app_context():
            timed("migrate", lambda: upgrade(revision="heads"))
        now = datetime.now(UTC)
        with psycopg.connect(DATABASE_URL) as connection:
            links = seed(app, connection, now)
        refresh(app, "rollup: rebuild of the 90 days", rebuild=True)
        late_and_new_clicks(app, links, now)
        refresh(app, "rollup: refresh after 2,001 new clicks (today's, and one 40 days late)")
        refresh(app, "rollup: refresh with nothing new")
        print(f"drift: {drift(app)}", flush=True)
    measure(app)
    with psycopg.connect(DATABASE_URL) as connection:
        trigger_cost(connection)


if __name__ == "__main__":
    main()

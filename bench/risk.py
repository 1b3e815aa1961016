"""Risk bench: the velocity sweep's query on a clicks table of ``BENCH_CLICKS`` rows (10 million).

    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/<db> .venv/bin/python bench/risk.py

The database (default ``postgresql://postgres@127.0.0.1:5432/cf_bench_risk``, created if missing) is
**emptied** and migrated (``flask db upgrade heads``); ``BENCH_PARTNERS`` partners are made, then the
clicks are written with ``COPY``, in time order, spread evenly over the ``BENCH_DAYS`` days up to now
(about 2,300 in any 10 minutes at 10 M over 30 days), plus ``BENCH_BURSTS`` partners with 60 clicks each
in the last 10 minutes, which the sweep must catch. After ``VACUUM ANALYZE`` it prints the plan of the
sweep's query (``EXPLAIN (ANALYZE, BUFFERS)``), then its latency as the job runs it
(``rules.velocity_counts`` through SQLAlchemy), median and p95 over ``BENCH_RUNS`` runs, and the
whole ``sweep_velocity`` job, first run (holds placed) and second run (nothing new). Prints figures;
never asserts. See bench/README.md.
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import bench_env, fresh_database  # noqa: E402 - bench/ is the script's folder

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/cf_bench_risk")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
CLICKS = int(os.environ.get("BENCH_CLICKS", "10000000"))
PARTNERS = int(os.environ.get("BENCH_PARTNERS", "10000"))
DAYS = int(os.environ.get("BENCH_DAYS", "30"))
BURSTS = int(os.environ.get("BENCH_BURSTS", "5"))
RUNS = int(os.environ.get("BENCH_RUNS", "200"))
BURST_CLICKS = 60
CHUNK = 200_000
COLUMNS = (
    "id, partner_id, asset_id, created_at, ip_hash, visitor_hash, user_agent, referrer, is_bot, is_billable"
)
VELOCITY_SQL = (
    "SELECT partner_id, count(*) FROM clicks WHERE created_at > %(since)s AND created_at <= %(now)s "
    "GROUP BY partner_id HAVING count(*) >= %(threshold)s"
)


def main() -> None:
    env = bench_env(DATABASE_URL, REDIS_URL)
    fresh_database(DATABASE_URL)
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade", "heads"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    from contentflow import create_app

    app = create_app({"ENVIRON": env})
    now = datetime.now(UTC).replace(microsecond=0)
    with app.app_context():
        partner_ids, asset_id = seed_people()
        started = time.perf_counter()
        copy_clicks(partner_ids, asset_id, now)
        copied = time.perf_counter() - started
        vacuum()
        print(f"clicks: {CLICKS:,} over {DAYS} days up to {now:%Y-%m-%d %H:%M} UTC, {PARTNERS:,} partners,")
        print(f"        {BURSTS} of them with {BURST_CLICKS} clicks in the last 10 min; COPY: {copied:.0f} s")
        print(f"table: {table_size()}")
        print_plan(now, app.config["RISK_VELOCITY_MAX_CLICKS_10M"])
        measure_query(now, app.config["RISK_VELOCITY_MAX_CLICKS_10M"])
        measure_job(now)


def seed_people() -> tuple[list[str], str]:
    """``PARTNERS`` partners (through the ORM: every column gets its default) and one asset."""
    from contentflow.extensions import db
    from contentflow.models import Asset, Partner

    partners = [Partner(email=f"bench{n}@example.com") for n in range(PARTNERS)]
    asset = Asset(title="Bench video", status="ready")
    db.session.add_all([*partners, asset])
    db.session.commit()
    return [partner.id for partner in partners], asset.id


def click_lines(partner_ids: list[str], asset_id: str, now: datetime):
    """The COPY lines, oldest first: the even stream, with the bursts of the last 10 minutes merged in."""
    rng = random.Random(3)  # noqa: S311 - bench data, not secrets
    steady = CLICKS - BURSTS * BURST_CLICKS
    start = (now - timedelta(days=DAYS)).timestamp()
    step = (now.timestamp() - start) / steady
    end = now.timestamp()
    extra = sorted(
        (end - rng.uniform(0, 599), partner_ids[n]) for n in range(BURSTS) for _ in range(BURST_CLICKS)
    )
    next_extra = 0
    for n in range(steady):
        at = start + step * (n + 1)
        while next_extra < len(extra) and extra[next_extra][0] <= at:
            yield _line(f"b{next_extra:013d}", extra[next_extra][1], asset_id, extra[next_extra][0], rng)
            next_extra += 1
        yield _line(f"c{n:013d}", partner_ids[rng.randrange(PARTNERS)], asset_id, at, rng)
    for index in range(next_extra, len(extra)):
        yield _line(f"b{index:013d}", extra[index][1], asset_id, extra[index][0], rng)


def _line(click_id: str, partner_id: str, asset_id: str, at: float, rng: random.Random) -> str:
    moment = datetime.fromtimestamp(at, UTC).isoformat()
    ip = f"{rng.getrandbits(128):032x}"
    billable = "t" if rng.random() < 0.8 else "f"
    return f"{click_id}\t{partner_id}\t{asset_id}\t{moment}\t{ip}\t{ip}\t\t\tf\t{billable}\n"


def copy_clicks(partner_ids: list[str], asset_id: str, now: datetime) -> None:
    from contentflow.extensions import db

    connection = db.engine.raw_connection()
    try:
        with connection.cursor() as cursor, cursor.copy(f"COPY clicks ({COLUMNS}) FROM STDIN") as copy:
            buffer: list[str] = []
            for line in click_lines(partner_ids, asset_id, now):
                buffer.append(line)
                if len(buffer) >= CHUNK:
                    copy.write("".join(buffer))
                    buffer.clear()
            copy.write("".join(buffer))
        connection.commit()
    finally:
        connection.close()


def vacuum() -> None:
    import psycopg

    with psycopg.connect(DATABASE_URL, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE clicks")


def table_size() -> str:
    import psycopg

    with psycopg.connect(DATABASE_URL) as connection:
        total, table = connection.execute(
            "SELECT pg_size_pretty(pg_total_relation_size('clicks')), "
            "pg_size_pretty(pg_relation_size('clicks'))"
        ).fetchone()
    return f"clicks {table} (with its indexes {total})"


def print_plan(now: datetime, threshold: int) -> None:
    import psycopg

    params = {"since": now - timedelta(minutes=10), "now": now, "threshold": threshold}
    with psycopg.connect(DATABASE_URL) as connection:
        rows = connection.execute(f"EXPLAIN (ANALYZE, BUFFERS) {VELOCITY_SQL}", params).fetchall()
    print("plan of the sweep's query:")
    for (line,) in rows:
        print(f"    {line}")


def measure_query(now: datetime, threshold: int) -> None:
    from contentflow.extensions import db
    from plugins.risk.services import rules

    timings = []
    found = []
    for run in range(RUNS + 5):
        started = time.perf_counter()
        found = rules.velocity_counts(now=now, threshold=threshold)
        elapsed = (time.perf_counter() - started) * 1000
        db.session.rollback()
        if run >= 5:  # the first runs warm SQLAlchemy's statement cache and the connection
            timings.append(elapsed)
    timings.sort()
    p95 = timings[int(len(timings) * 0.95) - 1]
    print(
        f"sweep query (rules.velocity_counts, {RUNS} runs): median {statistics.median(timings):.2f} ms, "
        f"p95 {p95:.2f} ms, max {timings[-1]:.2f} ms; {len(found)} partners at or over {threshold} clicks"
    )


def measure_job(now: datetime) -> None:
    from plugins.risk.jobs import sweep_velocity

    for label in ("first run", "second run"):
        started = time.perf_counter()
        outcome = sweep_velocity(now=now.isoformat())
        print(f"sweep_velocity job, {label}: {(time.perf_counter() - started) * 1000:.1f} ms: {outcome}")


if __name__ == "__main__":
    main()

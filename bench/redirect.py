"""Redirect bench: ``/l/<code>`` with click capture against a bare Flask 302, side by side in one run.

    .venv/bin/python bench/redirect.py

Three servers under the same gunicorn settings (``BENCH_WORKERS`` sync workers, one thread each) on
127.0.0.1, each loaded by wrk for ``BENCH_DURATION`` seconds per round: a bare Flask redirect, the real
app capturing clicks (production mode, PostgreSQL ``BENCH_DATABASE_URL`` and Redis ``BENCH_REDIS_URL``,
both emptied every run, with a worker and the scheduler flushing clicks as in production), and the same
app with its Redis unreachable (every click inserted in the request). Prints req/s, p50, p99, the ratio,
the flush lag, and whether the database holds exactly one row per click. Prints figures; never asserts.
See bench/README.md.
"""

from __future__ import annotations

import http.client
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import bench_env, free_port, fresh_database  # noqa: E402 - bench/ is the script's folder

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/cf_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
DURATION = int(os.environ.get("BENCH_DURATION", "10"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
THREADS = int(os.environ.get("BENCH_THREADS", "2"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAME_FOR_EVERY_APP = "--threads 1 --worker-class sync --log-level warning --no-control-socket"
GUNICORN = [sys.executable, "-m", "gunicorn", "--workers", str(WORKERS), *SAME_FOR_EVERY_APP.split()]
FLASK = [sys.executable, "-m", "flask", "--app", "wsgi"]
VARIANTS = ("bare", "capture", "direct")


@dataclass
class WrkResult:
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: str


def main() -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")
    env = bench_env(DATABASE_URL, REDIS_URL)
    code = seed(env)
    ports = {name: free_port() for name in VARIANTS}
    # "direct": the same app with its Redis unreachable, so every click is inserted in the request (its
    # once-per-10-s warning "redis unavailable" is expected: LOG_LEVEL=ERROR keeps it off the figures).
    direct_env = {**env, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", "LOG_LEVEL": "ERROR"}
    processes = [
        start([*GUNICORN, "--bind", f"127.0.0.1:{ports['bare']}", "bench.bare_app:app"], env),
        start([*GUNICORN, "--bind", f"127.0.0.1:{ports['capture']}", "wsgi:app"], env),
        start([*GUNICORN, "--bind", f"127.0.0.1:{ports['direct']}", "wsgi:app"], direct_env),
        start([*FLASK, "rq", "worker", "periodic"], env),
        start([*FLASK, "rq", "scheduler"], env),
    ]
    try:
        urls = {name: f"http://127.0.0.1:{port}/l/{code}" for name, port in ports.items()}
        for port in ports.values():
            wait_for(port)
        print_setup(urls)
        rounds = []
        for number in range(1, ROUNDS + 1):
            results = {"bare": wrk(urls["bare"])}
            before = stored_clicks()
            results["direct"] = wrk(urls["direct"])
            time.sleep(1)  # the requests in flight when wrk stopped finish
            direct_rows = stored_clicks() - before
            with Backlog(env) as backlog:
                results["capture"] = wrk(urls["capture"])
            print_round(number, results, backlog)
            rounds.append((results, direct_rows))
        ended_at = time.monotonic()
        print_summary([results for results, _ in rounds])
        print_flush_check(env, ended_at, rounds)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


def seed(env: dict[str, str]) -> str:
    """A fresh schema, one partner x asset x CPC offer and its link, an empty Redis. Returns the code."""
    import redis
    from flask_migrate import upgrade

    from contentflow import create_app
    from contentflow.extensions import db
    from contentflow.services import assets, links, offers, partners

    fresh_database(DATABASE_URL)
    redis.Redis.from_url(REDIS_URL).flushdb()
    app = create_app({"ENVIRON": env})
    with app.app_context():
        upgrade()
        offers.create_network("bench", secrets.token_urlsafe(24))
        url = "https://acme.example.net/go?sub={subid}"
        offer = offers.create_offer("Bench CPC", "bench", url, cpc_cents=12)
        asset = assets.create_asset("Bench video", offer=offer)
        partner = partners.get_or_create_partner("bench@example.com")
        code = links.get_or_create_link(partner.id, asset.id).code
        db.session.commit()
        db.engine.dispose()
    return code


def start(argv: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)


def wait_for(port: int) -> None:
    """Until the server on ``port`` answers ``GET /l/no-such-code`` (a 404 that records no click)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            connection.request("GET", "/l/no-such-code")
            connection.getresponse().read()
            return
        except OSError:
            time.sleep(0.2)
        finally:
            connection.close()
    sys.exit(f"nothing answers on 127.0.0.1:{port} after 60 s")


LATENCY = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.M)
UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str) -> WrkResult:
    argv = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{DURATION}s", "--latency"]
    output = subprocess.run(
        [*argv, "-H", f"User-Agent: {USER_AGENT}", url], capture_output=True, text=True, check=True
    ).stdout
    latency = {m[0]: float(m[1]) * UNIT_MS[m[2]] for m in LATENCY.findall(output)}
    errors = "; ".join(line.strip() for line in output.splitlines() if "errors" in line or "Non-2xx" in line)
    return WrkResult(
        requests=int(re.search(r"(\d+) requests in", output)[1]),
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1]),
        p50_ms=latency["50"],
        p99_ms=latency["99"],
        errors=errors or "none",
    )


class Backlog:
    """Samples the click stream while wrk runs: entries waiting, and the age of the oldest one."""

    def __init__(self, env: dict[str, str]) -> None:
        import redis

        self.redis = redis.Redis.from_url(env["REDIS_URL"])
        self.max_length = 0
        self.max_age_s = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> Backlog:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        from contentflow.services.clicks import STREAM_KEY

        while not self._stop.wait(0.5):
            oldest = self.redis.xrange(STREAM_KEY, count=1)
            self.max_length = max(self.max_length, self.redis.xlen(STREAM_KEY))
            if oldest:
                created_ms = int(oldest[0][0].split(b"-")[0])
                self.max_age_s = max(self.max_age_s, time.time() - created_ms / 1000)


def print_setup(urls: dict[str, str]) -> None:
    print(f"gunicorn: {WORKERS} sync workers x 1 thread for every app; 127.0.0.1; {os.cpu_count()} CPUs")
    print(f"wrk -t{THREADS} -c{CONNECTIONS} -d{DURATION}s --latency, one browser User-Agent, {ROUNDS} rounds")
    print(f"bare:    {urls['bare']} (Flask, redirect() only)")
    print(f"capture: {urls['capture']} (production mode, PostgreSQL + Redis stream; worker + scheduler)")
    print(f"direct:  {urls['direct']} (same app, its Redis unreachable: every click INSERTed in the request)")
    print()
    print(f"{'round':<7}{'app':<9}{'req/s':>9}{'vs bare':>9}{'p50 ms':>9}{'p99 ms':>9}{'answers':>9}  errors")


def print_round(number: int, results: dict[str, WrkResult], backlog: Backlog) -> None:
    bare_rps = results["bare"].rps
    for name in VARIANTS:
        result = results[name]
        print(
            f"{number:<7}{name:<9}{result.rps:>9.0f}{result.rps / bare_rps:>9.0%}{result.p50_ms:>9.2f}"
            f"{result.p99_ms:>9.2f}{result.requests:>9}  {result.errors}"
        )
    print(
        f"{'':<7}capture: stream backlog at most {backlog.max_length} clicks, the oldest unflushed one "
        f"{backlog.max_age_s:.1f} s old"
    )


def print_summary(rounds: list[dict[str, WrkResult]]) -> None:
    median = {name: statistics.median(results[name].rps for results in rounds) for name in VARIANTS}
    print()
    print(
        f"median req/s: bare {median['bare']:.0f}, capture {median['capture']:.0f} "
        f"({median['capture'] / median['bare']:.0%} of bare), direct insert {median['direct']:.0f} "
        f"({median['direct'] / median['bare']:.0%} of bare)"
    )


def stored_clicks() -> int:
    import sqlalchemy as sa

    from contentflow.settings import normalize_database_url

    engine = sa.create_engine(normalize_database_url(DATABASE_URL))
    with engine.connect() as connection:
        count = connection.scalar(sa.text("SELECT count(*) FROM clicks"))
    engine.dispose()
    return count


def print_flush_check(env: dict[str, str], ended_at: float, rounds: list) -> None:
    """Wait for the scheduled flush to store every captured click, then compare the counts. The
    stream's ``entries-added`` counts every click the app captured, also those wrk did not see answered."""
    import redis
    import sqlalchemy as sa

    from contentflow.services.clicks import STREAM_KEY
    from contentflow.settings import normalize_database_url

    connection = redis.Redis.from_url(env["REDIS_URL"])
    engine = sa.create_engine(normalize_database_url(DATABASE_URL))
    direct = sum(direct_rows for _, direct_rows in rounds)
    answered = sum(results["capture"].requests for results, _ in rounds)
    time.sleep(1)  # the requests in flight when wrk stopped finish
    while True:
        captured = int(connection.xinfo_stream(STREAM_KEY)["entries-added"])
        with engine.connect() as db:
            stored, distinct = db.execute(sa.text("SELECT count(*), count(DISTINCT id) FROM clicks")).one()
        lag = time.monotonic() - ended_at
        if stored >= captured + direct or lag > 60:
            break
        time.sleep(0.1)
    engine.dispose()
    print(f"flush: every captured click in the database {lag:.1f} s after wrk stopped (flush every 5 s)")
    print(
        f"clicks: {captured} captured in the stream + {direct} inserted directly = {captured + direct}; "
        f"the database holds {stored} rows, {distinct} distinct ids (wrk counted {answered} capture answers: "
        "it leaves out the requests in flight when it stops)"
    )


if __name__ == "__main__":
    main()

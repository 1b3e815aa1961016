"""Redirect bench: ``/l/<code>`` with click capture against a bare Flask 302, side by side in one run.

    .venv/bin/python bench/redirect.py

Three servers under the same gunicorn settings (``BENCH_WORKERS`` gthread workers of
``BENCH_WORKER_THREADS`` threads, as production runs them; 1 thread means sync workers) on 127.0.0.1,
each loaded by wrk for ``BENCH_DURATION`` seconds per round: a bare Flask redirect, the real app
capturing clicks (production mode, PostgreSQL ``BENCH_DATABASE_URL`` and Redis ``BENCH_REDIS_URL``, both
emptied every run, with a worker and the scheduler flushing clicks as in production), and the same app
with its Redis unreachable (every click buffered by its process and inserted in batches). Prints the
load average, req/s, p50, p99 and the ratio to bare per round; latency at a paced rate; the CPU one
request costs each app in-process (``bench/redirect_cpu.py``); then the no-loss check: a round per
capturing app whose wrk records the click id of every 302 it received, and whether the database holds
exactly one row for each. Prints figures; never asserts. See bench/README.md.
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
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import bench_env, free_port, fresh_database, load_average  # noqa: E402 - bench/ is the script's folder

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/cf_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
DURATION = int(os.environ.get("BENCH_DURATION", "20"))
CHECK_DURATION = int(os.environ.get("BENCH_CHECK_DURATION", "5"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
THREADS = int(os.environ.get("BENCH_THREADS", "2"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
WORKER_THREADS = int(os.environ.get("BENCH_WORKER_THREADS", "16"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
WARM_UP_S = int(os.environ.get("BENCH_WARM_UP", "5"))
CPU_REQUESTS = int(os.environ.get("BENCH_CPU_REQUESTS", "3000"))
PACED_RATE = int(os.environ.get("BENCH_PACED_RATE", "1000"))
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
WORKER_CLASS = "sync" if WORKER_THREADS == 1 else "gthread"
SAME_FOR_EVERY_APP = (
    f"--threads {WORKER_THREADS} --worker-class {WORKER_CLASS} --log-level warning --no-control-socket"
)
GUNICORN = [sys.executable, "-m", "gunicorn", "--workers", str(WORKERS), *SAME_FOR_EVERY_APP.split()]
FLASK = [sys.executable, "-m", "flask", "--app", "wsgi"]
VARIANTS = ("bare", "capture", "direct")
#: wrk's script for the no-loss rounds: each thread writes the click id of every 302 it receives.
RECORD_IDS = """
local threads = 0
function setup(thread)
  thread:set("number", threads)
  threads = threads + 1
end
function init(args)
  ids = io.open(args[1] .. "-" .. number .. ".txt", "w")
end
function response(status, headers, body)
  local location = headers["Location"]
  if status == 302 and location then ids:write(location:match("[^:]*$"), "\\n") end
end
"""


#: wrk's script for the paced rounds: each connection waits a random 0 to 2x ``interval`` ms before each
#: request, so the connections do not fire in waves and the offered rate is about CONNECTIONS/interval.
PACE = """
local threads = 0
function setup(thread)
  thread:set("number", threads)
  threads = threads + 1
end
function init(args)
  interval = tonumber(args[1])
  math.randomseed(1000 + number)
end
function delay()
  return math.random(0, 2 * interval)
end
"""


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
    print(f"load average at start: {load_average()}")
    env = bench_env(DATABASE_URL, REDIS_URL)
    codes = seed(env)
    # "direct": the same app with its Redis unreachable, so every click takes the outage path (its
    # once-per-10-s warning "redis unavailable" is expected: LOG_LEVEL=ERROR keeps it off the figures).
    direct_env = {**env, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", "LOG_LEVEL": "ERROR"}
    print_cpu(env, direct_env, codes)
    ports = {name: free_port() for name in VARIANTS}
    servers = [
        start([*GUNICORN, "--bind", f"127.0.0.1:{ports['bare']}", "bench.bare_app:app"], env),
        start([*GUNICORN, "--bind", f"127.0.0.1:{ports['capture']}", "wsgi:app"], env),
        start([*GUNICORN, "--bind", f"127.0.0.1:{ports['direct']}", "wsgi:app"], direct_env),
    ]
    processes = [
        *servers,
        start([*FLASK, "rq", "worker", "periodic"], env),
        start([*FLASK, "rq", "scheduler"], env),
    ]
    try:
        urls = {name: f"http://127.0.0.1:{port}/l/{codes[name]}" for name, port in ports.items()}
        for port in ports.values():
            wait_for(port)
        print_setup(urls)
        # Warm-up, not recorded: every app's workers have served requests, the capture app's stream
        # consumer and the direct app's buffer writer exist, and PostgreSQL has the tables in memory.
        for name in VARIANTS:
            wrk(urls[name], duration=WARM_UP_S)
        rounds = []
        for number in range(1, ROUNDS + 1):
            results = {}
            # Each app starts on a settled box: the capture app's flush and the direct app's buffer writer
            # finish their work before the next app is loaded, so no app pays for another's backlog.
            # The order turns every round, so none is always first or always after the same neighbour.
            for name in ROUND_ORDERS[(number - 1) % len(ROUND_ORDERS)]:
                settle(env)
                with Backlog(env) as backlog:
                    results[name] = wrk(urls[name])
                if name == "capture":
                    capture_backlog = backlog
            print_round(number, results, capture_backlog)
            rounds.append(results)
        print_summary(rounds)
        with tempfile.TemporaryDirectory(prefix="bench-redirect-") as folder:
            print_paced(urls, Path(folder) / "pace.lua")
            acknowledged = {name: wrk_recording_ids(urls[name], Path(folder) / name) for name in VARIANTS[1:]}
        for server in servers:  # SIGTERM: the direct app's workers commit their buffers on their way out
            server.terminate()
            server.wait(timeout=60)
        print_flush_check(env, time.monotonic(), codes, acknowledged)
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            process.wait(timeout=60)
    print(f"load average at the end: {load_average()}")


def seed(env: dict[str, str]) -> dict[str, str]:
    """A fresh schema, a CPC offer, an asset, two partners with a link each (one for the capture app,
    one for the direct app, so each app's rows can be counted apart), an empty Redis. Returns the code
    each app is loaded on."""
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
        codes = {}
        for name in VARIANTS:
            partner = partners.get_or_create_partner(f"{name}@example.com")
            codes[name] = links.get_or_create_link(partner.id, asset.id).code
        db.session.commit()
        db.engine.dispose()
    return codes


def print_cpu(env: dict[str, str], direct_env: dict[str, str], codes: dict[str, str]) -> None:
    """The in-process CPU step, in a child process of its own."""
    argv = [sys.executable, str(ROOT / "bench" / "redirect_cpu.py"), codes["capture"], codes["direct"]]
    child_env = {**env, "BENCH_DIRECT_REDIS_URL": direct_env["REDIS_URL"], "LOG_LEVEL": "ERROR"}
    output = subprocess.run(
        [*argv, str(CPU_REQUESTS)], cwd=ROOT, env=child_env, capture_output=True, text=True, check=True
    ).stdout
    print(output, end="")


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


def wrk(url: str, script: str = "", *script_args: str, duration: int = DURATION) -> WrkResult:
    """wrk at ``CONNECTIONS`` connections, as fast as they can go unless ``script`` paces them."""
    argv = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{duration}s", "--latency", "-H"]
    argv += [f"User-Agent: {USER_AGENT}", *(["-s", script] if script else []), url]
    argv += ["--", *script_args] if script_args else []
    output = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    latency = {m[0]: float(m[1]) * UNIT_MS[m[2]] for m in LATENCY.findall(output)}
    errors = "; ".join(line.strip() for line in output.splitlines() if "errors" in line or "Non-2xx" in line)
    return WrkResult(
        requests=int(re.search(r"(\d+) requests in", output)[1]),
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1]),
        p50_ms=latency["50"],
        p99_ms=latency["99"],
        errors=errors or "none",
    )


def wrk_recording_ids(url: str, prefix: Path) -> list[str]:
    """A short round whose wrk records the click id of every 302 it received; those ids."""
    script = prefix.with_suffix(".lua")
    script.write_text(RECORD_IDS)
    wrk(url, str(script), str(prefix), duration=CHECK_DURATION)
    ids = []
    for path in sorted(prefix.parent.glob(f"{prefix.name}-*.txt")):
        ids += path.read_text().split()
    return ids


#: The order the apps are loaded in, round by round.
ROUND_ORDERS = (("bare", "capture", "direct"), ("capture", "direct", "bare"), ("direct", "bare", "capture"))
#: A settled box: this share of both CPUs idle over half a second, and the click stream empty.
SETTLED_IDLE_SHARE = 0.85
SETTLE_TIMEOUT_S = 60.0


def cpu_times() -> tuple[int, int]:
    """(idle, total) jiffies of the whole machine, from /proc/stat."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return fields[3] + fields[4], sum(fields)


def settle(env: dict[str, str]) -> None:
    """Wait (at most ``SETTLE_TIMEOUT_S``) until the stream is flushed and the machine is idle."""
    import redis

    from contentflow.services.clicks import STREAM_KEY

    client = redis.Redis.from_url(env["REDIS_URL"])
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while time.monotonic() < deadline:
        idle_before, total_before = cpu_times()
        time.sleep(0.5)
        idle_after, total_after = cpu_times()
        idle_share = (idle_after - idle_before) / max(1, total_after - total_before)
        if idle_share >= SETTLED_IDLE_SHARE and client.xlen(STREAM_KEY) == 0:
            return
    print(f"{'':<7}(the box did not settle within {SETTLE_TIMEOUT_S:.0f} s; measuring anyway)")


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


def print_paced(urls: dict[str, str], script: Path) -> None:
    """Latency when the servers are not saturated. With all of wrk's connections busy, requests queue
    for the workers and p50 is about CONNECTIONS / (req/s) whatever the app (Little's law): p99 at
    saturation measures the queue, not the app."""
    print()
    if WORKER_THREADS == 1:  # a sync worker waits on an idle connection for its paused request
        print("paced: skipped with sync workers (each would sit on one idle connection between requests)")
        return
    script.write_text(PACE)
    interval_ms = CONNECTIONS * 1000 / PACED_RATE
    print(f"paced: {CONNECTIONS} connections, pausing 0-{2 * interval_ms:.0f} ms (random) between requests")
    print(f"{'app':<9}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}  errors")
    for name in VARIANTS:
        result = wrk(urls[name], str(script), f"{interval_ms:.0f}", duration=CHECK_DURATION)
        print(f"{name:<9}{result.rps:>9.0f}{result.p50_ms:>9.2f}{result.p99_ms:>9.2f}  {result.errors}")
    print()


def print_setup(urls: dict[str, str]) -> None:
    print(
        f"gunicorn: {WORKERS} {WORKER_CLASS} workers x {WORKER_THREADS} thread(s) for every app; 127.0.0.1; "
        f"{os.cpu_count()} CPUs"
    )
    print(f"wrk -t{THREADS} -c{CONNECTIONS} -d{DURATION}s --latency, one browser User-Agent, {ROUNDS} rounds")
    print(f"bare:    {urls['bare']} (Flask, redirect() only)")
    print(f"capture: {urls['capture']} (production mode, PostgreSQL + Redis stream; worker + scheduler)")
    print(
        f"direct:  {urls['direct']} (same app, its Redis unreachable: clicks buffered, inserted in batches)"
    )
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
        f"{backlog.max_age_s:.1f} s old; load average {load_average()}"
    )


def print_summary(rounds: list[dict[str, WrkResult]]) -> None:
    median = {name: statistics.median(results[name].rps for results in rounds) for name in VARIANTS}
    p99 = {name: max(results[name].p99_ms for results in rounds) for name in VARIANTS}
    print()
    print(
        f"median req/s: bare {median['bare']:.0f}, capture {median['capture']:.0f} "
        f"({median['capture'] / median['bare']:.0%} of bare), direct {median['direct']:.0f} "
        f"({median['direct'] / median['bare']:.0%} of bare); worst p99 at {CONNECTIONS} connections: "
        f"bare {p99['bare']:.2f} ms, capture {p99['capture']:.2f} ms, direct {p99['direct']:.2f} ms"
    )


def _engine():
    import sqlalchemy as sa

    from contentflow.settings import normalize_database_url

    return sa.create_engine(normalize_database_url(DATABASE_URL))


COUNTS = """
SELECT count(*) FILTER (WHERE l.code = :capture), count(*) FILTER (WHERE l.code = :direct), count(*),
       count(DISTINCT c.id)
FROM clicks c JOIN short_links l ON l.id = c.short_link_id
"""


def print_flush_check(
    env: dict[str, str], ended_at: float, codes: dict[str, str], acknowledged: dict[str, list[str]]
) -> None:
    """Wait for the scheduled flush to store every captured click, then compare the capture app's rows
    with the stream's ``entries-added`` (every click it appended, also those wrk did not see answered),
    and look up every click id wrk received in a 302 of the no-loss rounds."""
    import redis
    import sqlalchemy as sa

    from contentflow.services.clicks import STREAM_KEY

    connection = redis.Redis.from_url(env["REDIS_URL"])
    engine = _engine()
    while True:
        appended = int(connection.xinfo_stream(STREAM_KEY)["entries-added"])
        with engine.connect() as db:
            captured, direct, stored, distinct = db.execute(sa.text(COUNTS), codes).one()
        lag = time.monotonic() - ended_at
        if captured >= appended or lag > 60:
            break
        time.sleep(0.1)
    print(f"flush: every captured click in the database {lag:.1f} s after the last round (flush every 5 s)")
    print(
        f"clicks: capture appended {appended} to the stream, the database holds {captured} of its rows; "
        f"direct stored {direct} rows; {stored} rows in all, {distinct} distinct ids"
    )
    with engine.connect() as db:
        for name, ids in acknowledged.items():
            rows = db.scalar(sa.text("SELECT count(*) FROM clicks WHERE id = ANY(:ids)"), {"ids": ids})
            verdict = "exactly one each" if rows == len(set(ids)) == len(ids) else "MISMATCH"
            print(
                f"no-loss round, {name}: wrk received {len(ids)} redirects ({len(set(ids))} distinct click "
                f"ids); the database holds {rows} rows for them: {verdict}"
            )
    engine.dispose()


if __name__ == "__main__":
    main()

"""Postback bench: 10,000 postbacks, 30 % of them duplicates, sent concurrently by wrk; then the ledger is
checked against the expected sum to the cent, and pgbench runs the app's own statement for comparison.

    .venv/bin/python bench/postback.py

The app runs in production mode under gunicorn (``BENCH_WORKERS`` gthread workers of
``BENCH_WORKER_THREADS`` threads, keep-alive; one thread means sync workers) on 127.0.0.1, on PostgreSQL
(``BENCH_DATABASE_URL``, created if missing, emptied and migrated with ``flask db upgrade``) and Redis
(``BENCH_REDIS_URL``). The request list is made up front (amounts with half-cent edges, one in ten in
USD, half authenticated by ``token=``, half by ``X-Signature``), shuffled so duplicates race their
originals; a wrk Lua script walks it, each wrk thread its share. wrk is stopped once every thread has had
its share answered, or after ``BENCH_MAX_SECONDS``. The transactions the database committed meanwhile
give the mean batch of the group commit; /proc gives the CPU gunicorn, the database's backends and wrk
used per postback, and how busy the rest of the (shared) machine kept the CPUs.

Then pgbench (``-M prepared``, full durability) runs the very statements the app sends, for
``BENCH_PGBENCH_SECONDS`` each: ``services.postback_fast.WRITE``, one postback per transaction, from 4
clients; and ``WRITE_MANY`` (a batch in one statement, as the group commit sends it) with batches of the
app's mean size, from as many clients as the app has group commit connections (one per worker), its JSON
parameter built by the server from pgbench's variables. 30 % of pgbench's postbacks replay the client's
previous one. So the app's figure reads as a share of what PostgreSQL does on the box. Prints figures;
never asserts.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import re
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import bench_env, free_port, fresh_database  # noqa: E402 - bench/ is the script's folder

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/cf_bench_pb")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")
TOTAL = int(os.environ.get("BENCH_POSTBACKS", "10000"))
DUPLICATE_SHARE = Decimal("0.30")
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
WORKER_THREADS = int(os.environ.get("BENCH_WORKER_THREADS", "16"))
PGBENCH_SECONDS = int(os.environ.get("BENCH_PGBENCH_SECONDS", "10"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
THREADS = int(os.environ.get("BENCH_THREADS", "2"))
MAX_SECONDS = int(os.environ.get("BENCH_MAX_SECONDS", "300"))
SECRET = secrets.token_urlsafe(32)
NETWORK = "benchnet"
USD_RATE = Decimal("0.9137")
OFFER_BPS = 4000  # the offer's 40 %
ASSET_BPS = 5000  # every third asset has its own 50 %
PARTNER_COUNT, ASSET_COUNT = 50, 12
FLASK = [sys.executable, "-m", "flask", "--app", "wsgi"]
#: One thread per worker means sync workers (as before the group commit), for comparisons.
WORKER_CLASS = "gthread" if WORKER_THREADS > 1 else "sync"
GUNICORN = [sys.executable, "-m", "gunicorn", "--workers", str(WORKERS), "--worker-class", WORKER_CLASS]
GUNICORN += ["--threads", str(WORKER_THREADS)]

LUA = r"""
-- Walks a pre-made list of "path<TAB>signature" lines; thread i takes lines i, i+n, i+2n...
local threads, count = {}, 0

function setup(thread)
  thread:set("id", count)
  count = count + 1
  table.insert(threads, thread)
end

function init(args)
  local thread_count = tonumber(args[2])
  queue, sent, answered, ok, failed = {}, 0, 0, 0, 0
  local line_number = 0
  for line in io.lines(args[1]) do
    if line_number % thread_count == id then
      local path, signature = line:match("^([^\t]*)\t(.*)$")
      local headers = {}
      if signature ~= "" then headers["X-Signature"] = signature end
      table.insert(queue, wrk.format("GET", path, headers))
    end
    line_number = line_number + 1
  end
  planned = #queue
  marker = args[3] .. "/done-" .. id
end

function request()
  sent = sent + 1
  -- Past the end of its share a connection replays the share's first lines (duplicates: harmless)
  -- until the thread stops; the bench reports how many were sent in all.
  return queue[((sent - 1) % planned) + 1]
end

function response(status, headers, body)
  answered = answered + 1
  if status == 200 then ok = ok + 1 else failed = failed + 1 end
  if answered == planned then
    -- Tell the bench this thread is through its share; wrk itself only stops at -d or on SIGINT.
    io.open(marker, "w"):close()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local sent_all, ok_all, failed_all = 0, 0, 0
  for _, thread in ipairs(threads) do
    sent_all = sent_all + thread:get("sent")
    ok_all = ok_all + thread:get("ok")
    failed_all = failed_all + thread:get("failed")
  end
  local errors = summary.errors
  io.write(string.format("RESULT sent %d ok %d failed %d\n", sent_all, ok_all, failed_all))
  io.write(string.format("RESULT completed %d duration_us %d\n", summary.requests, summary.duration))
  io.write(string.format("RESULT p50_us %d p90_us %d p99_us %d max_us %d\n", latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.max))
  io.write(string.format("RESULT socket_errors %d\n",
    errors.connect + errors.read + errors.write + errors.timeout))
end
"""


@dataclass(frozen=True)
class Plan:
    """The request lines to send and the ledger total they must produce."""

    lines: list[str]
    #: The partner's share of each unique txn_id, in cents.
    share_cents: dict[str, int]

    @property
    def unique_count(self) -> int:
        return len(self.share_cents)


def main() -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")
    env = bench_env(DATABASE_URL, REDIS_URL)
    fresh_database(DATABASE_URL)
    subprocess.run([*FLASK, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True, timeout=300)
    clicks = seed(env)
    plan = make_plan(clicks)
    port = free_port()
    server = subprocess.Popen(
        [*GUNICORN, "--bind", f"127.0.0.1:{port}", "--log-level", "warning", "wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz")
        with tempfile.TemporaryDirectory(prefix="cf-bench-pb-") as folder:
            requests_file, script = Path(folder, "requests.txt"), Path(folder, "postback.lua")
            requests_file.write_text("\n".join(plan.lines) + "\n")
            script.write_text(LUA)
            print_setup(plan)
            commits_before = committed_transactions()
            meter = CpuMeter(server.pid)
            output = run_wrk(f"http://127.0.0.1:{port}", script, requests_file)
            cpu = meter.stop()
            time.sleep(1)  # the answers still in flight when wrk stopped are logged before the counts
            commits = committed_transactions() - commits_before
    finally:
        server.terminate()
        server.wait(timeout=30)
    rate = print_results(output, plan)
    if rate is not None:
        print_cpu(cpu, len(plan.lines))
        compare_with_pgbench(rate, commits, plan, clicks[0][0])


def seed(env: dict[str, str]) -> list[tuple[str, int]]:
    """The network, a 40 % offer, partners, assets (every third at 50 %), a USD rate and one click per
    unique sale. Returns (subid, share in basis points) per click."""
    from sqlalchemy import insert

    from contentflow import create_app
    from contentflow.extensions import db
    from contentflow.models import Click
    from contentflow.services import assets, fx, offers, partners

    app = create_app({"ENVIRON": env})
    with app.app_context():
        offers.create_network(NETWORK, SECRET)
        url = "https://acme.example.net/go?sub={subid}"
        offer = offers.create_offer("Bench revshare", NETWORK, url, revshare_pct=Decimal(OFFER_BPS) / 100)
        fx.set_rate("USD", str(USD_RATE))
        people = [partners.get_or_create_partner(f"bench{n}@example.com") for n in range(PARTNER_COUNT)]
        videos = [assets.create_asset(f"Bench video {n}", offer=offer) for n in range(ASSET_COUNT)]
        for video in videos[::3]:
            video.revshare_bps = ASSET_BPS
        db.session.flush()
        rows, clicks = [], []
        for number in range(unique_count()):
            partner, asset = people[number % PARTNER_COUNT], videos[number % ASSET_COUNT]
            click_id = f"b{number:013d}"
            rows.append(
                {"id": click_id, "partner_id": partner.id, "asset_id": asset.id, "offer_id": offer.id}
                | {"ip_hash": "0" * 32, "visitor_hash": "1" * 32}
            )
            clicks.append((f"{partner.id}:{asset.id}:{click_id}", asset.revshare_bps or OFFER_BPS))
        db.session.execute(insert(Click), rows)
        db.session.commit()
        db.engine.dispose()
    return clicks


def unique_count() -> int:
    return int(TOTAL - (Decimal(TOTAL) * DUPLICATE_SHARE).to_integral_value())


def make_plan(clicks: list[tuple[str, int]]) -> Plan:
    """One confirmed postback per click, then duplicates drawn among them, all shuffled together.

    The expected total follows the documented rules, independently of the app's code: the amount in the
    currency's cents (half-up), to EUR at the rate (half-up), the share in basis points (half-up)."""
    chooser = random.Random(20261123)
    uniques, shares = [], {}
    for number, (subid, bps) in enumerate(clicks):
        # Three decimals, so half a cent comes up; amounts from 0.001 to 250.000.
        amount = Decimal(chooser.randint(1, 250_000)).scaleb(-3)
        currency = "USD" if number % 10 == 0 else "EUR"
        fields = {"network": NETWORK, "txn_id": f"BENCH-{number}", "subid": subid, "amount": str(amount)}
        fields |= {"currency": currency, "status": "approved"}
        uniques.append(signed_line(fields, chooser.random() < 0.5))
        minor = half_up(amount * 100)
        eur_cents = half_up(Decimal(minor) / 100 * (USD_RATE if currency == "USD" else 1) * 100)
        shares[fields["txn_id"]] = half_up(Decimal(eur_cents) * bps / 10000)
    duplicates = [chooser.choice(uniques) for _ in range(TOTAL - len(uniques))]
    lines = uniques + duplicates
    chooser.shuffle(lines)
    return Plan(lines, shares)


def half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def signed_line(fields: dict[str, str], is_signed: bool) -> str:
    """``path<TAB>X-Signature`` (HMAC of the raw query string), or a path carrying ``token=``."""
    if not is_signed:
        return f"/aff/postback?{urlencode({**fields, 'token': SECRET})}\t"
    query = urlencode(fields)
    digest = hmac.new(SECRET.encode(), query.encode(), hashlib.sha256).hexdigest()
    return f"/aff/postback?{query}\tsha256={digest}"


def wait_for(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)  # noqa: S310 - our own 127.0.0.1 URL
            return
        except urllib.error.HTTPError as answer:
            sys.exit(f"{url} answered {answer.code}")
        except OSError:
            time.sleep(0.2)
    sys.exit(f"{url} did not answer within 60 s")


def run_wrk(base_url: str, script: Path, requests_file: Path) -> str:
    """Run wrk until each of its threads has had an answer to every line of its share (then SIGINT: wrk
    reports and exits), or for ``MAX_SECONDS`` at most."""
    folder = requests_file.parent
    argv = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{MAX_SECONDS}s", "--timeout", "10s"]
    argv += ["-s", str(script), base_url, "--", str(requests_file), str(THREADS), str(folder)]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + MAX_SECONDS + 30
    while process.poll() is None and time.monotonic() < deadline:
        if len(list(folder.glob("done-*"))) == THREADS:
            process.send_signal(signal.SIGINT)
            break
        time.sleep(0.02)
    output, _ = process.communicate(timeout=60)
    return output


def print_setup(plan: Plan) -> None:
    print(
        f"postbacks: {len(plan.lines)} GET /aff/postback ({plan.unique_count} unique txn_ids, "
        f"{len(plan.lines) - plan.unique_count} duplicates), shuffled; half token=, half X-Signature; "
        "one in ten in USD"
    )
    print(
        f"gunicorn: {WORKERS} {WORKER_CLASS} workers x {WORKER_THREADS} threads; "
        f"wrk -t{THREADS} -c{CONNECTIONS} (Lua walks the list); "
        f"127.0.0.1; {os.cpu_count()} CPUs (load average {os.getloadavg()[0]:.1f} at start); "
        "PostgreSQL + Redis"
    )


def print_results(output: str, plan: Plan) -> float | None:
    """Print wrk's figures, the log's outcomes and the ledger check; the postbacks per second."""
    import psycopg

    figures = {key: int(value) for key, value in re.findall(r"(\w+) (\d+)", " ".join(result_lines(output)))}
    if "duration_us" not in figures:
        print(output)
        return None
    seconds = figures["duration_us"] / 1e6
    extra = figures["sent"] - len(plan.lines)
    sent = (
        f"{figures['sent']} sent ({extra} replays past the list's end)"
        if extra >= 0
        else (f"only {figures['sent']} of {len(plan.lines)} sent within {MAX_SECONDS} s")
    )
    print(
        f"wrk: {figures['completed']} answers in {seconds:.2f} s = {figures['completed'] / seconds:.0f} "
        f"postbacks/s; {sent}; 200: {figures['ok']}, other: {figures['failed']}; "
        f"socket errors: {figures['socket_errors']}"
    )
    print(
        "latency: "
        + ", ".join(f"{name} {figures[f'{name}_us'] / 1000:.1f} ms" for name in ("p50", "p90", "p99", "max"))
    )
    with psycopg.connect(DATABASE_URL) as connection:
        outcomes = connection.execute(
            "SELECT outcome, reason, count(*) FROM postback_log GROUP BY 1, 2 ORDER BY 3 DESC"
        ).fetchall()
        conversions, in_review = connection.execute(
            "SELECT count(*), count(*) FILTER (WHERE needs_review) FROM conversions"
        ).fetchone()
        entries, total_cents = connection.execute(
            "SELECT count(*), coalesce(sum(amount_cents), 0) FROM ledger_entries"
        ).fetchone()
        received = [row[0] for row in connection.execute("SELECT txn_id FROM conversions")]
    print("log: " + ", ".join(f"{outcome}/{reason} {count}" for outcome, reason, count in outcomes))
    print(f"conversions: {conversions} (expected {plan.unique_count}), {in_review} needing review")
    expected = sum(plan.share_cents[txn_id] for txn_id in received)
    verdict = (
        "EQUAL to the cent" if total_cents == expected else f"DIFFERENT by {euros(total_cents - expected)}"
    )
    scope = "all" if len(received) == plan.unique_count else f"the {len(received)} received of the"
    print(
        f"ledger: {entries} entries, total {euros(total_cents)}; expected {euros(expected)} from the shares "
        f"of {scope} {plan.unique_count} unique txn_ids: {verdict}"
    )
    return figures["completed"] / seconds


class CpuMeter:
    """CPU seconds used while wrk runs, from /proc (Linux): by gunicorn (``server_pid`` and its workers),
    by the bench database's PostgreSQL backends, by wrk (a child of this process), and by the whole box."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.started_at = time.monotonic()
        self.box = box_cpu()
        self.children = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.app = process_cpu(family(server_pid))
        self.backends = process_cpu(bench_backends())

    def stop(self) -> dict[str, float]:
        """Seconds of CPU by group since the start, and the wall time (``wall``) and CPUs (``cpus``)."""
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        app = process_cpu(family(self.server_pid))
        backends = process_cpu(bench_backends())
        return {
            "wall": time.monotonic() - self.started_at,
            "cpus": os.cpu_count() or 1,
            "box": box_cpu() - self.box,
            "app": sum(app.values()) - sum(self.app.get(pid, 0.0) for pid in app),
            "postgres": sum(backends.values()) - sum(self.backends.get(pid, 0.0) for pid in backends),
            "wrk": (children.ru_utime + children.ru_stime)
            - (self.children.ru_utime + self.children.ru_stime),
        }


def box_cpu() -> float:
    """Busy CPU seconds of the whole machine since boot (/proc/stat: all but idle and iowait)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def process_cpu(pids: list[int]) -> dict[int, float]:
    """User + system CPU seconds of each live process among ``pids``."""
    seconds = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seconds[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return seconds


def family(pid: int) -> list[int]:
    """``pid`` and its children (gunicorn's master and workers)."""
    pids = [pid]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                pids.append(int(stat.parent.name))
        except (OSError, ValueError):
            continue
    return pids


def bench_backends() -> list[int]:
    """The PostgreSQL backends connected to the bench database (local server only)."""
    import psycopg

    with psycopg.connect(DATABASE_URL, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return [pid for (pid,) in rows]


def print_cpu(cpu: dict[str, float], postbacks: int) -> None:
    """Where the CPU went while wrk ran, per postback, and what the rest of the box used meanwhile."""
    ours = cpu["app"] + cpu["postgres"] + cpu["wrk"]
    others = max(cpu["box"] - ours, 0.0)
    per = {name: cpu[name] / postbacks * 1e6 for name in ("app", "postgres", "wrk")}
    print(
        f"cpu per postback: gunicorn {per['app']:.0f} us, PostgreSQL backends {per['postgres']:.0f} us, "
        f"wrk {per['wrk']:.0f} us; the box was {cpu['box'] / (cpu['wall'] * cpu['cpus']):.0%} busy, "
        f"{others / (cpu['wall'] * cpu['cpus']):.0%} by other work (WAL writer, other processes)"
    )


def committed_transactions() -> int:
    """The bench database's committed transactions so far (the statistics collector's count)."""
    import psycopg

    with psycopg.connect(DATABASE_URL, autocommit=True) as connection:
        connection.execute("SELECT pg_stat_clear_snapshot()")
        return connection.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()[0]


def compare_with_pgbench(app_rate: float, commits: int, plan: Plan, subid: str) -> None:
    """Run the app's statement under pgbench, one postback per transaction and in the app's batches."""
    postbacks = len(plan.lines)
    batch = max(1, round(postbacks / max(commits, 1)))
    print(
        f"group commit: {commits} transactions committed during the run for {postbacks} postbacks "
        f"(a mean of {postbacks / max(commits, 1):.1f} per commit)"
    )
    if shutil.which("pgbench") is None:
        print("pgbench: not installed (apt-get install postgresql-client), no comparison")
        return
    from contentflow.services.group_commit import WRITERS

    clients = WORKERS * WRITERS  # the app's connections that commit batches
    single = run_pgbench(subid, clients=4, batch=1)
    batched = run_pgbench(subid, clients=clients, batch=batch)
    print(f"pgbench, the app's WRITE, 1 postback per transaction, 4 clients: {single:.0f} postbacks/s")
    print(
        f"pgbench, the app's WRITE_MANY, {batch} postbacks per statement, {clients} clients: "
        f"{batched:.0f} postbacks/s"
    )
    print(
        f"app: {app_rate:.0f} postbacks/s = {app_rate / single:.0%} of PostgreSQL's single-postback "
        f"transactions, {app_rate / batched:.0%} of its rate in the app's batches "
        f"(load average {os.getloadavg()[0]:.1f} after pgbench)"
    )


def run_pgbench(subid: str, *, clients: int, batch: int) -> float:
    """Postbacks per second pgbench reaches with the app's statements (prepared): ``WRITE`` alone when
    ``batch`` is 1, else ``WRITE_MANY`` for ``batch`` postbacks at a time, as the group commit sends them."""
    import psycopg

    from contentflow.services.postback_fast import WRITE, WRITE_MANY

    with psycopg.connect(DATABASE_URL) as connection:
        network_id, xmin, ctid = connection.execute(
            "SELECT id, xmin::text, ctid::text FROM networks WHERE name = %s", (NETWORK,)
        ).fetchone()
    partner_id, asset_id, click_id = subid.split(":")
    constants = {
        "network_id": network_id,
        "network_xmin": xmin,
        "network_ctid": ctid,
        "currency": "EUR",
        "rate_xmin": "0",
        "rate_ctid": "(0,0)",
        "click_id": click_id,
        "partner_id": partner_id,
        "asset_id": asset_id,
        "subid": subid,
        "status": "confirmed",
        "amount_minor": 12345,
        "amount_eur_cents": 12345,
        "fx_rate": "1",
        "log_network_name": NETWORK,
        "log_params": '{"network":"benchnet","status":"approved","auth":"token"}',
        "log_ip_hash": "0" * 32,
    }
    # 30 % of the postbacks replay the client's previous txn_id, as in the app's run.
    numbers = range(1, batch + 1)
    pick = "".join(
        f"\\set fresh{n} random(1, 1000000000000)\n\\set replay{n} random(1, 10)\n"
        f"\\set txn{n} case when :replay{n} <= 3 and :last > 0 then :last else :fresh{n} end\n"
        f"\\set last :txn{n}\n"
        for n in numbers
    )
    if batch == 1:
        statement = re.sub(r"%\((\w+)\)s", r":\1", WRITE).replace(":log_txn_id", ":txn1")
        statement = statement.replace(":txn_id", ":txn1")
        defines = {**constants, "last": 0}
    else:
        # The batch's JSON parameter, built by the server from pgbench's variables: the constants, and
        # each postback's txn_id (json_agg keeps their order).
        txn_ids = ", ".join(f":txn{n}" for n in numbers)
        parameter = f"""(SELECT json_agg(:constants::jsonb
            || jsonb_build_object('txn_id', t::text, 'log_txn_id', t::text) ORDER BY n)
            FROM unnest(ARRAY[{txn_ids}]::bigint[]) WITH ORDINALITY AS x (t, n))::text"""  # noqa: S608 - no input
        statement = WRITE_MANY.replace("%(batch)s", parameter)
        defines = {"constants": json.dumps(constants), "last": 0}
    script = pick + " ".join(statement.split()) + ";\n"
    with tempfile.NamedTemporaryFile("w", suffix=".pgbench", prefix="cf-bench-pb-") as file:
        file.write(script)
        file.flush()
        argv = ["pgbench", "-n", "-M", "prepared", "-c", str(clients), "-j", str(min(clients, 2))]
        argv += ["-T", str(PGBENCH_SECONDS), "-f", file.name]
        argv += [f"--define={key}={value}" for key, value in defines.items()]
        argv.append(DATABASE_URL.rsplit("/", 1)[1])
        output = subprocess.run(
            argv, env=pgbench_env(), capture_output=True, text=True, timeout=PGBENCH_SECONDS + 120
        )
    found = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", output.stdout)
    if found is None:
        sys.exit(f"pgbench failed:\n{output.stdout}\n{output.stderr}")
    return float(found[1]) * batch


def pgbench_env() -> dict[str, str]:
    """libpq's environment naming the bench database's server (pgbench takes no URL)."""
    from urllib.parse import urlsplit

    parts = urlsplit(DATABASE_URL)
    env = {**os.environ, "PGHOST": parts.hostname or "127.0.0.1", "PGPORT": str(parts.port or 5432)}
    env["PGUSER"] = parts.username or "postgres"
    if parts.password:
        env["PGPASSWORD"] = parts.password
    return env


def result_lines(output: str) -> list[str]:
    return [line[len("RESULT ") :] for line in output.splitlines() if line.startswith("RESULT ")]


def euros(cents: int) -> str:
    return f"{Decimal(cents).scaleb(-2):,.2f} EUR"


if __name__ == "__main__":
    main()

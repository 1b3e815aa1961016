"""Postback bench: 10,000 postbacks, 30 % of them duplicates, sent concurrently by wrk; then the ledger is
checked against the expected sum to the cent.

    .venv/bin/python bench/postback.py

The app runs in production mode under gunicorn (``BENCH_WORKERS`` sync workers) on 127.0.0.1, on
PostgreSQL (``BENCH_DATABASE_URL``, created if missing, emptied and migrated with ``flask db upgrade``)
and Redis (``BENCH_REDIS_URL``). The request list is made up front (amounts with half-cent edges, one
in ten in USD, half authenticated by ``token=``, half by ``X-Signature``), shuffled so duplicates race
their originals; a wrk Lua script walks it, each wrk thread its share. wrk is stopped once every thread
has had its share answered, or after ``BENCH_MAX_SECONDS``. Prints figures; never asserts.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import random
import re
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
WORKERS = int(os.environ.get("BENCH_WORKERS", "4"))
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
GUNICORN = [sys.executable, "-m", "gunicorn", "--workers", str(WORKERS), "--worker-class", "sync"]

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
            output = run_wrk(f"http://127.0.0.1:{port}", script, requests_file)
    finally:
        server.terminate()
        server.wait(timeout=30)
    print_results(output, plan)


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
    time.sleep(1)  # the answers still in flight when wrk stopped are logged before the counts
    return output


def print_setup(plan: Plan) -> None:
    print(
        f"postbacks: {len(plan.lines)} GET /aff/postback ({plan.unique_count} unique txn_ids, "
        f"{len(plan.lines) - plan.unique_count} duplicates), shuffled; half token=, half X-Signature; "
        "one in ten in USD"
    )
    print(
        f"gunicorn: {WORKERS} sync workers; wrk -t{THREADS} -c{CONNECTIONS} (Lua walks the list); "
        f"127.0.0.1; {os.cpu_count()} CPUs (load average {os.getloadavg()[0]:.1f} at start); "
        "PostgreSQL + Redis"
    )


def print_results(output: str, plan: Plan) -> None:
    import psycopg

    figures = {key: int(value) for key, value in re.findall(r"(\w+) (\d+)", " ".join(result_lines(output)))}
    if "duration_us" not in figures:
        print(output)
        return
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


def result_lines(output: str) -> list[str]:
    return [line[len("RESULT ") :] for line in output.splitlines() if line.startswith("RESULT ")]


def euros(cents: int) -> str:
    return f"{Decimal(cents).scaleb(-2):,.2f} EUR"


if __name__ == "__main__":
    main()

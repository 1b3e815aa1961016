"""Scale-out proven (issue 13): one fixed plan of redirects and postbacks, driven over HTTP against the
processes production runs, ends with the same clicks, conversions, ledger (to the cent) and payouts on
two gunicorn worker processes (four threads each) + two RQ workers + the scheduler as on one gunicorn
worker (one thread) + one RQ worker + the scheduler; in both runs the scheduler is killed (SIGKILL) in the
middle of the load and restarted, and duplicates no schedule (nor moves the slot of a daily or weekly job).

A run, on an emptied database and Redis:

1. seed: two networks, three offers (CPC; CPC + revenue share; revenue share with an asset's own share),
   four partners with a link to each of the three assets, two FX rates, PayPal details for three partners;
2. start ``gunicorn wsgi:app``, ``flask rq worker`` and ``flask rq scheduler`` in production mode behind
   one trusted proxy hop (``X-Forwarded-For`` names the visitor; the risk plugin's rules are off: what
   they hold depends on when their sweep runs);
3. phase 1: visits from 80 IPs on the 12 links (repeats within the window, bots, HEAD, the seeds'
   ``?pid=`` form, unknown codes), shuffled, 16 at a time; wait until the flush has stored every click
   the redirects answered; their day is then declared over (``created_at`` moved to a fixed past day:
   the accrual only credits closed days, and tests cannot wait for midnight);
4. phase 2, all at once: postbacks naming half of phase 1's clicks (confirmed, pending, pending ->
   confirmed, confirmed -> reversed, pending -> rejected, an unknown click, a currency without a rate;
   30 % replays, those of one-step sales racing their original), visits from 80 other IPs, two accrual
   runs racing on the RQ workers, extra flushes; a third of the way, the scheduler is killed and another
   started;
5. wait until phase 2's clicks are stored; their day is declared over too (clicks that reached the
   database after their day was credited) and two more racing accrual runs credit them; then two racing
   payout proposals;
6. read the outcome from the database, as aggregates: ids are random.

Both runs must also match what the plan says the documented rules give (billable clicks, conversions,
earnings), so a loss both runs share is caught too. Only HTTP drives the app and only the database and
Redis are read: the redirect and postback paths may be rewritten freely underneath.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask
from rq import Worker
from rq.job import Job, JobStatus

from contentflow.extensions import db as _db
from contentflow.queueing import QUEUES, get_queue
from contentflow.queueing.decorators import enqueue_on, resolve_job
from contentflow.queueing.scheduling import make_scheduler
from contentflow.services import assets, fx, links, offers, partners
from tests.conftest import truncate_all
from tests.integration.conftest import ROOT

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
PLAN_SEED = 20261213
#: The closed day every click is moved to once stored (a Wednesday, long over).
CLOSED_DAY = datetime(2025, 1, 15, 6, tzinfo=UTC)
CLIENT_THREADS = 16
#: With 0 to 3 GETs each, a HEAD or a bot now and then: about 650 visits per phase.
VISITORS_PER_LINK = 30
DEADLINE_SECONDS = 90

NETWORKS = {"alpha": "alpha-secret-0123456789abcdef", "beta": "beta-secret-0123456789abcdef"}
#: name: (network, URL, CPC cents, revenue share percent)
OFFERS = {
    "Alpha CPC": ("alpha", "https://alpha.example.net/go?sub={subid}", 12, "40"),
    "Beta CPC": ("beta", "https://beta.example.net/p?ref=cf&sub={subid}", 7, "25"),
    "Alpha share": ("alpha", "https://alpha.example.net/s?sub={subid}", None, "50"),
}
#: title: (offer, the asset's own share in basis points)
ASSETS = {
    "Alpha video": ("Alpha CPC", None),
    "Beta video": ("Beta CPC", None),
    "Gamma video": ("Alpha share", 6000),
}
PARTNERS = ("ana@example.com", "ben@example.com", "cleo@example.com", "dev@example.com")
#: The partners with payout details (the fourth has none: never proposed a payout).
PAID_BY_PAYPAL = PARTNERS[:3]
LINKS = [(email, title) for email in PARTNERS for title in ASSETS]
RATES = {"USD": Decimal("0.9137"), "GBP": Decimal("1.1712")}
DECIMALS = {"EUR": 2, "USD": 2, "GBP": 2, "JPY": 0}
BROWSERS = (
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko)",
)
#: A crawler, a link-preview fetcher, and no User-Agent at all: recorded, never billed.
BOTS = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "",
)
NETWORK_IP = "192.0.2.10"
#: Every process's environment, over the test app's database, Redis and secrets.
PRODUCTION = {
    "CONTENTFLOW_ENV": "production",
    "BREVO_API_KEY": "unused-nothing-is-mailed",
    "TRUSTED_PROXY_HOPS": "1",
    "LOG_LEVEL": "WARNING",
    "RISK_VELOCITY_MAX_CLICKS_10M": "0",
    "RISK_SHARED_IP_MAX_PARTNERS": "0",
    "RISK_FAST_CONVERSIONS_MAX": "0",
}
#: ``flask rq scheduler``, checking for due jobs every second instead of 5 (flushes come sooner).
SCHEDULER = (str(BIN / "flask"), "--app", "wsgi", "rq", "scheduler", "--interval", "1")
RECONCILED = re.compile(r"schedules: (\d+) added, (\d+) cancelled, (\d+) kept")
OVER = (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED)


# --- the plan ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Visit:
    link: int
    ip: str
    agent: str
    is_bot: bool
    method: str = "GET"
    #: The seeds' ``/l/<asset>?pid=<partner>`` instead of ``/l/<code>``.
    seeds_form: bool = False


@dataclass(frozen=True)
class Step:
    status: str
    amount: str
    currency: str
    replays: int


@dataclass(frozen=True)
class Sale:
    txn_id: str
    network: str
    #: The phase-1 visit whose click the subid names; None: a click that does not exist.
    visit: int | None
    steps: tuple[Step, ...]
    #: 0 GET token=, 1 GET X-Signature, 2 POST form token=, 3 POST JSON X-Signature.
    mode: int


@dataclass(frozen=True)
class Plan:
    visits: tuple[list[Visit], list[Visit]]
    misses: list[str]
    sales: list[Sale]


#: Sale shapes, in turn: each a list of statuses sent one after the other.
SHAPES = (
    ("confirmed",),
    ("pending",),
    ("pending", "confirmed"),
    ("confirmed", "reversed"),
    ("confirmed",),
    ("pending", "rejected"),
    ("confirmed",),
)


def make_plan() -> Plan:
    chooser = random.Random(PLAN_SEED)
    phase_1 = make_visits(chooser, "198.51.100")
    phase_2 = make_visits(chooser, "203.0.113")
    sales = []
    for number, index in enumerate(range(0, len(phase_1), 2)):
        network = network_of(phase_1[index])
        shape = SHAPES[number % len(SHAPES)]
        currency = chooser.choice(("EUR",) * 6 + ("USD", "GBP"))
        sales.append(Sale(f"T{number:04d}", network, index, make_steps(chooser, shape, currency), number % 4))
    # Waiting for an admin: a click that does not exist, and a currency without a rate.
    sales.append(Sale("T-UNKNOWN", "alpha", None, make_steps(chooser, ("confirmed",), "EUR"), 0))
    sales.append(Sale("T-NORATE", network_of(phase_1[1]), 1, make_steps(chooser, ("confirmed",), "JPY"), 1))
    misses = [f"/l/no-such-code-{n}" for n in range(3)]
    return Plan((phase_1, phase_2), misses, sales)


def network_of(visit: Visit) -> str:
    """The network of the offer behind the visited link."""
    return OFFERS[ASSETS[LINKS[visit.link][1]][0]][0]


def make_visits(chooser: random.Random, prefix: str) -> list[Visit]:
    """``VISITORS_PER_LINK`` visitors per link among 80 IPs (so IPs meet several partners), each zero to
    three GETs, sometimes a HEAD, sometimes a bot from the same IP; the first link half through the
    seeds' form."""
    ips = [f"{prefix}.{n}" for n in range(1, 81)]
    visits = []
    for link in range(len(LINKS)):
        for ip in chooser.sample(ips, VISITORS_PER_LINK):
            agent = BROWSERS[int(ip.rsplit(".", 1)[1]) % len(BROWSERS)]
            for _ in range(chooser.choice((0, 1, 1, 2, 3))):
                visits.append(Visit(link, ip, agent, False, seeds_form=link == 0 and chooser.random() < 0.5))
            if chooser.random() < 0.2:
                visits.append(Visit(link, ip, agent, False, "HEAD"))
            if chooser.random() < 0.2:
                visits.append(Visit(link, ip, chooser.choice(BOTS), True, chooser.choice(("GET", "HEAD"))))
    chooser.shuffle(visits)
    return visits


def make_steps(chooser: random.Random, shape: tuple[str, ...], currency: str) -> tuple[Step, ...]:
    """Amounts with three decimals (half cents come up), 1 to 250 units; a confirmation after a pending
    report brings its own amount, a reversal repeats the confirmed one. A replay follows 43 % of the
    reports, so replays are 30 % of all postbacks."""
    steps, amount = [], ""
    for status in shape:
        if status in ("pending", "confirmed") or not amount:
            amount = str(Decimal(chooser.randint(1_000, 250_000)).scaleb(-3))
        steps.append(Step(status, amount, currency, int(chooser.random() < 0.43)))
    return tuple(steps)


def half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


# --- what the documented rules make of the plan --------------------------------------------------------


def expected_clicks(plan: Plan) -> dict[tuple[str, str], dict[str, int]]:
    """Per link: every visit is a click; bots and HEAD are not billable, and a browser's GETs bill once
    per IP and link within the repeat window (one User-Agent per IP, so the visitor is the IP either
    way). The CPC is the offer's."""
    result = {}
    visits = [v for phase in plan.visits for v in phase]
    for link, (email, title) in enumerate(LINKS):
        mine = [v for v in visits if v.link == link]
        gets = [v for v in mine if not v.is_bot and v.method == "GET"]
        billable = len({v.ip for v in gets})
        cpc = OFFERS[ASSETS[title][0]][2] or 0
        result[(email, title)] = {
            "clicks": len(mine),
            "billable": billable,
            "bot": sum(v.is_bot for v in mine),
            "head": sum(not v.is_bot and v.method == "HEAD" for v in mine),
            "repeat": len(gets) - billable,
            "cpc_cents": billable * cpc,
        }
    return result


@dataclass(frozen=True)
class Expected:
    #: (status, amount_minor, currency, amount_eur_cents, needs_review, review_reason, partner, asset,
    #: phase-1 visit): as ``Run.result`` reads a conversion.
    row: tuple
    #: The partner's share credited (0: none), and whether it was taken back.
    credit_cents: int
    is_reversed: bool


def expected_conversions(plan: Plan) -> dict[str, Expected]:
    """txn_id -> what the sale must become."""
    result = {}
    for sale in plan.sales:
        # The last report decides the status; its amount is the confirmed one (a reversal or a
        # rejection repeats the amount it takes back).
        step = sale.steps[-1]
        final = step.status
        minor = half_up(Decimal(step.amount).scaleb(DECIMALS[step.currency]))
        rate = Decimal(1) if step.currency == "EUR" else RATES.get(step.currency)
        eur_cents = (
            None if rate is None else half_up(Decimal(minor).scaleb(-DECIMALS[step.currency]) * rate * 100)
        )
        email, title = LINKS[plan.visits[0][sale.visit].link] if sale.visit is not None else (None, None)
        reason = "unknown_click" if sale.visit is None else ("no_rate" if eur_cents is None else None)
        credit = 0
        if reason is None and final in ("confirmed", "reversed"):
            offer_name, asset_bps = ASSETS[title]
            bps = asset_bps if asset_bps is not None else int(Decimal(OFFERS[offer_name][3]) * 100)
            credit = half_up(Decimal(eur_cents) * bps / 10000)
        row = (final, minor, step.currency, eur_cents, reason is not None, reason, email, title, sale.visit)
        result[sale.txn_id] = Expected(row, credit, final == "reversed")
    return result


def expected_earnings(plan: Plan) -> dict[tuple[str, str], int]:
    """(partner, kind) -> cents, for the earning kinds, before any payout."""
    result: Counter = Counter()
    for (email, _title), figures in expected_clicks(plan).items():
        result[(email, "click_earnings")] += figures["cpc_cents"]
    for sale in expected_conversions(plan).values():
        email = sale.row[6]
        if sale.credit_cents:
            result[(email, "conversion_share")] += sale.credit_cents
            if sale.is_reversed:
                result[(email, "reversal")] -= sale.credit_cents
    return {key: value for key, value in result.items() if value}


# --- the processes -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Stack:
    """The processes of one run, their logs in ``folder``; ``stop`` ends every one still running."""

    env: dict[str, str]
    folder: Path
    port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    files: list[IO[str]] = field(default_factory=list)

    def start(self, name: str, *argv: str, **env: str) -> subprocess.Popen:
        log = (self.folder / f"{name}.log").open("w")
        self.files.append(log)
        environment = self.env | env
        process = subprocess.Popen(argv, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT)
        self.processes[name] = process
        return process

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")

    def tails(self) -> str:
        return "\n".join(
            f"--- {name} (exit {process.poll()}):\n" + "\n".join(self.log(name).splitlines()[-15:])
            for name, process in self.processes.items()
        )

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None and process.returncode != -signal.SIGKILL:
                pytest.fail(f"{name} exited with {process.returncode}\n{self.tails()}")

    def kill(self, name: str) -> None:
        process = self.processes[name]
        process.kill()
        process.wait(timeout=30)

    def stop(self) -> None:
        running = [p for p in self.processes.values() if p.poll() is None]
        for process in running:  # gunicorn's quick shutdown: the outcome has been read
            process.send_signal(signal.SIGQUIT if process is self.processes.get("web") else signal.SIGTERM)
        for process in running:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)
        for log in self.files:
            log.close()

    def wait_until(self, condition: Callable[[], Any], what: str, timeout: float = DEADLINE_SECONDS) -> Any:
        """Poll ``condition`` until it is truthy (returned); fails after ``timeout`` s or when a process
        died, with the logs' tails."""
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            self.check_alive()
            if time.monotonic() > deadline:
                pytest.fail(f"{what}: not within {timeout} s\n{self.tails()}")
            time.sleep(0.1)


def fetch(port: int, method: str, path: str, headers: dict[str, str], body: bytes | None = None):
    """One request on its own connection (never retried: a click is not idempotent). Returns the status,
    the Location header and the body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.getheader("Location", ""), response.read()
    finally:
        connection.close()


# --- one run -------------------------------------------------------------------------------------------


@dataclass
class Seeded:
    partner_ids: dict[str, str]
    asset_ids: dict[str, str]
    codes: list[str]

    @property
    def emails(self) -> dict[str, str]:
        return {pid: email for email, pid in self.partner_ids.items()}

    @property
    def titles(self) -> dict[str, str]:
        return {aid: title for title, aid in self.asset_ids.items()}


def seed() -> Seeded:
    for name, secret in NETWORKS.items():
        offers.create_network(name, secret)
    for name, (network, url, cpc, percent) in OFFERS.items():
        offers.create_offer(name, network, url, cpc_cents=cpc, revshare_pct=percent)
    for currency, rate in RATES.items():
        fx.set_rate(currency, str(rate))
    asset_ids = {}
    for title, (offer_name, bps) in ASSETS.items():
        asset_ids[title] = assets.create_asset(
            title, offer=offers.get_offer_by_name(offer_name), revshare_bps=bps
        ).id
    partner_ids = {}
    for email in PARTNERS:
        partner = partners.get_or_create_partner(email)
        if email in PAID_BY_PAYPAL:  # as the payout page saves them, without its notification e-mail
            partner.payout_method, partner.payout_paypal_email = "paypal", email
        partner_ids[email] = partner.id
    _db.session.flush()
    codes = [links.get_or_create_link(partner_ids[email], asset_ids[title]).code for email, title in LINKS]
    _db.session.commit()
    _db.session.close()
    return Seeded(partner_ids, asset_ids, codes)


def query(sql: str, **params: Any) -> list[tuple]:
    with _db.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(sa.text(sql), params)]


def close_day(since: datetime) -> int:
    """Declare the day of the clicks made since ``since`` over: move them to ``CLOSED_DAY``, keeping
    their order and spacing. Returns how many moved."""
    with _db.engine.begin() as connection:
        moved = connection.execute(
            sa.text("UPDATE clicks SET created_at = :day + (created_at - :since) WHERE created_at >= :since"),
            {"day": CLOSED_DAY, "since": since},
        )
        return moved.rowcount


class Run:
    """The plan against one stack of processes; ``result`` is what the database holds at the end."""

    def __init__(self, app: Flask, plan: Plan, stack: Stack, seeded: Seeded, redis) -> None:
        self.app, self.plan, self.stack, self.seeded, self.redis = app, plan, stack, seeded, redis
        #: Per phase, the subid each visit's redirect carried.
        self.subids: tuple[dict[int, str], dict[int, str]] = ({}, {})
        self.answers: Counter = Counter()
        self.errors: list[str] = []
        self.lock = threading.Lock()

    # requests

    def visit(self, phase: int, index: int) -> None:
        visit = self.plan.visits[phase][index]
        email, title = LINKS[visit.link]
        path = f"/l/{self.seeded.codes[visit.link]}"
        if visit.seeds_form:
            path = f"/l/{self.seeded.asset_ids[title]}?pid={self.seeded.partner_ids[email]}"
        headers = {"X-Forwarded-For": visit.ip}
        if visit.agent:
            headers["User-Agent"] = visit.agent
        status, location, _ = fetch(self.stack.port, visit.method, path, headers)
        subid = parse_qs(urlsplit(location).query).get("sub", [""])[0]
        if status != 302 or subid.count(":") != 2:
            self.fail(f"{visit.method} {path} answered {status} {location!r}")
        self.subids[phase][index] = subid

    def miss(self, path: str) -> None:
        status, _, _ = fetch(self.stack.port, "GET", path, {"X-Forwarded-For": "198.51.100.200"})
        if status != 404:
            self.fail(f"GET {path} answered {status}")

    def postback(self, sale: Sale, number: int) -> None:
        step = sale.steps[number]
        if sale.visit is None:  # a real partner and asset, a click id that never was
            partner_asset = self.subids[0][0].rsplit(":", 1)[0]
            subid = f"{partner_asset}:zzzzzzzzzzzzzz"
        else:
            subid = self.subids[0][sale.visit]
        fields = {"network": sale.network, "txn_id": sale.txn_id, "subid": subid, "amount": step.amount}
        fields |= {"currency": step.currency, "status": step.status}
        secret = NETWORKS[sale.network]
        headers = {"X-Forwarded-For": NETWORK_IP}
        body = None
        if sale.mode == 0:
            method, path = "GET", f"/aff/postback?{urlencode({**fields, 'token': secret})}"
        elif sale.mode == 1:
            method, path = "GET", f"/aff/postback?{urlencode(fields)}"
            headers["X-Signature"] = signature(secret, urlencode(fields).encode())
        elif sale.mode == 2:
            method, path, body = "POST", "/aff/postback", urlencode({**fields, "token": secret}).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        else:
            method, path, body = "POST", "/aff/postback", json.dumps(fields).encode()
            headers |= {"Content-Type": "application/json", "X-Signature": signature(secret, body)}
        status, _, reply = fetch(self.stack.port, method, path, headers, body)
        try:
            answer = json.loads(reply)
        except ValueError:
            answer = {}
        if status != 200 or answer.get("ok") is not True:
            self.fail(f"postback {sale.txn_id} {step.status} answered {status} {reply[:300]!r}")
            return
        with self.lock:
            self.answers[(sale.txn_id, number, answer.get("outcome"), answer.get("reason"))] += 1

    def fail(self, message: str) -> None:
        with self.lock:
            self.errors.append(message)

    # phases

    def tasks_of_phase_2(self) -> list[Callable[[], None]]:
        """Visits, one-step sales and each of their replays as separate tasks (replays race their
        original), and each multi-step sale as one task sending its reports in order, each followed by
        its replays; shuffled together."""
        tasks: list[Callable[[], None]] = [
            lambda i=i: self.visit(1, i) for i in range(len(self.plan.visits[1]))
        ]
        for sale in self.plan.sales:
            if len(sale.steps) == 1:
                tasks += [lambda s=sale: self.postback(s, 0)] * (1 + sale.steps[0].replays)
            else:
                tasks.append(lambda s=sale: self.chain(s))
        random.Random(PLAN_SEED + 2).shuffle(tasks)
        return tasks

    def chain(self, sale: Sale) -> None:
        for number, step in enumerate(sale.steps):
            for _ in range(1 + step.replays):
                self.postback(sale, number)

    def run_tasks(self, tasks: list[Callable[[], None]], at_progress: dict[int, Callable[[], None]]) -> None:
        """Run ``tasks`` on ``CLIENT_THREADS`` threads; ``at_progress[n]`` is called (on a client thread)
        once n tasks are done."""
        done = [0]

        def run(task: Callable[[], None]) -> None:
            try:
                task()
            except Exception as error:  # reported with the others below
                self.fail(f"{type(error).__name__}: {error}")
            with self.lock:
                done[0] += 1
                hook = at_progress.get(done[0])
            if hook is not None:
                hook()

        with ThreadPoolExecutor(CLIENT_THREADS) as pool:
            list(pool.map(run, tasks))

    def enqueue(self, name: str, count: int = 1) -> list[Job]:
        return [enqueue_on(self.app, resolve_job(name, self.app), (), {}) for _ in range(count)]

    def wait_for_jobs(self, jobs: list[Job]) -> None:
        self.stack.wait_until(
            lambda: all(job.get_status(refresh=True) in OVER for job in jobs), "background jobs to finish"
        )
        for job in jobs:
            result = job.latest_result()
            assert job.get_status() == JobStatus.FINISHED, (job.func_name, result and result.exc_string)

    def wait_for_clicks(self) -> None:
        """Until the database holds every click the redirects answered (the flush is done)."""
        answered = sum(len(phase) for phase in self.subids)
        self.stack.wait_until(
            lambda: query("SELECT count(*) FROM clicks")[0][0] >= answered,
            f"the flush storing all {answered} clicks (stored: {query('SELECT count(*) FROM clicks')[0][0]})",
        )

    def execute(self) -> dict[str, Any]:
        plan, stack = self.plan, self.stack
        since = datetime.now(UTC) - timedelta(seconds=1)
        added = self.reconciled("scheduler-1")
        assert added[1:] == (0, 0), f"a fresh Redis holds no schedule: {added}"

        # Phase 1: visits; once stored, their day is over.
        self.run_tasks([lambda i=i: self.visit(0, i) for i in range(len(plan.visits[0]))], {})
        self.run_tasks([lambda p=p: self.miss(p) for p in plan.misses], {})
        assert not self.errors, self.errors[:10]
        self.wait_for_clicks()
        assert close_day(since) == len(plan.visits[0])

        # Phase 2: postbacks and more visits, the accrual and extra flushes on the workers, and the
        # scheduler killed a third of the way through (so that its successor starts under the load).
        tasks = self.tasks_of_phase_2()
        accruals = self.enqueue("accrue_click_earnings", 2)
        a_third = threading.Event()
        flushes: list[Job] = []
        at_progress = {
            len(tasks) * n // 4: lambda: flushes.extend(self.enqueue("flush_clicks")) for n in (1, 2, 3)
        }
        at_progress[len(tasks) // 3] = a_third.set
        client = threading.Thread(target=self.run_tasks, args=(tasks, at_progress))
        client.start()
        try:
            assert a_third.wait(timeout=DEADLINE_SECONDS), f"phase 2 is stuck\n{stack.tails()}"
            self.restart_scheduler(schedule_count=added[0])
        finally:
            client.join()
        assert not self.errors, self.errors[:10]
        self.wait_for_clicks()
        self.wait_for_jobs(accruals + flushes)

        # The late clicks' day is over too: the next accrual credits them; then the weekly proposals.
        assert close_day(since) == len(plan.visits[1])
        self.wait_for_jobs(self.enqueue("accrue_click_earnings", 2))
        self.wait_for_jobs(self.enqueue("propose_payouts", 2))
        return self.result(schedule_count=added[0])

    # the scheduler

    def reconciled(self, name: str) -> tuple[int, int, int]:
        """(added, cancelled, kept), as the scheduler ``name`` printed them at start."""
        found = self.stack.wait_until(lambda: RECONCILED.search(self.stack.log(name)), f"{name} to start")
        return tuple(int(n) for n in found.groups())

    def schedule_times(self) -> dict[str, tuple[datetime, str | None]]:
        """Scheduled job id -> (next time, its cron string or None)."""
        jobs = list(make_scheduler(self.app).get_jobs(with_times=True))
        times = {job.id: (at, job.meta.get("cron_string")) for job, at in jobs}
        assert len(times) == len(jobs), f"a schedule is held twice: {sorted(job.id for job, _ in jobs)}"
        return times

    def restart_scheduler(self, schedule_count: int) -> None:
        """SIGKILL the scheduler (no clean-up: it may even hold its lock) and start another: it keeps
        every schedule (deterministic ids), adds and cancels none, and a cron schedule keeps its slot
        (an added or replaced one would move, or run at once)."""
        before = self.schedule_times()
        self.stack.kill("scheduler-1")
        self.stack.start("scheduler-2", *SCHEDULER, LOG_LEVEL="INFO")
        assert self.reconciled("scheduler-2") == (0, 0, schedule_count), self.stack.log("scheduler-2")
        after = self.schedule_times()
        assert sorted(after) == sorted(before)
        crons = {key: value for key, value in before.items() if value[1]}
        assert crons, "the accrual and the payout proposals are cron schedules"
        assert {key: after[key] for key in crons} == crons

    # the outcome

    def result(self, schedule_count: int) -> dict[str, Any]:
        """What the database and Redis hold, in names instead of ids; checks what needs no comparison."""
        emails, titles = self.seeded.emails, self.seeded.titles
        stored = query("SELECT id FROM clicks")
        answered = [subid.rsplit(":", 1)[1] for phase in self.subids for subid in phase.values()]
        assert len(set(answered)) == len(answered), "a click id was answered twice"
        assert sorted(row[0] for row in stored) == sorted(answered), "clicks lost or made up"
        visit_of = {subid.rsplit(":", 1)[1]: index for index, subid in self.subids[0].items()}

        clicks = {}
        for partner_id, asset_id, *figures in query(
            "SELECT partner_id, asset_id, count(*), count(*) FILTER (WHERE is_billable),"
            " count(*) FILTER (WHERE not_billable_reason = 'bot'),"
            " count(*) FILTER (WHERE not_billable_reason = 'head'),"
            " count(*) FILTER (WHERE not_billable_reason = 'repeat'),"
            " coalesce(sum(cpc_cents) FILTER (WHERE is_billable), 0),"
            " count(*) FILTER (WHERE is_billable AND cpc_cents > 0 AND accrual_batch IS NULL)"
            " FROM clicks GROUP BY 1, 2"
        ):
            names = ("clicks", "billable", "bot", "head", "repeat", "cpc_cents", "uncredited")
            clicks[(emails[partner_id], titles[asset_id])] = dict(zip(names, map(int, figures), strict=True))
        conversions = {
            txn_id: (status, minor, currency, eur, review, reason, emails.get(pid), titles.get(aid))
            + (visit_of.get(click_id) if click_id else None,)
            for txn_id, status, minor, currency, eur, review, reason, pid, aid, click_id in query(
                "SELECT txn_id, status, amount_minor, currency, amount_eur_cents, needs_review,"
                " review_reason, partner_id, asset_id, click_id FROM conversions"
            )
        }
        ledger = {
            (emails[pid], kind): (count, int(total))
            for pid, kind, count, total in query(
                "SELECT partner_id, kind, count(*), sum(amount_cents) FROM ledger_entries GROUP BY 1, 2"
            )
        }
        schedules = self.schedule_times()
        assert len(schedules) == schedule_count
        for name in QUEUES:
            queue = get_queue(name, self.app)
            queued = queue.job_ids
            assert len(set(queued)) == len(queued), f"a job is queued twice on {name}: {queued}"
            failed = queue.failed_job_registry.get_job_ids()
            assert not failed, [
                Job.fetch(i, connection=self.redis).latest_result().exc_string for i in failed
            ]
        return {
            "clicks": clicks,
            "conversions": conversions,
            #: Two racing accrual runs may split one day's clicks between their entries (each click is
            #: still credited once): the count of click-earnings entries is not compared, their sum is.
            "ledger": {
                key: (None if key[1] == "click_earnings" else count, total)
                for key, (count, total) in ledger.items()
            },
            "ledger_totals": dict(
                (emails[pid], int(total))
                for pid, total in query("SELECT partner_id, sum(amount_cents) FROM ledger_entries GROUP BY 1")
            ),
            "payouts": sorted(
                (emails[pid], status, amount, method)
                for pid, status, amount, method in query(
                    "SELECT partner_id, status, amount_cents, method FROM payouts"
                )
            ),
            "postback_log": Counter(
                {
                    (outcome, reason, status): count
                    for outcome, reason, status, count in query(
                        "SELECT outcome, reason, http_status, count(*) FROM postback_log GROUP BY 1, 2, 3"
                    )
                }
            ),
            "answers": self.answers,
            "holds": query("SELECT count(*) FROM holds")[0][0],
            "schedules": sorted(schedules),
        }


def signature(secret: str, payload: bytes) -> str:
    """``X-Signature``: the HMAC-SHA256 of the raw query string or body, keyed by the network's secret."""
    return "sha256=" + hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


@pytest.fixture
def run_stack(app, committed, redis, process_env, tmp_path) -> Iterator[Callable[..., dict[str, Any]]]:
    """Runs the plan on a fresh database and Redis with ``web_workers`` gunicorn processes of
    ``threads`` threads each and ``rq_workers`` RQ workers, plus the scheduler; returns the outcome."""
    stacks: list[Stack] = []
    env = process_env(**PRODUCTION, BREVO_API_URL=f"http://127.0.0.1:{free_port()}")

    def run(plan: Plan, name: str, web_workers: int, threads: int, rq_workers: int) -> dict[str, Any]:
        truncate_all()
        redis.flushdb()
        seeded = seed()
        folder = tmp_path / name
        folder.mkdir()
        stack = Stack(env, folder)
        stacks.append(stack)
        stack.start(
            "web",
            str(BIN / "gunicorn"),
            f"--workers={web_workers}",
            f"--threads={threads}",
            f"--bind=127.0.0.1:{stack.port}",
            "--no-control-socket",
            "--log-level=warning",
            "wsgi:app",
        )
        for number in range(rq_workers):
            stack.start(f"worker-{number + 1}", str(BIN / "flask"), "--app", "wsgi", "rq", "worker")
        stack.start("scheduler-1", *SCHEDULER, LOG_LEVEL="INFO")
        try:
            stack.wait_until(lambda: healthy(stack.port), "gunicorn to answer /healthz")
            stack.wait_until(
                lambda: len(Worker.all(connection=redis)) == rq_workers, "the RQ workers to start"
            )
            outcome = Run(app, plan, stack, seeded, redis).execute()
        finally:
            stack.stop()
        for name in stack.processes:
            assert "Traceback" not in stack.log(name), f"{name}:\n{stack.log(name)[-3000:]}"
        return outcome

    yield run
    for stack in stacks:
        stack.stop()


def healthy(port: int) -> bool:
    try:
        return fetch(port, "GET", "/healthz", {})[0] == 200
    except OSError:
        return False


def test_two_web_processes_and_two_workers_end_as_one_of_each(run_stack):
    if _db.engine.dialect.name != "postgresql":
        pytest.skip("the scale-out run needs PostgreSQL (processes share it)")
    plan = make_plan()
    replays = sum(step.replays for sale in plan.sales for step in sale.steps)
    reports = sum(len(sale.steps) for sale in plan.sales)
    assert 0.25 <= replays / (reports + replays) <= 0.35  # the plan is what it says

    single = run_stack(plan, "single", web_workers=1, threads=1, rq_workers=1)
    scaled = run_stack(plan, "scaled", web_workers=2, threads=4, rq_workers=2)

    # What the documented rules make of the plan, in both runs.
    for outcome in (single, scaled):
        assert {
            key: {k: v for k, v in row.items() if k != "uncredited"} for key, row in outcome["clicks"].items()
        } == expected_clicks(plan)
        assert all(row["uncredited"] == 0 for row in outcome["clicks"].values())
        expected = {txn: sale.row for txn, sale in expected_conversions(plan).items()}
        assert outcome["conversions"] == expected
        earnings = {key: total for key, (_, total) in outcome["ledger"].items() if key[1] != "withdrawal"}
        assert earnings == expected_earnings(plan)
        assert outcome["payouts"], "some partners earned enough for a payout proposal"
        assert outcome["holds"] == 0
    # And the same outcome, to the cent, whatever the number of processes.
    for key in single:
        assert scaled[key] == single[key], key

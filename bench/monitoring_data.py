"""The monitoring bench's data: a network of 2,000 partners with 90 days of traffic, loaded with COPY and
INSERT ... SELECT (``bench/monitoring.py`` says what it measures on it)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

DAYS = 90
PARTNERS, ASSETS, LINKS_PER_PARTNER = 2000, 400, 5
OFFER_CPC = (5, 8, 12, 20)
NULL = "\\N"
#: (link id, partner id, asset id, offer id, CPC cents)
Link = tuple[int, str, str, int, int]


def copy_rows(cursor, table: str, columns: str, lines: Iterator[str]) -> None:
    """COPY text lines into ``table``, 20,000 a write."""
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        batch: list[str] = []
        for line in lines:
            batch.append(line)
            if len(batch) >= 20_000:
                copy.write("".join(batch))
                batch.clear()
        copy.write("".join(batch))


def seed_catalog(app, connection) -> tuple[list[Link], list[float]]:
    """Network, offers, an admin, partners and assets through the models (their defaults and encrypted
    secrets apply), then the links. Returns the links and their cumulative weights: a few partners bring
    most of the traffic, as in any network."""
    from contentflow.extensions import db
    from contentflow.models import Asset, Partner
    from contentflow.services import admins, offers

    at = datetime(2026, 1, 1, tzinfo=UTC)
    with app.app_context():
        offers.create_network("benchnet", "bench-secret-0123456789")
        made = [
            offers.create_offer(f"Offer {cpc}", "benchnet", "https://shop.example/?s={subid}", cpc_cents=cpc)
            for cpc in OFFER_CPC
        ]
        admins.create_admin("bench@example.com", "bench password 1234")
        db.session.commit()
        offer_ids = [offer.id for offer in made]
        db.session.add_all(
            Partner(
                id=f"pt{n:08d}", email=f"partner{n}@example.com", display_name=f"Partner {n}", created_at=at
            )
            for n in range(PARTNERS)
        )
        db.session.add_all(
            Asset(
                id=f"as{n:06d}", title=f"Video {n}", status="ready", offer_id=offer_ids[n % 4], created_at=at
            )
            for n in range(ASSETS)
        )
        db.session.commit()
    return seed_links(connection, offer_ids, at)


def seed_links(connection, offer_ids: list[int], at: datetime) -> tuple[list[Link], list[float]]:
    """``LINKS_PER_PARTNER`` links per partner, COPYed; returns them with their cumulative weights."""
    links: list[Link] = []
    weights: list[float] = []
    for n in range(PARTNERS):
        for asset in random.sample(range(ASSETS), LINKS_PER_PARTNER):
            links.append(
                (len(links) + 1, f"pt{n:08d}", f"as{asset:06d}", offer_ids[asset % 4], OFFER_CPC[asset % 4])
            )
            weights.append(random.uniform(0.5, 1.5) / (n + 1) ** 0.8)
    with connection.cursor() as cursor:
        lines = (f"{link[0]}\tcode{link[0]:08d}\t{link[1]}\t{link[2]}\t{at.isoformat()}\n" for link in links)
        copy_rows(cursor, "short_links", "id, code, partner_id, asset_id, created_at", lines)
        cursor.execute("SELECT setval(pg_get_serial_sequence('short_links', 'id'), %s)", (len(links),))
    connection.commit()
    cumulative, total = [], 0.0
    for weight in weights:
        total += weight
        cumulative.append(total)
    return links, cumulative


def day_counts(total: int, today: date) -> list[tuple[date, int]]:
    """``(day, count)`` for the 90 days: weekends quieter, today only partly over."""
    shapes = [
        (today - timedelta(days=n), 0.8 if (today - timedelta(days=n)).weekday() >= 5 else 1.0)
        for n in range(DAYS)
    ]
    shapes[0] = (today, shapes[0][1] * 0.6)
    scale = total / sum(shape for _, shape in shapes)
    return [(day, round(shape * scale)) for day, shape in shapes]


def click_lines(
    links, cumulative, day: date, count: int, now: datetime, visitors: list[str]
) -> Iterator[str]:
    """One day's clicks as COPY lines: 85 % billable, 10 % repeats, 5 % bots; a closed day's billable
    clicks credited (``accrual_batch``), as the accrual leaves them."""
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    span = min(86_400, int((now - start).total_seconds()))
    seconds = sorted(random.randrange(span) for _ in range(count))
    chosen = random.choices(links, cum_weights=cumulative, k=count)
    credited = "bench" if day < now.date() else NULL
    prefix = day.strftime("%j")
    for n, (link, second) in enumerate(zip(chosen, seconds, strict=True)):
        at = (start + timedelta(seconds=second, microseconds=n % 1_000_000)).isoformat(sep=" ")
        roll = random.random()
        visitor = visitors[n % len(visitors)]
        head = f"{prefix}{n:011d}\t{link[0]}\t{link[1]}\t{link[2]}\t{link[3]}"
        tail = f"{at}\t{visitor}\t{visitor}\tMozilla/5.0 bench\t"
        if roll < 0.85:
            yield f"{head}\t{link[4]}\t{tail}\tf\tt\t{NULL}\t{credited}\n"
        elif roll < 0.95:
            yield f"{head}\t{NULL}\t{tail}\tf\tf\trepeat\t{NULL}\n"
        else:
            yield f"{head}\t{NULL}\t{tail}\tt\tf\tbot\t{NULL}\n"


def seed_clicks(connection, links, cumulative, total: int, now: datetime) -> None:
    """COPY ``total`` clicks, a statement per day, with triggers (and foreign-key checks) off."""
    visitors = [f"{random.getrandbits(128):032x}" for _ in range(50_000)]
    columns = (
        "id, short_link_id, partner_id, asset_id, offer_id, cpc_cents, created_at, ip_hash, visitor_hash, "
        "user_agent, referrer, is_bot, is_billable, not_billable_reason, accrual_batch"
    )
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        for day, count in day_counts(total, now.date()):
            copy_rows(cursor, "clicks", columns, click_lines(links, cumulative, day, count, now, visitors))
        cursor.execute("SET session_replication_role = DEFAULT")
    connection.commit()


def conversion_lines(network_id: int, links, cumulative, total: int, now: datetime) -> Iterator[str]:
    """Sales over the 90 days: 70 % confirmed, 15 % pending, 8 % reversed, 7 % rejected; 2 % of all with a
    subid no click explains (no partner, waiting for review)."""
    for n, link in enumerate(random.choices(links, cum_weights=cumulative, k=total)):
        at = (now - timedelta(seconds=random.randrange(DAYS * 86_400 - 3600))).isoformat(sep=" ")
        cents = random.randint(100, 8000)
        roll = random.random()
        status = (
            "confirmed"
            if roll < 0.70
            else "pending"
            if roll < 0.85
            else "reversed"
            if roll < 0.93
            else "rejected"
        )
        amounts = f"{cents}\tEUR\t{cents}\t1"
        if random.random() < 0.02:
            unknown = f"junk\t{NULL}\t{NULL}\t{NULL}\tpending"
            yield f"{network_id}\tT{n}\t{unknown}\t{amounts}\tt\tunknown_click\t{at}\t{at}\n"
        else:
            attribution = f"{link[1]}:{link[2]}:x\t{link[1]}\t{link[2]}\t{link[3]}"
            yield f"{network_id}\tT{n}\t{attribution}\t{status}\t{amounts}\tf\t{NULL}\t{at}\t{at}\n"


def seed_conversions(connection, links, cumulative, total: int, now: datetime) -> None:
    """COPY ``total`` conversions (``conversion_lines``), triggers on: their days are marked."""
    network_id = connection.execute("SELECT id FROM networks").fetchone()[0]
    columns = (
        "network_id, txn_id, subid, partner_id, asset_id, offer_id, status, amount_minor, currency, "
        "amount_eur_cents, fx_rate, needs_review, review_reason, created_at, updated_at"
    )
    with connection.cursor() as cursor:
        copy_rows(cursor, "conversions", columns, conversion_lines(network_id, links, cumulative, total, now))
    connection.commit()


SHARE = "(amount_eur_cents * 4000 + 5000) / 10000"  # the partner's 40 %, rounded half-up
LEDGER = "INSERT INTO ledger_entries (partner_id, kind, amount_cents, idempotency_key, memo, created_at"
POSTBACKS = "INSERT INTO postback_log (network_name, txn_id, outcome, reason, http_status, params, created_at"
DERIVED = [
    # Click earnings: one entry per partner, offer and closed day, credited at 00:20 the next day.
    f"""{LEDGER}) SELECT partner_id, 'click_earnings', sum(cpc_cents),
      'cpc:' || partner_id || ':' || offer_id || ':' || day || ':bench', count(*) || ' clicks',
      day + interval '1 day 20 minutes'
    FROM (SELECT partner_id, offer_id, cpc_cents, (created_at AT TIME ZONE 'UTC')::date AS day
          FROM clicks WHERE accrual_batch = 'bench') AS credited
    GROUP BY partner_id, offer_id, day""",  # noqa: S608 - fixed fragments
    f"""{LEDGER}, conversion_id) SELECT partner_id, 'conversion_share', {SHARE},
      'conv:' || id || ':confirmed', '', created_at, id
    FROM conversions WHERE status IN ('confirmed', 'reversed') AND partner_id IS NOT NULL AND {SHARE} > 0""",  # noqa: S608 - fixed fragments
    f"""{LEDGER}, conversion_id) SELECT partner_id, 'reversal', -{SHARE},
      'conv:' || id || ':reversed', '', created_at + interval '3 days', id
    FROM conversions WHERE status = 'reversed' AND partner_id IS NOT NULL AND {SHARE} > 0""",  # noqa: S608 - fixed fragments
    """INSERT INTO payouts (partner_id, amount_cents, method, details_masked, status, requested_at, paid_at)
    SELECT 'pt' || lpad(n::text, 8, '0'), 5000, 'paypal', 'p***@example.com',
      CASE WHEN n < 600 THEN 'paid' ELSE 'requested' END, now() - interval '10 days',
      CASE WHEN n < 600 THEN now() - interval '8 days' END
    FROM generate_series(0, 699) AS n""",
    f"""{LEDGER}, payout_id)
    SELECT partner_id, 'withdrawal', -amount_cents, 'payout:' || id, '', requested_at, id FROM payouts""",  # noqa: S608 - fixed fragments
    # Every postback that made a conversion, replays of 30 % of them, and refused ones.
    f"""{POSTBACKS}, network_id, conversion_id)
    SELECT 'benchnet', txn_id, 'accepted', 'created', 200, '{{}}', created_at, network_id, id
    FROM conversions""",  # noqa: S608 - fixed fragments
    f"""{POSTBACKS}, network_id, conversion_id)
    SELECT 'benchnet', txn_id, 'duplicate', 'replay', 200, '{{}}', created_at + interval '2 minutes',
      network_id, id
    FROM conversions WHERE id % 10 < 3""",  # noqa: S608 - fixed fragments
    f"""{POSTBACKS})
    SELECT 'nobody', 'X' || n, 'rejected', 'unknown_network', 403, '{{}}', now() - n * interval '1 minute'
    FROM generate_series(1, 2000) AS n""",  # noqa: S608 - fixed fragments
    # Assignments of half the links on each platform, most of them posted long ago.
    """INSERT INTO assignments (asset_id, partner_id, platform, status, attempts, created_at, updated_at)
    SELECT asset_id, partner_id, platform,
      (ARRAY['posted', 'posted', 'posted', 'posted', 'posted', 'posted', 'posted', 'posted', 'failed',
             'skipped', 'pending', 'approved', 'needs_review'])[1 + (id + length(platform)) % 13],
      1, now(), now()
    FROM short_links CROSS JOIN unnest(ARRAY['youtube', 'reddit', 'pinterest', 'instagram']) AS platform
    WHERE id % 2 = 0""",
    """INSERT INTO holds (partner_id, reason, detail, source, created_at, expires_at)
    SELECT 'pt' || lpad((n * 37)::text, 8, '0'), 'velocity', '', 'risk', now() - interval '2 days',
      now() + CASE WHEN n % 4 = 0 THEN interval '-1 day' ELSE interval '28 days' END
    FROM generate_series(1, 40) AS n""",
]


def seed_derived(connection) -> None:
    """The ledger the traffic implies, payouts, postbacks, assignments and holds; then VACUUM ANALYZE."""
    with connection.cursor() as cursor:
        for statement in DERIVED:
            cursor.execute(statement)
    connection.commit()
    connection.autocommit = True
    connection.execute("VACUUM ANALYZE")
    connection.autocommit = False

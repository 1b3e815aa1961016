"""``flask demo``: demo data that makes every page look alive. Idempotent; refused in production.

Everything it makes has a fixed key (e-mails, names, ``demo:`` ids and idempotency keys), so a second run
finds it and adds nothing.
"""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select

from contentflow.errors import DomainError
from contentflow.extensions import db
from contentflow.models import AdminUser, Asset, Click, Conversion, Network, Offer, Partner
from contentflow.models.base import utcnow
from contentflow.security import hash_ip
from contentflow.services import (
    admins,
    assets,
    audit,
    fx,
    ledger,
    links,
    partners,
    payout_details,
    payouts,
    postbacks,
)
from contentflow.services.offers import create_network, create_offer
from contentflow.settings import development_secret

DEMO_ADMIN_EMAIL = "admin@example.com"
DEMO_PARTNERS = ("demo@example.com", "alice@example.com", "bob@example.com")
DEMO_ASSETS = (
    ("Trois outils IA pour gagner une heure par jour", "Vidéo courte : trois outils testés en 60 secondes."),
    ("Le tableur qui écrit tout seul", "Démo d'un assistant de formules."),
    ("Monter une vidéo en 5 minutes", "De l'idée au montage, chrono en main."),
    ("Automatiser ses e-mails sans coder", "Trois scénarios prêts à copier."),
)


@click.command("demo")
@with_appcontext
def demo() -> None:
    """Create demo partners, offers, assets, links, clicks, sales, earnings and a payout (idempotent)."""
    if current_app.config["IS_PRODUCTION"]:
        raise click.ClickException("flask demo is refused in production")
    instance_dir = Path(current_app.instance_path)
    rows_before = _row_count()
    admin_password = development_secret("DEMO_ADMIN_PASSWORD", instance_dir)
    if db.session.scalar(select(AdminUser).where(AdminUser.email == DEMO_ADMIN_EMAIL)) is None:
        admins.create_admin(DEMO_ADMIN_EMAIL, admin_password, actor="cli:demo")

    network = db.session.scalar(select(Network).where(Network.name == "demo-network"))
    if network is None:
        secret = development_secret("DEMO_NETWORK_SECRET", instance_dir)
        network = create_network("demo-network", secret, actor="cli:demo")
    offer_cpc = _offer("Demo CPC", "https://offers.example.com/ai-tools?aff=demo&subid={subid}", cpc_cents=12)
    offer_share = _offer(
        "Demo revshare", "https://shop.example.com/p/42?ref=demo&sid={subid}", revshare_pct="40"
    )

    demo_assets = []
    for index, (title, description) in enumerate(DEMO_ASSETS):
        asset = db.session.scalar(select(Asset).where(Asset.title == title))
        if asset is None:
            asset = assets.create_asset(
                title,
                offer=offer_cpc if index % 2 == 0 else offer_share,
                description=description,
                hashtags="#ia #tools #productivité",
                cta="Découvre ici →",
            )
        demo_assets.append(asset)

    people = [partners.get_or_create_partner(email) for email in DEMO_PARTNERS]
    people[0].display_name = people[0].display_name or "Demo Partner"
    made_clicks = _demo_clicks(people, demo_assets)
    db.session.flush()
    for currency, rate in (("USD", "0.92"), ("GBP", "1.17")):
        if fx.get_rate(currency) is None:
            fx.set_rate(currency, rate, actor="cli:demo")
    made_conversions = _demo_postbacks(network, people, demo_assets)
    _demo_money(people)
    db.session.flush()
    if _row_count() != rows_before:
        audit.record(
            "demo.create", actor="cli:demo", details={"clicks": made_clicks, "conversions": made_conversions}
        )
    db.session.commit()
    click.echo(f"demo admin: {DEMO_ADMIN_EMAIL} / {admin_password}", err=True)
    click.echo(
        f"demo ready: {len(people)} partners, {len(demo_assets)} assets, "
        f"{made_clicks} new clicks, {made_conversions} new conversions"
    )


def _row_count() -> int:
    """Rows in every core table: whether this run added anything (a re-run must add nothing)."""
    return sum(
        db.session.scalar(select(func.count()).select_from(table)) or 0 for table in db.metadata.sorted_tables
    )


def _offer(name: str, url: str, **terms) -> Offer:
    offer = db.session.scalar(select(Offer).where(Offer.name == name))
    return offer or create_offer(name, "demo-network", url, actor="cli:demo", **terms)


def _demo_clicks(people: list[Partner], demo_assets: list[Asset]) -> int:
    """A week of clicks per partner x asset, a few of them bots; fixed ids, so a re-run adds none."""
    rng = random.Random(42)  # noqa: S311 - demo figures, not security
    now = utcnow()
    made = 0
    for p_index, partner in enumerate(people):
        for a_index, asset in enumerate(demo_assets):
            link = links.get_or_create_link(partner.id, asset.id)
            for n in range(rng.randint(3, 12)):
                click_id = f"demo{p_index}{a_index}{n:02d}"
                hours_ago = rng.randint(1, 24 * 7)  # drawn every run, so a re-run sees the same figures
                if db.session.get(Click, click_id) is not None:
                    continue
                is_bot = n % 9 == 8
                db.session.add(
                    Click(
                        id=click_id,
                        short_link_id=link.id,
                        partner_id=partner.id,
                        asset_id=asset.id,
                        offer_id=asset.offer_id,
                        cpc_cents=asset.offer.cpc_cents if asset.offer else None,
                        created_at=now - timedelta(hours=hours_ago),
                        ip_hash=hash_ip(f"198.51.100.{n}"),
                        visitor_hash=hash_ip(f"198.51.100.{n}|demo"),
                        user_agent="Googlebot/2.1" if is_bot else "Mozilla/5.0 (demo)",
                        is_bot=is_bot,
                        is_billable=not is_bot,
                        not_billable_reason="bot" if is_bot else None,
                    )
                )
                made += 1
    return made


def _demo_postbacks(network: Network, people: list[Partner], demo_assets: list[Asset]) -> int:
    """Sales reported through the real postback service: confirmed ones on the revenue-share assets, plus
    a pending sale, one in USD and one whose click is unknown (it waits for review)."""
    rng = random.Random(7)  # noqa: S311
    sales = []
    for p_index, partner in enumerate(people):
        for a_index, asset in enumerate(demo_assets):
            amount = f"{rng.randint(800, 4000) / 100:.2f}"
            if asset.offer is not None and asset.offer.revshare_bps is not None:
                sales.append(
                    (f"demo-{p_index}-{a_index}", f"{partner.id}:{asset.id}:demo{p_index}{a_index}00", amount)
                )
    bob, share_asset = people[-1], demo_assets[1]
    sales.append(("demo-pending", f"{bob.id}:{share_asset.id}:demo2101", "18.40", "pending", "EUR"))
    sales.append(("demo-usd", f"{bob.id}:{share_asset.id}:demo2102", "25.00", "confirmed", "USD"))
    sales.append(("demo-review", "unknown:click:id", "12.00", "confirmed", "EUR"))
    made = 0
    for txn_id, subid, amount, *rest in sales:
        status, currency = rest or ("confirmed", "EUR")
        if db.session.scalar(
            select(Conversion.id).where(Conversion.network_id == network.id, Conversion.txn_id == txn_id)
        ):
            continue
        fields = {
            "network": network.name,
            "token": network.secret,
            "txn_id": txn_id,
            "subid": subid,
            "amount": amount,
            "currency": currency,
            "status": status,
        }
        postbacks.receive(postbacks.Attempt(fields, "", b"", "127.0.0.1"))
        made += 1
    return made


def _demo_money(people: list[Partner]) -> None:
    """Last week's click earnings, payout details and one withdrawal, all through the services."""
    today = utcnow().date()
    for days_ago in range(1, 9):
        ledger.accrue_click_earnings(today - timedelta(days=days_ago))
    demo_partner, bob = people[0], people[2]
    if demo_partner.payout_method is None:
        payout_details.set_payout_details(demo_partner, "paypal", paypal_email=demo_partner.email)
    if bob.payout_method is None:
        payout_details.set_payout_details(
            bob, "bank", iban="FR7630006000011234567890189", account_holder="Bob Martin"
        )
        try:
            payouts.request_withdrawal(bob, payouts.minimum_cents(), "bank")
        except DomainError:  # not enough available yet: the demo simply shows no withdrawal
            pass

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

from contentflow.extensions import db
from contentflow.models import AdminUser, Asset, Click, Conversion, LedgerEntry, Network, Offer
from contentflow.models.base import utcnow
from contentflow.money import from_cents, to_cents
from contentflow.security import hash_ip
from contentflow.services import admins, assets, audit, links, partners
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
    """Create demo partners, offers, assets, links, clicks and conversions (idempotent)."""
    if current_app.config["IS_PRODUCTION"]:
        raise click.ClickException("flask demo is refused in production")
    instance_dir = Path(current_app.instance_path)
    rows_before = _row_count()
    admin_password = development_secret("DEMO_ADMIN_PASSWORD", instance_dir)
    if db.session.scalar(select(AdminUser).where(AdminUser.email == DEMO_ADMIN_EMAIL)) is None:
        admin = admins.create_admin(DEMO_ADMIN_EMAIL, admin_password)
        audit.record("admin.create", actor="cli:demo", target_type="admin", target_id=admin.id)

    network = db.session.scalar(select(Network).where(Network.name == "demo-network"))
    if network is None:
        network = create_network("demo-network", development_secret("DEMO_NETWORK_SECRET", instance_dir))
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
    rng = random.Random(42)  # noqa: S311 - demo figures, not security
    now = utcnow()
    made_clicks = made_conversions = 0
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
                        created_at=now - timedelta(hours=hours_ago),
                        ip_hash=hash_ip(f"198.51.100.{n}"),
                        visitor_hash=hash_ip(f"198.51.100.{n}|demo"),
                        user_agent="Googlebot/2.1" if is_bot else "Mozilla/5.0 (demo)",
                        is_bot=is_bot,
                        is_billable=not is_bot,
                        not_billable_reason="bot" if is_bot else None,
                    )
                )
                made_clicks += 1
            made_conversions += _demo_conversion(network, asset, partner, f"demo-{p_index}-{a_index}", rng)
    db.session.flush()
    _demo_click_earnings(people, offer_cpc)
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
    return offer or create_offer(name, "demo-network", url, **terms)


def _demo_conversion(network: Network, asset: Asset, partner, txn_id: str, rng: random.Random) -> int:
    """One confirmed sale per partner x revenue-share asset, credited at the offer's share."""
    offer = asset.offer
    amount_cents = rng.randint(800, 4000)
    if offer is None or offer.revshare_bps is None:
        return 0
    if db.session.scalar(
        select(Conversion.id).where(Conversion.network_id == network.id, Conversion.txn_id == txn_id)
    ):
        return 0
    conversion = Conversion(
        network_id=network.id,
        txn_id=txn_id,
        partner_id=partner.id,
        asset_id=asset.id,
        offer_id=offer.id,
        subid=f"{partner.id}:{asset.id}:demo",
        status="confirmed",
        amount_minor=amount_cents,
        currency="EUR",
        amount_eur_cents=amount_cents,
        fx_rate="1",
    )
    db.session.add(conversion)
    db.session.flush()
    share = to_cents(from_cents(amount_cents) * offer.revshare_bps / 10000)
    db.session.add(
        LedgerEntry(
            partner_id=partner.id,
            kind="conversion_share",
            amount_cents=share,
            idempotency_key=f"demo:conv:{txn_id}",
            conversion_id=conversion.id,
            memo=f"{offer.name} sale {txn_id}",
        )
    )
    return 1


def _demo_click_earnings(people, offer: Offer) -> None:
    """Billable demo clicks on the CPC offer, credited in one entry per partner."""
    for partner in people:
        key = f"demo:clicks:{partner.id}"
        if db.session.scalar(select(LedgerEntry.id).where(LedgerEntry.idempotency_key == key)):
            continue
        billable = db.session.scalars(
            select(Click.id).where(
                Click.partner_id == partner.id, Click.offer_id == offer.id, Click.is_billable.is_(True)
            )
        ).all()
        if billable:
            db.session.add(
                LedgerEntry(
                    partner_id=partner.id,
                    kind="click_earnings",
                    amount_cents=len(billable) * (offer.cpc_cents or 0),
                    idempotency_key=key,
                    memo=f"{len(billable)} demo clicks on {offer.name}",
                )
            )

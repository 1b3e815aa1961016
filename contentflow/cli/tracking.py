"""``flask links create EMAIL ASSET_ID``: a partner's short link for an asset."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from contentflow.cli import domain_errors
from contentflow.extensions import db
from contentflow.models import Asset
from contentflow.services import links as link_service
from contentflow.services import partners as partner_service

links = AppGroup("links", help="Tracked short links.")


@links.command("create")
@click.argument("email")
@click.argument("asset_id")
@domain_errors
def create_link(email: str, asset_id: str) -> None:
    """Print the absolute short URL of EMAIL's link to ASSET_ID (created if missing)."""
    partner = partner_service.find_partner_by_email(partner_service.normalize_email(email))
    if partner is None:
        raise click.ClickException(f"no partner with the e-mail {email}")
    asset = db.session.get(Asset, asset_id)
    if asset is None:
        raise click.ClickException(f"no asset with the id {asset_id}")
    link = link_service.get_or_create_link(partner.id, asset.id)
    db.session.commit()
    if asset.status == "quarantined":
        click.echo(f"warning: asset {asset.id} is quarantined: its link answers 410", err=True)
    elif asset.status in link_service.UNSERVED_ASSET_STATUSES:
        click.echo(f"warning: asset {asset.id} is {asset.status}: its link answers 404", err=True)
    elif asset.offer is None or not asset.offer.is_active:
        click.echo(f"warning: asset {asset.id} has no active offer: its link answers 404", err=True)
    click.echo(link_service.short_url(link))

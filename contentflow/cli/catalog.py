"""``flask networks add``, ``flask offers add``, ``flask assets add``, ``flask assets show``."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from contentflow.cli import domain_errors
from contentflow.extensions import db
from contentflow.models import Asset
from contentflow.services import assets as asset_service
from contentflow.services import offers as offer_service

networks = AppGroup("networks", help="Affiliate networks.")
offers = AppGroup("offers", help="Affiliate offers.")
assets = AppGroup("assets", help="Assets.")


@networks.command("add")
@click.argument("name")
@click.option(
    "--secret",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="Shared postback secret (16 characters or more); prompted (hidden, twice) when absent, which keeps "
    "it out of the shell history.",
)
@domain_errors
def add_network(name: str, secret: str) -> None:
    """Add a network whose postbacks authenticate with SECRET."""
    network = offer_service.create_network(name, secret, actor="cli")
    db.session.commit()
    click.echo(f"network {network.name} created (id {network.id})")


@offers.command("add")
@click.argument("name")
@click.option("--network", "network_name", required=True, help="Name of an existing network.")
@click.option("--url", "url_template", required=True, help="Destination URL holding {subid}.")
@click.option("--cpc-cents", type=click.IntRange(min=0), help="Pay per billable click, in EUR cents.")
@click.option("--revshare-pct", help="Partner share of the commission, in percent (40 = 40 %).")
@domain_errors
def add_offer(
    name: str, network_name: str, url_template: str, cpc_cents: int | None, revshare_pct: str | None
) -> None:
    """Add an offer of NETWORK sending clicks to URL."""
    offer = offer_service.create_offer(
        name, network_name, url_template, cpc_cents=cpc_cents, revshare_pct=revshare_pct, actor="cli"
    )
    db.session.commit()
    click.echo(f"offer {offer.name} created (id {offer.id})")


@assets.command("add")
@click.option("--title", required=True)
@click.option("--source-url", help="Where the video is downloaded from; none for a link-only asset.")
@click.option("--offer", "offer_name", help="Name of the offer this asset promotes.")
@domain_errors
def add_asset(title: str, source_url: str | None, offer_name: str | None) -> None:
    """Add an asset; prints its id. With --source-url its ingestion is enqueued on the ingest queue
    (``flask assets show ID`` follows it)."""
    offer = offer_service.get_offer_by_name(offer_name) if offer_name else None
    asset = asset_service.create_asset(title, source_url=source_url, offer=offer, actor="cli")
    db.session.commit()
    click.echo(asset.id)


@assets.command("show")
@click.argument("asset_id")
@domain_errors
def show_asset(asset_id: str) -> None:
    """Print ASSET_ID's fields, one a line, then its status alone on the last line: new, ingesting,
    ready, failed: <reason> or quarantined."""
    asset = asset_service.get_asset(asset_id)
    for label, value in asset_fields(asset):
        click.echo(f"{label}: {value if value not in (None, '') else '-'}")
    click.echo(asset.status_text)


def asset_fields(asset: Asset) -> list[tuple[str, object]]:
    """What ``flask assets show`` prints above the status, in order."""
    duration = None
    if asset.duration_ms is not None:
        duration = f"{asset.duration_ms // 1000}.{asset.duration_ms % 1000:03d} s"
    fields: list[tuple[str, object]] = [
        ("id", asset.id),
        ("title", asset.title),
        ("offer", asset.offer.name if asset.offer else None),
        ("owner partner", asset.owner_partner_id),
        ("source URL", asset.source_url),
        ("media path", asset.media_path),
        ("type", asset.mime_type),
        ("size", f"{asset.size_bytes} bytes" if asset.size_bytes is not None else None),
        ("duration", duration),
        ("resolution", f"{asset.width}x{asset.height}" if asset.width and asset.height else None),
        ("checksum (sha256)", asset.checksum_sha256),
        ("cover path", asset.cover_path),
        ("created at", asset.created_at.isoformat(timespec="seconds")),
    ]
    if asset.status == "quarantined":
        fields.append(("quarantine reason", asset.error))
    return fields

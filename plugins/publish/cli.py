"""``flask assignments create ASSET_ID EMAIL PLATFORM [--approve]``: an operator assigns an asset."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from contentflow.cli import domain_errors
from contentflow.extensions import db
from contentflow.services import partners
from plugins.publish.services import queue

assignments = AppGroup("assignments", help="Assets to post on partners' accounts (publish plugin).")

REASONS = {
    "no_connected_account": "has no enabled {platform} account: they must connect one at /publish/accounts",
    "account_reconnect_needed": "must reconnect their {platform} account first",
    "already_assigned": "already has this asset assigned on {platform}",
}


@assignments.command("create")
@click.argument("asset_id")
@click.argument("email")
@click.argument("platform")
@click.option(
    "--approve", is_flag=True, help="Approve it at once instead of waiting for the partner's review."
)
@domain_errors
def create(asset_id: str, email: str, platform: str, approve: bool) -> None:
    """Assign ASSET_ID to the partner EMAIL on PLATFORM, on their first enabled account; prints its id."""
    partner = partners.find_partner_by_email(partners.normalize_email(email))
    if partner is None:
        raise click.ClickException(f"no partner with the e-mail {email}")
    outcome = queue.create(partner.id, asset_id, platform, approved=True if approve else None, actor="cli")
    if not outcome.is_created:
        raise click.ClickException(
            f"partner {partner.email} " + REASONS[outcome.reason].format(platform=platform)
        )
    db.session.commit()
    click.echo(outcome.assignment_id)


def register_cli(app: Flask) -> None:
    """Add ``flask assignments`` to the app (the plugin's ``setup``)."""
    app.cli.add_command(assignments)

"""``flask users ...`` (admins) and ``flask partners ...``."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from contentflow.cli import domain_errors
from contentflow.extensions import db
from contentflow.services import admins, magic_links
from contentflow.services import partners as partner_service

users = AppGroup("users", help="Admin users.")
partners = AppGroup("partners", help="Partners.")


@users.command("create-admin")
@click.argument("email")
@click.option("--password", help="Prompted (hidden, twice) when absent.")
@domain_errors
def create_admin(email: str, password: str | None) -> None:
    """Create an admin who signs in at /admin/login."""
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    admin = admins.create_admin(email, password, actor="cli")
    db.session.commit()
    click.echo(f"admin created: {admin.email}")


@partners.command("login-link")
@click.argument("email")
@domain_errors
def login_link(email: str) -> None:
    """Print a one-time sign-in link for EMAIL (the partner is created if new)."""
    partner = partner_service.get_or_create_partner(email, actor="cli")
    if not partner.is_active:
        # The link would only answer "suspended": say so here instead of printing a dead link.
        raise click.ClickException(f"partner {partner.email} is suspended; no sign-in link issued")
    token = magic_links.issue_token(partner, actor="cli")
    db.session.commit()
    click.echo(magic_links.login_url(token))

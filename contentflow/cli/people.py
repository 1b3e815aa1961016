"""``flask users ...`` (admins) and ``flask partners ...``."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from contentflow.cli import domain_errors
from contentflow.extensions import db
from contentflow.services import admins, audit, magic_links
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
    admin = admins.create_admin(email, password)
    audit.record(
        "admin.create", actor="cli", target_type="admin", target_id=admin.id, details={"email": admin.email}
    )
    db.session.commit()
    click.echo(f"admin created: {admin.email}")


@partners.command("login-link")
@click.argument("email")
@domain_errors
def login_link(email: str) -> None:
    """Print a one-time sign-in link for EMAIL (the partner is created if new)."""
    is_new = partner_service.find_partner_by_email(partner_service.normalize_email(email)) is None
    partner = partner_service.get_or_create_partner(email)
    if not partner.is_active:
        # The link would only answer "suspended": say so here instead of printing a dead link.
        raise click.ClickException(f"partner {partner.email} is suspended; no sign-in link issued")
    if is_new:
        audit.record(
            "partner.create",
            actor="cli",
            target_type="partner",
            target_id=partner.id,
            details={"email": partner.email},
        )
    token = magic_links.issue_token(partner)
    audit.record("partner.login_link", actor="cli", target_type="partner", target_id=partner.id)
    db.session.commit()
    click.echo(magic_links.login_url(token))

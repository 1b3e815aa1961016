"""Short links: one random code per partner x asset, created on demand."""

from __future__ import annotations

import secrets

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from contentflow.extensions import db
from contentflow.models import ShortLink


def new_code() -> str:
    """12 URL-safe characters (72 random bits): enumerating codes is hopeless."""
    return secrets.token_urlsafe(9)


def get_or_create_link(partner_id: str, asset_id: str) -> ShortLink:
    """The partner's link for this asset, created if missing. Idempotent, also under concurrency."""
    query = select(ShortLink).where(ShortLink.partner_id == partner_id, ShortLink.asset_id == asset_id)
    link = db.session.scalar(query)
    if link is not None:
        return link
    try:
        with db.session.begin_nested():
            link = ShortLink(code=new_code(), partner_id=partner_id, asset_id=asset_id)
            db.session.add(link)
    except IntegrityError:
        link = db.session.scalar(query)
        if link is None:
            raise
    return link


def short_url(link: ShortLink) -> str:
    """Absolute URL from ``PUBLIC_BASE_URL``."""
    return f"{current_app.config['PUBLIC_BASE_URL']}/l/{link.code}"

"""Assets: creation by the operator (CLI, admin) or a partner (BYOP, later)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask_babel import gettext as _

from contentflow.errors import ValidationError
from contentflow.extensions import db
from contentflow.models import AdminUser, Asset, Offer
from contentflow.services import audit


def create_asset(
    title: str,
    *,
    source_url: str | None = None,
    offer: Offer | None = None,
    description: str = "",
    hashtags: str = "",
    cta: str = "",
    owner_partner_id: str | None = None,
    admin: AdminUser | None = None,
    actor: str | None = None,
) -> Asset:
    """A new asset (``new`` until ingested, ``ready`` when link-only). Audit-logged when an admin or an
    operator (``actor``) makes it.

    Raises ValidationError (empty or long title, bad URL, long hashtags or call to action).
    """
    title = title.strip()
    if not title or len(title) > 200:
        raise ValidationError(_("An asset needs a title (200 characters at most)."))
    if source_url:
        parts = urlsplit(source_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or len(source_url) > 2048:
            raise ValidationError(
                _("The source URL must be an absolute http(s) URL (2048 characters at most)."), code="bad_url"
            )
    if len(hashtags) > 300:
        raise ValidationError(_("The hashtags take 300 characters at most."))
    if len(cta) > 200:
        raise ValidationError(_("The call to action takes 200 characters at most."))
    asset = Asset(
        title=title,
        source_url=source_url or None,
        offer=offer,
        description=description,
        hashtags=hashtags,
        cta=cta,
        owner_partner_id=owner_partner_id,
        # A link-only asset has nothing to ingest: it is ready at once.
        status="new" if source_url else "ready",
    )
    db.session.add(asset)
    db.session.flush()
    audit.record_change(
        "asset.create",
        admin=admin,
        actor=actor,
        target_type="asset",
        target_id=asset.id,
        details={"title": title},
    )
    return asset

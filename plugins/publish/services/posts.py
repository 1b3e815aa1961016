"""The post an assignment makes: what it says (the asset's text, the partner's own short link, the
hashtags and the ``#ad`` disclosure, its media) and where it is on the platform once made."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from flask import current_app

from contentflow.models import Asset, Assignment, PartnerAccount
from contentflow.services import links
from plugins.publish.platforms import get_platform
from plugins.publish.publishers import publisher
from plugins.publish.publishers.base import Post, Published
from plugins.publish.services import accounts


def _media(relative: str | None) -> Path | None:
    if not relative:
        return None
    return Path(current_app.config["MEDIA_ROOT"]) / relative


def _public_media_url(asset: Asset, kind: str) -> str | None:
    from contentflow.services import media

    return media.public_url(asset, kind)


def build_post(assignment: Assignment, asset: Asset, target: str | None) -> Post:
    """The post of ``assignment``: the asset's text, the call to action with the partner's own short
    link, the hashtags and the ``#ad`` disclosure (every post carries both). Idempotent: the short link
    is made once per partner and asset (flushed, not committed). Raises nothing of its own."""
    link = links.short_url(links.get_or_create_link(assignment.partner_id, asset.id))
    hashtags = [word for word in asset.hashtags.split() if word.startswith("#") and len(word) > 1]
    if "#ad" not in (tag.lower() for tag in hashtags):
        hashtags.append("#ad")
    call_to_action = f"{asset.cta.strip()} {link}".strip()
    text = "\n\n".join(
        part for part in (asset.description.strip(), call_to_action, " ".join(hashtags)) if part
    )
    has_video = bool(asset.media_path)
    return Post(
        assignment_id=assignment.id,
        title=asset.title,
        text=text,
        link=link,
        tags=tuple(tag.lstrip("#") for tag in hashtags),
        marker=assignment.post_tag or f"cf{assignment.id}",
        media_path=_media(asset.media_path),
        media_type=asset.mime_type,
        media_size=asset.size_bytes,
        media_url=_public_media_url(asset, "video") if has_video else None,
        cover_path=_media(asset.cover_path),
        cover_url=_public_media_url(asset, "cover") if asset.cover_path else None,
        target=target,
    )


def look_up(account: PartnerAccount, post: Post, now: datetime) -> Published | None:
    """The platform's post for this assignment, or None when it is not there. Refreshes the account's
    token when due (stored, not committed). Reads the platform only, so asking twice is safe. Raises
    CannotFind (the platform cannot be searched), TransientError, AuthError, PublishError."""
    credentials = accounts.fresh_credentials(account, now=now)
    return publisher(account.platform).find(post, credentials, get_platform(account.platform))

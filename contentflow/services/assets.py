"""Assets: creation by the operator (CLI, admin) or a partner (BYOP, later), from a source URL or an
uploaded file (both then ingested by the ``ingest_asset`` job, see ``services.ingestion``), listing, and
quarantine (a DMCA takedown: the asset's links answer 410 Gone and its media are no longer served)."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from flask_babel import gettext as _
from sqlalchemy import func, select

from contentflow.errors import NotFound, ValidationError
from contentflow.extensions import db
from contentflow.models import AdminUser, Asset, Offer
from contentflow.services import audit, ingestion

#: Statuses of an asset whose ingestion is still to come or under way.
IN_PROGRESS_STATUSES = ("new", "processing")
MAX_REASON_LENGTH = 1000


def create_asset(
    title: str,
    *,
    source_url: str | None = None,
    offer: Offer | None = None,
    description: str = "",
    hashtags: str = "",
    cta: str = "",
    owner_partner_id: str | None = None,
    revshare_bps: int | None = None,
    admin: AdminUser | None = None,
    actor: str | None = None,
) -> Asset:
    """A new asset: with a ``source_url`` it is ``new`` and its ingestion is enqueued on the ``ingest``
    queue once the transaction commits; link-only, it is ``ready`` at once. Audit-logged when an admin
    or an operator (``actor``) makes it.

    ``revshare_bps`` is the asset's own partner share of confirmed sales (a BYOP asset: 4000 = 40 %), over
    its offer's. Raises ValidationError (empty or long title, bad URL, long hashtags or call to action, a
    share outside 0-10000 basis points).
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
    if revshare_bps is not None and not 0 <= revshare_bps <= 10000:
        raise ValidationError(_("The revenue share is a percent between 0 and 100."), code="bad_revshare")
    asset = Asset(
        title=title,
        source_url=source_url or None,
        offer=offer,
        description=description,
        hashtags=hashtags,
        cta=cta,
        owner_partner_id=owner_partner_id,
        revshare_bps=revshare_bps,
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
    if source_url:
        ingestion.request_ingestion(asset)
    return asset


def create_uploaded_asset(
    title: str,
    chunks: Iterable[bytes],
    filename: str,
    content_type: str | None = None,
    *,
    offer: Offer | None = None,
    admin: AdminUser | None = None,
    actor: str | None = None,
) -> Asset:
    """A new asset from an uploaded video: the file is stored under ``MEDIA_ROOT/<asset id>/`` (its size
    and SHA-256 counted as it is written) and its ingestion enqueued once the transaction commits. If
    the transaction rolls back, the stored file stays behind (no row points to it).

    Raises ValidationError (the ``create_asset`` rules; an empty file or one over ``INGEST_MAX_MB``).
    """
    asset = create_asset(title, offer=offer, admin=admin, actor=actor)
    asset.status = "new"
    try:
        ingestion.store_upload(asset, chunks, filename, content_type)
    except ingestion.TooLarge:
        raise ValidationError(
            _("The file is larger than %(mb)d MB.", mb=ingestion.max_bytes() // ingestion.MEGABYTE),
            code="too_large",
        ) from None
    except ingestion.IngestError:
        raise ValidationError(_("The file is empty."), code="empty_file") from None
    ingestion.request_ingestion(asset)
    return asset


def get_asset(asset_id: str) -> Asset:
    """The asset. Raises NotFound."""
    asset = db.session.get(Asset, asset_id)
    if asset is None:
        raise NotFound(_("No asset with the id %(id)s.", id=asset_id))
    return asset


def list_assets(limit: int = 200) -> list[Asset]:
    """The newest assets first (at most ``limit``)."""
    return list(db.session.scalars(select(Asset).order_by(Asset.created_at.desc(), Asset.id).limit(limit)))


def count_in_progress() -> int:
    """How many assets wait for or are under ingestion (``new``, ``processing``)."""
    query = select(func.count()).select_from(Asset).where(Asset.status.in_(IN_PROGRESS_STATUSES))
    return db.session.scalar(query)


def quarantine(
    asset_id: str, reason: str, admin: AdminUser | None = None, *, actor: str | None = None
) -> Asset:
    """Take the asset down (a DMCA notice): status ``quarantined`` with ``reason``; its short links
    answer 410 Gone (within the link cache's few seconds) and its media are no longer served. The files
    are kept (a counter-notice may restore them). Audit-logged as ``admin`` or ``actor``. Idempotent:
    an asset already quarantined keeps its first reason.

    Raises NotFound, or ValidationError (empty or long reason).
    """
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON_LENGTH:
        raise ValidationError(
            _("Say why the asset is taken down (%(max)d characters at most).", max=MAX_REASON_LENGTH),
            code="bad_reason",
        )
    asset = db.session.scalar(
        select(Asset)
        .where(Asset.id == asset_id)
        .with_for_update(of=Asset)  # the asset row only: its offer is joined (outer) for reading
        .execution_options(populate_existing=True)
    )
    if asset is None:
        raise NotFound(_("No asset with the id %(id)s.", id=asset_id))
    if asset.status == "quarantined":
        return asset
    previous = asset.status
    asset.status, asset.error = "quarantined", reason
    db.session.flush()
    audit.record_change(
        "asset.quarantine",
        admin=admin,
        actor=actor,
        target_type="asset",
        target_id=asset.id,
        details={"reason": reason, "previous_status": previous},
    )
    return asset

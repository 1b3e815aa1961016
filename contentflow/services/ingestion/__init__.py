"""Asset ingestion: a source URL downloaded within limits, or an uploaded file, then probed and given a
cover still. Assets go new -> processing -> ready | failed; every failure is recorded on the asset
(``failed: <reason>``), never raised to the caller and never retried by itself.

The ``ingest_asset`` job runs it in three steps and commits after the first and the last:

1. ``claim(asset_id)``: one conditional UPDATE (new or failed -> processing), so two workers never
   ingest the same asset; an asset already processing, ready or quarantined is left alone.
2. ``prepare(claim)``: download (``download``), probe and cover (``probe``). It touches no database row,
   so no transaction stays open during a download of minutes.
3. ``record(claim, result)``: ready with what was read, or failed with the reason, under a row lock and
   only while the asset is still processing (a quarantine during ingestion wins).

An upload (admin) is written by ``store_upload`` where a download would land; the same job probes it.
The ``ingest_waiting_assets`` sweep finds what a lost job left behind: ``waiting_ids`` (new for a while:
Redis failed at the enqueue) and ``fail_interrupted`` (processing far past the job's limit: its worker
died; failed, not retried, as a file that kills workers would otherwise kill them all).
Submodules: ``addresses`` (the SSRF guard), ``download``, ``storage``, ``probe``, ``errors``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import select, update

from contentflow.extensions import db
from contentflow.models import Asset
from contentflow.models.base import utcnow
from contentflow.queueing import enqueue_after_commit
from contentflow.services import media
from contentflow.services.ingestion import probe, storage
from contentflow.services.ingestion.download import Limits, fetch
from contentflow.services.ingestion.errors import (
    DownloadFailed,
    IngestError,
    IngestRefused,
    ProbeFailed,
    TooLarge,
)

#: The job (by name: the jobs layer sits above the services) that ingests one asset.
INGEST_JOB = "ingest_asset"
CLAIMABLE_STATUSES = ("new", "failed")
COVER_NAME = "cover.jpg"
MEGABYTE = 1024 * 1024

__all__ = [
    "Claim",
    "DownloadFailed",
    "IngestError",
    "IngestRefused",
    "Ingested",
    "ProbeFailed",
    "TooLarge",
    "claim",
    "fail_interrupted",
    "max_bytes",
    "prepare",
    "record",
    "request_ingestion",
    "store_upload",
    "waiting_ids",
]


@dataclass(frozen=True)
class Claim:
    """What ingesting a claimed asset needs, read while claiming it (plain values: no row is touched
    again until ``record``)."""

    asset_id: str
    source_url: str | None
    media_path: str | None
    size_bytes: int | None
    checksum_sha256: str | None
    mime_type: str | None


@dataclass(frozen=True)
class Ingested:
    """What a successful ingestion writes on the asset."""

    media_path: str
    size_bytes: int
    checksum_sha256: str
    mime_type: str
    duration_ms: int | None
    width: int
    height: int
    cover_path: str


def max_bytes() -> int:
    """``INGEST_MAX_MB`` in bytes: the largest download or upload accepted."""
    return current_app.config["INGEST_MAX_MB"] * MEGABYTE


def request_ingestion(asset: Asset) -> None:
    """Ask for ``ingest_asset(asset.id)`` on the ``ingest`` queue once the transaction commits (dropped
    if it rolls back). The job is idempotent: asking twice ingests once."""
    enqueue_after_commit(INGEST_JOB, asset.id, description=f"ingest_asset({asset.id})")


def claim(asset_id: str) -> Claim | None:
    """Move the asset from new or failed to processing in one conditional UPDATE; None when it is not
    claimable (unknown, or already processing, ready or quarantined). The caller commits at once."""
    result = db.session.execute(
        update(Asset)
        .where(Asset.id == asset_id, Asset.status.in_(CLAIMABLE_STATUSES))
        .values(status="processing", error=None, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return None
    asset = db.session.get(Asset, asset_id, populate_existing=True)
    return Claim(
        asset.id, asset.source_url, asset.media_path, asset.size_bytes, asset.checksum_sha256, asset.mime_type
    )


def prepare(claim: Claim) -> Ingested | IngestError:
    """Download (or find the uploaded file), probe, make the cover. Returns what to record: the facts,
    or the IngestError saying why not (a failed download leaves no file behind). Touches no row."""
    downloaded = None
    try:
        if claim.source_url:
            stored, declared = _download(claim)
            downloaded = stored.path
        else:
            stored, declared = _uploaded(claim), claim.mime_type
        facts = probe.probe(stored.path)
        cover = stored.path.with_name(COVER_NAME)
        probe.make_cover(stored.path, cover, facts.duration_ms)
    except IngestError as error:
        storage.remove(downloaded)
        return error
    except OSError as error:  # the media folder is full or not writable
        storage.remove(downloaded)
        return IngestError(f"the file could not be stored ({error.strerror or type(error).__name__})")
    return Ingested(
        media_path=media.relative_path(stored.path),
        size_bytes=stored.size_bytes,
        checksum_sha256=stored.checksum_sha256,
        mime_type=storage.mime_type_for(declared, stored.path, facts.format_name),
        duration_ms=facts.duration_ms,
        width=facts.width,
        height=facts.height,
        cover_path=media.relative_path(cover),
    )


def _download(claim: Claim) -> tuple[storage.StoredFile, str]:
    config = current_app.config
    limits = Limits(
        max_bytes=max_bytes(),
        timeout_seconds=config["INGEST_TIMEOUT_SECONDS"],
        allow_private=config["INGEST_ALLOW_PRIVATE_HOSTS"],
    )
    got = fetch(claim.source_url or "", limits)
    try:
        extension = storage.extension_for(got.content_type, urlsplit(got.url).path)
        return storage.place(got.file, claim.asset_id, extension), got.content_type
    except OSError:
        storage.remove(got.file.path)
        raise


def _uploaded(claim: Claim) -> storage.StoredFile:
    path = media.stored_file(claim.media_path)
    if path is None:
        raise IngestError("there is nothing to ingest: no source URL and no uploaded file")
    return storage.StoredFile(path, path.stat().st_size, claim.checksum_sha256 or "")


def record(claim: Claim, result: Ingested | IngestError) -> Asset | None:
    """Write ``result`` on the claimed asset: ready with its facts, or failed with the reason. Under a
    row lock, and only while the asset is still processing: one quarantined meanwhile stays so. Returns
    the asset (None if it was deleted). Idempotent."""
    asset = db.session.scalar(
        select(Asset)
        .where(Asset.id == claim.asset_id)
        .with_for_update(of=Asset)  # the asset row only: its offer is joined (outer) for reading
        .execution_options(populate_existing=True)
    )
    if asset is None or asset.status != "processing":
        return asset
    if isinstance(result, IngestError):
        asset.status, asset.error = "failed", result.message
    else:
        for name, value in asdict(result).items():
            setattr(asset, name, value)
        asset.status, asset.error = "ready", None
    db.session.flush()
    return asset


def store_upload(asset: Asset, chunks: Iterable[bytes], filename: str, content_type: str | None) -> None:
    """Write an uploaded video to ``MEDIA_ROOT/<asset id>/source<ext>`` (through the incoming folder,
    counting size and SHA-256) and note it on the asset; ``ingest_asset`` then probes it.

    Raises TooLarge past ``INGEST_MAX_MB`` (nothing beyond is read) or IngestError for an empty file.
    """
    incoming = storage.write_incoming(chunks, max_bytes())
    if incoming.size_bytes == 0:
        storage.remove(incoming.path)
        raise IngestError("the file is empty")
    stored = storage.place(incoming, asset.id, storage.extension_for(content_type, filename))
    declared = storage.declared_type(content_type)
    asset.media_path = media.relative_path(stored.path)
    asset.size_bytes = stored.size_bytes
    asset.checksum_sha256 = stored.checksum_sha256
    asset.mime_type = declared if declared.startswith("video/") else None
    db.session.flush()


def waiting_ids(older_than: timedelta, limit: int = 100) -> list[str]:
    """Assets still ``new`` ``older_than`` after their creation: their job was lost. Reads only."""
    query = (
        select(Asset.id)
        .where(Asset.status == "new", Asset.created_at < utcnow() - older_than)
        .order_by(Asset.created_at)
        .limit(limit)
    )
    return list(db.session.scalars(query))


def fail_interrupted(older_than: timedelta) -> int:
    """Mark ``failed`` the assets claimed (processing) more than ``older_than`` ago: the worker that
    claimed them died. Returns how many. Idempotent."""
    result = db.session.execute(
        update(Asset)
        .where(Asset.status == "processing", Asset.updated_at < utcnow() - older_than)
        .values(
            status="failed", error="the ingestion was interrupted (its worker stopped)", updated_at=utcnow()
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount

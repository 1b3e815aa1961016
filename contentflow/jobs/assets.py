"""Asset jobs: ingestion of a source URL or an uploaded file (``services.ingestion``)."""

from __future__ import annotations

import logging
from datetime import timedelta

from contentflow.extensions import db
from contentflow.models import Asset
from contentflow.queueing import Schedule, enqueue, job
from contentflow.services import ingestion
from contentflow.services.ingestion import storage

log = logging.getLogger(__name__)

#: RQ's limit for one ingestion: well above a download's own ``INGEST_TIMEOUT_SECONDS`` (default 300 s)
#: plus ffprobe's and ffmpeg's timeouts, so the job's own limits always fire first and record why.
JOB_TIMEOUT_SECONDS = 2 * 3600
#: A ``new`` asset this old has lost its job (Redis failed when it was enqueued): the sweep asks again.
WAITING_AFTER = timedelta(minutes=15)
#: A claim this old belongs to a worker that died: RQ stopped any job long before.
INTERRUPTED_AFTER = timedelta(seconds=JOB_TIMEOUT_SECONDS) + timedelta(minutes=10)


@job("ingest", timeout=JOB_TIMEOUT_SECONDS)
def ingest_asset(asset_id: str) -> str:
    """Download (or take the uploaded file of), probe and cover asset ``asset_id``; commits the claim,
    then the outcome. Every failure ends in ``failed`` with its reason, never in an exception or a retry.

    Idempotent: an asset already processing, ready or quarantined is left alone.
    """
    claim = ingestion.claim(asset_id)
    db.session.commit()  # the claim is visible before the download: no other worker takes the asset
    if claim is None:
        asset = db.session.get(Asset, asset_id)
        return f"asset {asset_id}: nothing to do ({asset.status_text if asset else 'no such asset'})"
    try:
        result = ingestion.prepare(claim)
    except Exception:  # a bug must not leave the asset processing for ever: record it, and log why
        log.exception("ingestion of asset %s failed unexpectedly", asset_id)
        result = ingestion.IngestError("unexpected error during ingestion (see the worker log)")
    asset = ingestion.record(claim, result)
    db.session.commit()
    if asset is None:
        return f"asset {asset_id}: deleted during ingestion"
    return f"asset {asset_id}: {asset.status_text}"


@job("ingest", timeout=300)
def ingest_waiting_assets() -> str:
    """The sweep: fail the ingestions whose worker died (recorded, not retried) and delete the partial
    downloads they left, and enqueue again the assets whose job was lost. Idempotent: ``ingest_asset``
    ingests an asset once however often it is asked. Raises redis.RedisError when Redis is down (the
    next run tries again)."""
    interrupted = ingestion.fail_interrupted(INTERRUPTED_AFTER)
    db.session.commit()
    removed = storage.remove_stale_incoming(INTERRUPTED_AFTER.total_seconds())
    waiting = ingestion.waiting_ids(WAITING_AFTER)
    for asset_id in waiting:
        enqueue(ingest_asset, asset_id, description=f"ingest_asset({asset_id})")
    summary = f"{len(waiting)} waiting assets enqueued, {interrupted} interrupted ingestions failed"
    return summary + (f", {removed} partial downloads removed" if removed else "")


JOBS = (ingest_asset, ingest_waiting_assets)
SCHEDULES = (Schedule(ingest_waiting_assets, every=timedelta(minutes=10), queue="ingest"),)

"""Stored media: where an asset's files live under ``MEDIA_ROOT``, and the signed, expiring public URLs
platforms fetch them from (Instagram reads the video from such a URL; Pinterest the cover).

An asset's files are ``MEDIA_ROOT/<asset id>/source<ext>`` (the video) and ``cover.jpg``; the asset keeps
their paths relative to ``MEDIA_ROOT`` so the folder can move. A URL carries a token signed with the
app's ``SECRET_KEY`` (its own salt) naming the asset and the kind of file; it expires after
``TOKEN_MAX_AGE``. Only a ``ready`` asset is served: a quarantined one (DMCA) never is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer

from contentflow.extensions import db
from contentflow.models import Asset

KINDS = ("video", "cover")
URL_SALT = "contentflow.media"
#: How long a public media URL works: long enough for a platform that fetches the video minutes (or
#: hours, when its queue is long) after the post was made.
TOKEN_MAX_AGE = timedelta(hours=24)
#: Where downloads are written while they are incomplete (under ``MEDIA_ROOT``, so the final move is a
#: rename on the same file system).
INCOMING_FOLDER = ".incoming"


@dataclass(frozen=True)
class MediaFile:
    """A stored file ready to send: its absolute path and its type."""

    path: Path
    mimetype: str


def media_root() -> Path:
    """The media folder of the current app (``MEDIA_ROOT``), created if missing."""
    root = Path(current_app.config["MEDIA_ROOT"])
    root.mkdir(parents=True, exist_ok=True)
    return root


def asset_folder(asset_id: str) -> Path:
    """``MEDIA_ROOT/<asset id>``, created if missing."""
    folder = media_root() / asset_id
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def incoming_folder() -> Path:
    """The folder of incomplete downloads and uploads, created if missing."""
    folder = media_root() / INCOMING_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def relative_path(path: Path) -> str:
    """``path`` relative to ``MEDIA_ROOT``, as assets store it."""
    return path.relative_to(media_root()).as_posix()


def stored_file(relative: str | None) -> Path | None:
    """The absolute path of a stored file (``Asset.media_path``, ``cover_path``), or None when there is
    none, it is missing on disk, or it would lie outside ``MEDIA_ROOT``."""
    if not relative:
        return None
    root = media_root().resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return path


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=URL_SALT)


def public_url(asset: Asset, kind: str) -> str:
    """The absolute URL (from ``PUBLIC_BASE_URL``) of the asset's ``video`` or ``cover``, valid for
    ``TOKEN_MAX_AGE``. It answers only while the asset is ready and the file exists.

    Raises ValueError for an unknown kind.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown media kind {kind!r}")
    token = _serializer().dumps({"asset": asset.id, "kind": kind})
    return f"{current_app.config['PUBLIC_BASE_URL']}/media/{asset.id}/{kind}?token={token}"


def servable_file(asset_id: str, kind: str, token: str) -> MediaFile | None:
    """The file ``/media/<asset_id>/<kind>?token=...`` serves, or None (bad, expired or another file's
    token; unknown or unready asset; no such file). Reads only."""
    try:
        claims = _serializer().loads(token, max_age=int(TOKEN_MAX_AGE.total_seconds()))
    except BadSignature:  # SignatureExpired is one too
        return None
    if claims != {"asset": asset_id, "kind": kind}:
        return None
    asset = db.session.get(Asset, asset_id)
    if asset is None or asset.status != "ready":
        return None
    path = stored_file(asset.media_path if kind == "video" else asset.cover_path)
    if path is None:
        return None
    if kind == "cover":
        return MediaFile(path, "image/jpeg")
    return MediaFile(path, asset.mime_type or "application/octet-stream")

"""Writing a video into the media folder: streamed into a temporary file with its SHA-256 and size
counted as it comes, then moved to ``MEDIA_ROOT/<asset id>/source<ext>`` only once complete; and the
file's extension and type, from what the source declared and what ffprobe read."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from contentflow.services import media
from contentflow.services.ingestion.errors import TooLarge

#: Known video types and the extension their file gets.
EXTENSIONS = {
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
    "video/webm": ".webm",
    "video/x-matroska": ".mkv",
    "video/x-msvideo": ".avi",
    "video/mpeg": ".mpg",
    "video/mp2t": ".ts",
    "video/3gpp": ".3gp",
    "video/x-flv": ".flv",
    "video/ogg": ".ogv",
}
MIME_TYPES = {extension: mime for mime, extension in EXTENSIONS.items()} | {".m4v": "video/mp4"}
#: ffprobe's format names (``format_name``) -> the type a platform is told.
FORMAT_TYPES = {
    "mov,mp4,m4a,3gp,3g2,mj2": "video/mp4",
    "matroska,webm": "video/webm",
    "avi": "video/x-msvideo",
    "mpeg": "video/mpeg",
    "mpegts": "video/mp2t",
    "flv": "video/x-flv",
    "ogg": "video/ogg",
}
FALLBACK_EXTENSION = ".bin"
CHUNK_BYTES = 64 * 1024
SUFFIX = re.compile(r"\.[a-z0-9]{1,5}")


@dataclass(frozen=True)
class StoredFile:
    """A complete file in the media folder, with what was counted while writing it."""

    path: Path
    size_bytes: int
    checksum_sha256: str


def write_incoming(chunks: Iterable[bytes], max_bytes: int) -> StoredFile:
    """Stream ``chunks`` into a new temporary file under ``MEDIA_ROOT/.incoming``, counting its size and
    SHA-256. The file is removed when anything fails.

    Raises TooLarge past ``max_bytes`` (nothing beyond is read), or what ``chunks`` raises."""
    handle = tempfile.NamedTemporaryFile(dir=media.incoming_folder(), suffix=".part", delete=False)
    path = Path(handle.name)
    digest = hashlib.sha256()
    size = 0
    try:
        with handle:
            for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(f"the file is larger than {max_bytes // (1024 * 1024)} MB")
                digest.update(chunk)
                handle.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return StoredFile(path, size, digest.hexdigest())


def place(incoming: StoredFile, asset_id: str, extension: str) -> StoredFile:
    """Move a complete file to ``MEDIA_ROOT/<asset_id>/source<extension>``, replacing an earlier one."""
    folder = media.asset_folder(asset_id)
    for earlier in folder.glob("source.*"):
        earlier.unlink(missing_ok=True)
    final = folder / f"source{extension}"
    os.replace(incoming.path, final)
    return StoredFile(final, incoming.size_bytes, incoming.checksum_sha256)


def declared_type(content_type: str | None) -> str:
    """``video/mp4; codecs=...`` -> ``video/mp4``; empty when none was declared."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def suffix_of(name: str) -> str:
    """The lower-case extension of a URL path or file name when it looks like one (``.mp4``), else ``""``."""
    suffix = PurePosixPath(name).suffix.lower()
    return suffix if SUFFIX.fullmatch(suffix) else ""


def extension_for(content_type: str | None, name: str) -> str:
    """The stored file's extension: from a known video type, else from the URL path or file name when it
    is a known video extension, else ``.bin`` (ffprobe reads the content, not the name)."""
    extension = EXTENSIONS.get(declared_type(content_type))
    if extension:
        return extension
    suffix = suffix_of(name)
    return suffix if suffix in MIME_TYPES else FALLBACK_EXTENSION


def mime_type_for(content_type: str | None, path: Path, format_name: str) -> str:
    """The type platforms are told: a declared ``video/*`` type, else what ffprobe's format says, else
    what the extension says, else ``application/octet-stream``."""
    declared = declared_type(content_type)
    if declared.startswith("video/"):
        return declared
    return FORMAT_TYPES.get(format_name) or MIME_TYPES.get(path.suffix.lower(), "application/octet-stream")


def remove(path: Path | None) -> None:
    """Delete a stored file if it exists (a failed ingestion leaves no half-made media behind)."""
    if path is not None:
        path.unlink(missing_ok=True)


def remove_stale_incoming(older_than_seconds: float) -> int:
    """Delete partial files a dead worker left in the incoming folder (untouched for
    ``older_than_seconds``). Returns how many. Idempotent."""
    cutoff = time.time() - older_than_seconds
    removed = 0
    for path in media.incoming_folder().glob("*.part"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:  # another sweep took it
            continue
    return removed

"""Why an ingestion failed. The message is recorded on the asset (``failed: <message>``), so it is
written for the operator who reads it there: what went wrong, and with which limit."""

from __future__ import annotations


class IngestError(Exception):
    """Ingesting one asset failed; ``message`` is the reason recorded on the asset."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message[:1000]


class IngestRefused(IngestError):
    """The source may not be fetched at all: not http(s), a forbidden address, too many redirects."""


class DownloadFailed(IngestError):
    """The source could not be downloaded within the limits (size, time), or answered with an error or
    with something that is not a video."""


class TooLarge(DownloadFailed):
    """The file is larger than ``INGEST_MAX_MB``."""


class ProbeFailed(IngestError):
    """ffprobe found no video in the file, or ffprobe/ffmpeg are not installed or failed."""

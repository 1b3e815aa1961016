"""What a stored file holds (ffprobe) and a cover still of it (ffmpeg), run as subprocesses with fixed
arguments and timeouts.

Both read the file under input limits: only the ``file`` protocol and the usual video containers. A
"video" could be an HLS playlist or a concat list naming other files or URLs; ffmpeg would follow them
(reading local files, or fetching addresses the download guard refused), so those formats are refused.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from contentflow.services.ingestion.errors import ProbeFailed

FFPROBE = "ffprobe"
FFMPEG = "ffmpeg"
INSTALL_HINT = "apt-get install ffmpeg"
PROBE_TIMEOUT_SECONDS = 60
COVER_TIMEOUT_SECONDS = 120
#: Containers ffprobe and ffmpeg may open (demuxer names): MP4/MOV, Matroska/WebM, AVI, MPEG-PS/TS,
#: FLV, Ogg. Playlists (hls, concat) are not among them.
DEMUXERS = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpeg,mpegts,flv,ogg"
INPUT_LIMITS = ("-protocol_whitelist", "file", "-format_whitelist", DEMUXERS)
#: The cover is taken this far in, unless the video is shorter than twice that (then its first frame).
COVER_AT_SECONDS = 1
UNREADABLE = "ffprobe cannot read a video in this file"


@dataclass(frozen=True)
class MediaFacts:
    """What ffprobe read: length, frame size as displayed (rotation applied), container format."""

    duration_ms: int | None
    width: int
    height: int
    format_name: str


def binary(name: str) -> str:
    """The path of ``ffprobe`` or ``ffmpeg`` on ``PATH``. Raises ProbeFailed when it is not installed."""
    found = shutil.which(name)
    if found is None:
        raise ProbeFailed(f"{name} is not installed ({INSTALL_HINT})")
    return found


def probe(path: Path) -> MediaFacts:
    """Run ``ffprobe -v error -print_format json -show_format -show_streams`` on ``path``.

    Raises ProbeFailed (not installed, timed out, no video stream, unreadable file)."""
    argv = [binary(FFPROBE), "-v", "error", *INPUT_LIMITS, "-print_format", "json"]
    argv += ["-show_format", "-show_streams", str(path.resolve())]
    try:
        completed = subprocess.run(argv, capture_output=True, timeout=PROBE_TIMEOUT_SECONDS, check=False)  # noqa: S603
    except subprocess.TimeoutExpired:
        raise ProbeFailed(f"ffprobe took longer than {PROBE_TIMEOUT_SECONDS} s on this file") from None
    if completed.returncode != 0:
        raise ProbeFailed(UNREADABLE)
    try:
        found = json.loads(completed.stdout)
    except ValueError:
        raise ProbeFailed(UNREADABLE) from None
    return facts_of(found)


def facts_of(found: dict[str, Any]) -> MediaFacts:
    """The facts in ffprobe's JSON: the first video stream that is not an attached picture (a cover
    embedded in an audio file). Raises ProbeFailed when there is none."""
    video = next(
        (
            stream
            for stream in found.get("streams") or []
            if stream.get("codec_type") == "video"
            and not (stream.get("disposition") or {}).get("attached_pic")
        ),
        None,
    )
    if video is None or not video.get("width") or not video.get("height"):
        raise ProbeFailed(UNREADABLE)
    width, height = int(video["width"]), int(video["height"])
    if rotation_of(video) in (90, 270):  # a phone's portrait video is stored landscape, rotated on play
        width, height = height, width
    container = found.get("format") or {}
    duration = milliseconds(container.get("duration")) or milliseconds(video.get("duration"))
    return MediaFacts(duration, width, height, str(container.get("format_name", "")))


def rotation_of(stream: dict[str, Any]) -> int:
    """The stream's display rotation in degrees (0, 90, 180, 270), from its side data or its tag."""
    raw: Any = (stream.get("tags") or {}).get("rotate", 0)
    for side_data in stream.get("side_data_list") or []:
        if "rotation" in side_data:
            raw = side_data["rotation"]
    try:
        return int(float(raw)) % 360
    except (TypeError, ValueError):
        return 0


def milliseconds(seconds: Any) -> int | None:
    """ffprobe's ``"2.000000"`` seconds -> 2000; None when missing or not a number."""
    try:
        value = Decimal(str(seconds))
    except (InvalidOperation, ValueError):
        return None
    return int(value * 1000) if value.is_finite() and value > 0 else None


def make_cover(video: Path, cover: Path, duration_ms: int | None) -> None:
    """Write one JPEG frame of ``video`` to ``cover``: at ``COVER_AT_SECONDS``, or the first frame of a
    short video. Replaces an earlier cover. Raises ProbeFailed (not installed, timed out, no frame)."""
    at = COVER_AT_SECONDS if (duration_ms or 0) >= 2000 * COVER_AT_SECONDS else 0
    argv = [binary(FFMPEG), "-v", "error", "-nostdin", "-y", *INPUT_LIMITS, "-ss", str(at)]
    argv += ["-i", str(video.resolve()), "-frames:v", "1", "-update", "1", "-q:v", "3", str(cover.resolve())]
    cover.unlink(missing_ok=True)
    try:
        completed = subprocess.run(argv, capture_output=True, timeout=COVER_TIMEOUT_SECONDS, check=False)  # noqa: S603
    except subprocess.TimeoutExpired:
        cover.unlink(missing_ok=True)
        raise ProbeFailed(f"ffmpeg took longer than {COVER_TIMEOUT_SECONDS} s to make a cover") from None
    if completed.returncode != 0 or not cover.is_file() or cover.stat().st_size == 0:
        cover.unlink(missing_ok=True)
        raise ProbeFailed("ffmpeg could not make a cover still of this video")

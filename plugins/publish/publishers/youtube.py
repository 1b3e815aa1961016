"""YouTube (Data API v3): the channel behind a token, a video uploaded with Google's resumable protocol, and
the video found again by the marker in its tags.

The upload is two requests: a POST with the video's metadata opens a session (its URI comes back in
``Location``), then a PUT of the file's bytes to that URI creates the video. Only the PUT can have made a
video, so only its failures are ``maybe_posted``. Quota refusals (daily project quota, the channel's upload
limit) are waits, not a refused token: Google sends them as 403 or 400 with a ``reason`` in its error body.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from flask import current_app

from plugins.publish.platforms import Platform
from plugins.publish.publishers.base import (
    Account,
    PermanentError,
    Post,
    Published,
    TransientError,
    call,
    retry_after_seconds,
)

#: Seconds to wait for the answer to the PUT that carries the whole video.
UPLOAD_TIMEOUT = 300
TITLE_MAX_CHARS = 100
DESCRIPTION_MAX_BYTES = 5000
#: YouTube's limit on all tags together, counting the commas between them (and quotes around a tag
#: with spaces).
TAGS_MAX_CHARS = 500
#: "People & Blogs": YouTube requires a category, and this one fits any promoted clip.
CATEGORY_ID = "22"
#: Uploads come back in the uploads playlist newest first: the assignment's video is among the latest.
FIND_PAGE_SIZE = 50
WATCH_URL = "https://www.youtube.com/watch?v={}"
#: Google's daily quota resets at midnight Pacific time: 08:00 UTC in winter, 07:00 in summer. Waiting
#: for 08:00 is at worst an hour late, never early.
QUOTA_RESET_HOUR_UTC = 8
#: The channel's own upload limit is a rolling day.
UPLOAD_LIMIT_WAIT_SECONDS = 24 * 3600
RATE_LIMIT_WAIT_SECONDS = 60
DAILY_QUOTA_REASONS = frozenset({"quotaExceeded", "dailyLimitExceeded"})
RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
#: YouTube refuses titles and descriptions holding < or >; look-alikes keep what the text meant.
ANGLE_BRACKETS = str.maketrans({"<": "\u2039", ">": "\u203a"})


def identify(platform: Platform, access_token: str) -> tuple[str, str]:
    """(channel id, handle) of the token's channel: its ``@customUrl``, else its title. Raises
    PermanentError when the Google account has no channel; idempotent."""
    answer = _call("GET", platform.api("/youtube/v3/channels"), token=access_token, params=_mine("snippet"))
    channels = _items(answer)
    if not channels:
        raise PermanentError("this Google account has no YouTube channel: create one, then connect again")
    channel_id = str(_field(channels, 0, "id"))
    snippet = channels[0].get("snippet") or {}
    return channel_id, snippet.get("customUrl") or snippet.get("title") or channel_id


def publish(post: Post, account: Account, platform: Platform) -> Published:
    """Upload the post's video with its title, description and tags (the marker among them). Raises
    TransientError, AuthError, PermanentError; not idempotent (each call uploads a video)."""
    if post.media_path is None:
        raise PermanentError("YouTube needs a video: this asset is a link only")
    try:
        size = post.media_path.stat().st_size
    except OSError:
        raise PermanentError("the asset's video file is missing") from None
    content_type = post.media_type or "application/octet-stream"
    session_uri = _open_upload_session(post, account, content_type, size)
    with post.media_path.open("rb") as video:
        answer = _call(
            "PUT",
            session_uri,
            token=account.access_token,
            creates=True,
            timeout=UPLOAD_TIMEOUT,
            data=video,
            headers={"Content-Type": content_type, "Content-Length": str(size)},
        )
    video_id = answer.get("id") if isinstance(answer, dict) else None
    if not video_id:
        raise TransientError("YouTube's answer to the upload named no video", maybe_posted=True)
    return Published(str(video_id), WATCH_URL.format(video_id))


def find(post: Post, account: Account, platform: Platform) -> Published | None:
    """The channel's recent upload whose tags hold the post's marker, or None. Raises TransientError,
    AuthError, PermanentError (an answer not understood); idempotent."""
    token = account.access_token
    answer = _call("GET", platform.api("/youtube/v3/channels"), token=token, params=_mine("contentDetails"))
    channels = _items(answer)
    if not channels:
        return None
    uploads = _field(channels, 0, "contentDetails", "relatedPlaylists", "uploads")
    params = {"part": "contentDetails", "playlistId": uploads, "maxResults": str(FIND_PAGE_SIZE)}
    playlist = _call("GET", platform.api("/youtube/v3/playlistItems"), token=token, params=params)
    video_ids = [str(_field(item, "contentDetails", "videoId")) for item in _items(playlist)]
    if not video_ids:
        return None
    params = {"part": "snippet", "id": ",".join(video_ids)}
    videos = _call("GET", platform.api("/youtube/v3/videos"), token=token, params=params)
    for video in _items(videos):
        snippet = _field(video, "snippet")
        if isinstance(snippet, dict) and post.marker in (snippet.get("tags") or []):
            video_id = str(_field(video, "id"))
            return Published(video_id, WATCH_URL.format(video_id))
    return None


def _open_upload_session(post: Post, account: Account, content_type: str, size: int) -> str:
    base_url = current_app.config["YOUTUBE_UPLOAD_BASE_URL"].rstrip("/")
    response = _call(
        "POST",
        f"{base_url}/youtube/v3/videos",
        token=account.access_token,
        expect_json=False,
        params={"uploadType": "resumable", "part": "snippet,status"},
        json=_video_resource(post),
        headers={
            "Content-Type": "application/json; charset=UTF-8",
            "X-Upload-Content-Type": content_type,
            "X-Upload-Content-Length": str(size),
        },
    )
    session_uri = response.headers.get("Location")
    if not session_uri:
        raise TransientError("YouTube opened no upload session (no Location in its answer)")
    return session_uri


def _video_resource(post: Post) -> dict[str, Any]:
    return {
        "snippet": {
            "title": post.title.translate(ANGLE_BRACKETS).strip()[:TITLE_MAX_CHARS],
            "description": _shorten_description(post.text.translate(ANGLE_BRACKETS), post.link),
            "tags": _tags(post),
            "categoryId": CATEGORY_ID,
        },
        "status": {
            "privacyStatus": current_app.config["YOUTUBE_PRIVACY_STATUS"],
            "selfDeclaredMadeForKids": False,
        },
    }


def _shorten_description(text: str, link: str) -> str:
    if len(text.encode()) <= DESCRIPTION_MAX_BYTES:
        return text
    # The text ends with the call to action, the short link, the hashtags and #ad: cut the body before
    # them, since dropping the link or the disclosure would break the post.
    link_at = text.rfind(link)
    tail_at = text.rfind("\n", 0, link_at) + 1 if link_at >= 0 else len(text)
    tail = text[tail_at:]
    room = DESCRIPTION_MAX_BYTES - len(tail.encode()) - len("…\n".encode())
    if room <= 0:
        return _cut_bytes(text, DESCRIPTION_MAX_BYTES)
    return f"{_cut_bytes(text[:tail_at], room).rstrip()}…\n{tail}"


def _cut_bytes(text: str, limit: int) -> str:
    return text.encode()[:limit].decode("utf-8", "ignore")


def _tags(post: Post) -> list[str]:
    # The marker is how find() knows the video again: it always goes in; tags that do not fit are left out.
    room = TAGS_MAX_CHARS - len(post.marker)
    kept: list[str] = []
    for tag in post.tags:
        cost = len(tag) + 1 + (2 if " " in tag else 0)
        if tag and tag != post.marker and tag not in kept and cost <= room:
            kept.append(tag)
            room -= cost
    return [*kept, post.marker]


def _mine(part: str) -> dict[str, str]:
    return {"part": part, "mine": "true"}


def _call(method: str, url: str, **kwargs: Any) -> Any:
    # Google's error body names quota and rate limits, which base.call alone would take, as a 403, for
    # a refused token.
    return call(method, url, classify=_limit_error, **kwargs)


def _limit_error(response: requests.Response) -> TransientError | None:
    """A 400 or 403 that is a quota or rate limit, as the TransientError it is; None otherwise."""
    if response.status_code not in (400, 403):
        return None
    reasons = _error_reasons(response)
    if reasons & DAILY_QUOTA_REASONS:
        wait = _seconds_until_quota_reset(datetime.now(UTC))
        return TransientError("YouTube's daily API quota is used up", retry_after=wait)
    if "uploadLimitExceeded" in reasons:
        wait = UPLOAD_LIMIT_WAIT_SECONDS
        return TransientError("the channel reached YouTube's daily upload limit", retry_after=wait)
    if reasons & RATE_LIMIT_REASONS:
        wait = retry_after_seconds(response) or RATE_LIMIT_WAIT_SECONDS
        return TransientError("rate limited by YouTube", retry_after=wait)
    return None


def _error_reasons(response: requests.Response) -> set[str]:
    try:
        errors = response.json()["error"]["errors"]
        return {str(error.get("reason")) for error in errors if isinstance(error, dict)}
    except (ValueError, KeyError, TypeError):
        return set()


def _seconds_until_quota_reset(now: datetime) -> float:
    reset = now.replace(hour=QUOTA_RESET_HOUR_UTC, minute=0, second=0, microsecond=0)
    if reset <= now:
        reset += timedelta(days=1)
    return (reset - now).total_seconds()


def _items(answer: Any) -> list[Any]:
    # YouTube leaves "items" out of a list answer that has none.
    if not isinstance(answer, dict):
        raise PermanentError("YouTube's answer was not understood (not an object)")
    return answer.get("items") or []


def _field(data: Any, *path: str | int) -> Any:
    try:
        for key in path:
            data = data[key]
    except (KeyError, IndexError, TypeError):
        shown = ".".join(str(key) for key in path)
        raise PermanentError(f"YouTube's answer was not understood (no {shown})") from None
    return data

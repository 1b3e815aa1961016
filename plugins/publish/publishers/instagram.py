"""Instagram (the Instagram API with Instagram Login, https://developers.facebook.com/docs/instagram-platform):
a reel made from the asset's public video URL, and the look-up of that reel among the account's media.

Publishing takes three steps: a media container that Instagram fills by fetching the video, a wait until
it has processed it, then ``media_publish``, the only request that makes a post. The OAuth code
exchange gives a short-lived token (an hour) that ``finish_token`` trades for a long-lived one (60
days), which ``refresh`` renews with itself: Instagram issues no refresh token.
"""

from __future__ import annotations

import re
import time
from typing import Any

import requests

from plugins.publish.platforms import Platform
from plugins.publish.publishers.base import (
    Account,
    AuthError,
    PermanentError,
    Post,
    Published,
    PublishError,
    TransientError,
    call,
)

API_VERSION = "v21.0"
#: Instagram's limit on a caption; the part cut is before the short link, never the link or #ad.
CAPTION_MAX_CHARS = 2200
#: How often and how long ``publish`` asks whether the video is processed; replaced by tests.
POLL_EVERY_SECONDS = 5
POLL_FOR_SECONDS = 60
pause = time.sleep
#: What a long-lived token lives when Instagram's answer does not say (its documented 60 days).
LONG_LIVED_SECONDS = 60 * 24 * 3600
#: Where a published reel is when Instagram does not tell us its permalink.
WEB_URL = "https://www.instagram.com/"
#: How many of the account's latest media ``find`` reads.
FIND_LIMIT = 50

#: Graph API error codes (https://developers.facebook.com/docs/graph-api/guides/error-handling), which
#: come with a 400 rather than a 401 or 429: an expired or revoked token, then the rate limits
#: (subcode 2207042: the account's daily publishing limit).
TOKEN_ERROR_CODES = frozenset({102, 190})
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, 80002})
PUBLISH_LIMIT_SUBCODE = 2207042


def _graph_error(response: requests.Response) -> PublishError | None:
    """A 400 about the token (AuthError) or a rate limit (TransientError), which ``base.call`` alone would
    file as a refused post; None for any other answer."""
    if response.status_code != 400:
        return None
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return None
    if not isinstance(error, dict):
        return None
    message = str(error.get("message") or "")[:300]
    if error.get("code") in TOKEN_ERROR_CODES:
        return AuthError(f"Instagram refused the account's authorization: {message}")
    if error.get("code") in RATE_LIMIT_CODES or error.get("error_subcode") == PUBLISH_LIMIT_SUBCODE:
        return TransientError(f"rate limited by Instagram: {message}")
    return None


def _graph(method: str, url: str, **kwargs: Any) -> Any:
    """``base.call`` with Instagram's 400s about tokens and rate limits sorted first."""
    return call(method, url, classify=_graph_error, **kwargs)


def _path(path: str) -> str:
    return f"/{API_VERSION}{path}"


def identify(platform: Platform, access_token: str) -> tuple[str, str]:
    """(external_id, handle): the Instagram professional account's user id (what publishing is addressed
    to) and username. Raises AuthError, TransientError or PermanentError. Read-only."""
    me = _graph("GET", platform.api(_path("/me")), token=access_token, params={"fields": "user_id,username"})
    if not isinstance(me, dict) or not me.get("user_id") or not me.get("username"):
        raise PermanentError("Instagram did not say which account this is")
    return str(me["user_id"]), str(me["username"])


def finish_token(platform: Platform, token: dict[str, Any]) -> dict[str, Any]:
    """The long-lived token for the short-lived one the code exchange answered (sometimes wrapped in
    ``{"data": [...]}``), as ``{"access_token", "token_type", "expires_in"}``.

    Raises AuthError (no token, or Instagram refused to exchange it) or TransientError."""
    wrapped = token.get("data")
    short = wrapped[0] if isinstance(wrapped, list) and wrapped and isinstance(wrapped[0], dict) else token
    short_token = short.get("access_token")
    if not short_token:
        raise AuthError("Instagram gave no access token")
    params = {
        "grant_type": "ig_exchange_token",
        "client_secret": platform.client_secret,
        "access_token": short_token,
    }
    answer = _graph("GET", platform.api("/access_token"), params=params, auth_statuses=(400, 401, 403))
    return _token_of(answer)


def refresh(platform: Platform, access_token: str, refresh_token: str | None) -> dict[str, Any]:
    """A new long-lived token for ``access_token`` (Instagram refreshes a token with itself, and only an
    unexpired one at least a day old; ``refresh_token`` is unused).

    Raises AuthError (refused: the partner must reconnect) or TransientError."""
    params = {"grant_type": "ig_refresh_token", "access_token": access_token}
    answer = _graph(
        "GET", platform.api("/refresh_access_token"), params=params, auth_statuses=(400, 401, 403)
    )
    return _token_of(answer)


def _token_of(answer: Any) -> dict[str, Any]:
    if not isinstance(answer, dict) or not answer.get("access_token"):
        raise AuthError("Instagram answered without an access token")
    try:
        expires_in = int(answer.get("expires_in") or LONG_LIVED_SECONDS)
    except (TypeError, ValueError):
        expires_in = LONG_LIVED_SECONDS
    return {"access_token": str(answer["access_token"]), "token_type": "bearer", "expires_in": expires_in}


def caption_of(post: Post) -> str:
    """``post.text`` within Instagram's 2,200 characters: when too long, the text before the short link is
    shortened, so the link (which ``find`` looks for), the hashtags and #ad stay."""
    text = post.text
    if len(text) <= CAPTION_MAX_CHARS:
        return text
    at = text.find(post.link)
    if at < 0:
        return text[:CAPTION_MAX_CHARS]
    tail = text[at:][:CAPTION_MAX_CHARS]
    head = text[: max(0, CAPTION_MAX_CHARS - len(tail) - 2)].rstrip()
    return f"{head}… {tail}" if head else tail


def publish(post: Post, account: Account, platform: Platform) -> Published:
    """Post the asset's video as a reel with ``post.text`` as its caption.

    Raises PermanentError (no video, or Instagram could not use it), TransientError (still processing
    after a minute, rate limited, Instagram down; ``maybe_posted`` only when ``media_publish`` may have
    gone through) or AuthError. Not idempotent: reconcile with ``find`` first."""
    if not post.media_url or (post.media_type and not post.media_type.startswith("video/")):
        raise PermanentError("Instagram needs a video")
    media = platform.api(_path(f"/{account.external_id}/media"))
    form = {
        "media_type": "REELS",
        "video_url": post.media_url,
        "caption": caption_of(post),
        "share_to_feed": "true",
    }
    container = _graph("POST", media, token=account.access_token, data=form)
    if not isinstance(container, dict) or not container.get("id"):
        raise PermanentError("Instagram did not make a media container")
    container_id = str(container["id"])
    _wait_until_processed(container_id, account, platform)
    published = _graph(
        "POST",
        platform.api(_path(f"/{account.external_id}/media_publish")),
        token=account.access_token,
        data={"creation_id": container_id},
        creates=True,
    )
    if not isinstance(published, dict) or not published.get("id"):
        raise TransientError("Instagram's answer to media_publish named no post", maybe_posted=True)
    media_id = str(published["id"])
    return Published(media_id, _permalink(media_id, account, platform))


def _wait_until_processed(container_id: str, account: Account, platform: Platform) -> None:
    """Return once Instagram has processed the video; at most ``POLL_FOR_SECONDS`` of pauses."""
    url = platform.api(_path(f"/{container_id}"))
    waited = 0
    while True:
        answer = _graph("GET", url, token=account.access_token, params={"fields": "status_code,status"})
        status_code = answer.get("status_code") if isinstance(answer, dict) else None
        if status_code == "FINISHED":
            return
        if status_code in ("ERROR", "EXPIRED"):
            why = answer.get("status") or status_code
            raise PermanentError(f"Instagram could not use the video: {why}")
        if waited >= POLL_FOR_SECONDS:
            # The container is not a post: the retry makes a new one, nothing can be posted twice.
            raise TransientError("Instagram is still processing the video")
        pause(POLL_EVERY_SECONDS)
        waited += POLL_EVERY_SECONDS


def _permalink(media_id: str, account: Account, platform: Platform) -> str:
    """The reel's permalink; Instagram's home page when it will not say (the reel exists either way)."""
    try:
        answer = _graph(
            "GET",
            platform.api(_path(f"/{media_id}")),
            token=account.access_token,
            params={"fields": "permalink"},
        )
    except PublishError:
        return WEB_URL
    permalink = answer.get("permalink") if isinstance(answer, dict) else None
    return str(permalink) if permalink else WEB_URL


def find(post: Post, account: Account, platform: Platform) -> Published | None:
    """The account's reel whose caption carries ``post.link`` (unique per partner and asset) among its
    latest 50 media, or None. Raises TransientError, AuthError or PermanentError. Read-only."""
    answer = _graph(
        "GET",
        platform.api(_path(f"/{account.external_id}/media")),
        token=account.access_token,
        params={"fields": "id,caption,permalink", "limit": str(FIND_LIMIT)},
    )
    media = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(media, list):
        raise PermanentError("Instagram's list of media was not readable")
    # The link must end where the caption's link ends: /l/abc is not /l/abcd.
    link = re.compile(re.escape(post.link) + r"(?![\w-])")
    for item in media:
        if isinstance(item, dict) and item.get("id") and link.search(str(item.get("caption") or "")):
            return Published(str(item["id"]), str(item.get("permalink") or WEB_URL))
    return None

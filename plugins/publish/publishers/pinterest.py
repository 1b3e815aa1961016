"""Pinterest (API v5): the user behind a token, their boards, a video pin (or an image pin from the cover)
pointing to the partner's short link, and the pin found again by that link.

A video pin takes four steps: register the upload (``POST /v5/media``), send the file to the storage URL
Pinterest gives (an S3 form: no Bearer token goes there), wait for Pinterest to process it, then create
the pin. Only that last request can have made a pin, so only its failures are ``maybe_posted``; a retry
after an earlier failure uploads again and makes no stray pin.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from plugins.publish.platforms import Platform
from plugins.publish.publishers.base import (
    Account,
    PermanentError,
    Post,
    Published,
    TransientError,
    call,
)

#: Pinterest's 403 means "not allowed here" (a board that is not the user's, a trial app), not a bad
#: token: only 401 asks the partner to reconnect.
AUTH_STATUSES = (401,)
#: Seconds to wait for the storage's answer to the upload of the whole video.
UPLOAD_TIMEOUT = 300
TITLE_MAX_CHARS = 100
DESCRIPTION_MAX_CHARS = 500
PAGE_SIZE = 100
#: Pages read when listing boards or pins: enough for any partner's recent pins, never an endless walk.
MAX_PAGES = 10
#: How a processing video is watched: a look every few seconds, about a minute in all, then the job
#: retries later (tests replace ``pause``).
POLL_SECONDS = 5
MAX_POLL_SECONDS = 60
pause = time.sleep
PIN_URL = "https://www.pinterest.com/pin/{}/"


def identify(platform: Platform, access_token: str) -> tuple[str, str]:
    """(user id, or the username where the answer has none; username) of the token's account. Raises
    PermanentError for an answer without a username; idempotent."""
    user = _call("GET", platform.api("/v5/user_account"), token=access_token)
    username = user.get("username") if isinstance(user, dict) else None
    if not username:
        raise PermanentError("Pinterest's answer was not understood (no username)")
    return str(user.get("id") or username), str(username)


def list_targets(account: Account, platform: Platform) -> list[tuple[str, str]]:
    """The account's boards as (id, name), the first ``MAX_PAGES`` pages of them. Raises TransientError,
    AuthError, PermanentError; idempotent."""
    boards = _each_item(platform, account.access_token, "/v5/boards")
    return [(str(board["id"]), str(board.get("name") or board["id"])) for board in boards if board.get("id")]


def publish(post: Post, account: Account, platform: Platform) -> Published:
    """Pin the post's video (or, without one, its cover image) on the post's board or the account's first
    one, linking to the short link. Raises TransientError, AuthError, PermanentError; not idempotent."""
    if post.media_path is None and not post.cover_url:
        raise PermanentError("Pinterest needs a video or an image: this asset has neither")
    board_id = post.target or _first_board_id(account, platform)
    if post.media_path is not None:
        media_source = _video_source(post, account, platform)
    else:
        media_source = {"source_type": "image_url", "url": post.cover_url}
    pin = _call(
        "POST",
        platform.api("/v5/pins"),
        token=account.access_token,
        creates=True,
        json={
            "board_id": board_id,
            "title": post.title.strip()[:TITLE_MAX_CHARS],
            "description": _shorten_description(post.text, post.link),
            "link": post.link,
            "media_source": media_source,
        },
    )
    pin_id = pin.get("id") if isinstance(pin, dict) else None
    if not pin_id:
        raise TransientError("Pinterest's answer named no pin", maybe_posted=True)
    return Published(str(pin_id), PIN_URL.format(pin_id))


def find(post: Post, account: Account, platform: Platform) -> Published | None:
    """The account's pin linking to the post's short link (unique per partner and asset), among its
    latest ``MAX_PAGES`` pages of pins, or None. Raises TransientError, AuthError, PermanentError;
    idempotent."""
    for pin in _each_item(platform, account.access_token, "/v5/pins"):
        if pin.get("link") == post.link and pin.get("id"):
            return Published(str(pin["id"]), PIN_URL.format(pin["id"]))
    return None


def _first_board_id(account: Account, platform: Platform) -> str:
    for board in _each_item(platform, account.access_token, "/v5/boards"):
        if board.get("id"):
            return str(board["id"])
    raise PermanentError("create a Pinterest board first: pins are made on a board")


def _video_source(post: Post, account: Account, platform: Platform) -> dict[str, Any]:
    media_id = _upload_video(post, account, platform)
    _wait_until_processed(media_id, account, platform)
    source: dict[str, Any] = {"source_type": "video_id", "media_id": media_id}
    if post.cover_url:
        source["cover_image_url"] = post.cover_url
    else:
        # A video pin needs a cover: without a still of our own, the video's first frame.
        source["cover_image_key_frame_time"] = 0
    return source


def _upload_video(post: Post, account: Account, platform: Platform) -> str:
    media = _call("POST", platform.api("/v5/media"), token=account.access_token, json={"media_type": "video"})
    try:
        media_id, upload_url, fields = media["media_id"], media["upload_url"], media["upload_parameters"]
    except (KeyError, TypeError):
        raise PermanentError("Pinterest's answer was not understood (no upload_url)") from None
    content_type = post.media_type or "application/octet-stream"
    try:
        video = post.media_path.open("rb")
    except OSError:
        raise PermanentError("the asset's video file is missing") from None
    with video:
        # A presigned storage form: no token, and its 403 is about the form (expired), not the account.
        call(
            "POST",
            upload_url,
            data=fields,
            files={"file": (post.media_path.name, video, content_type)},
            expect_json=False,
            auth_statuses=(),
            timeout=UPLOAD_TIMEOUT,
        )
    return str(media_id)


def _wait_until_processed(media_id: str, account: Account, platform: Platform) -> None:
    url = platform.api(f"/v5/media/{quote(media_id, safe='')}")
    waited = 0
    while True:
        media = _call("GET", url, token=account.access_token)
        status = media.get("status") if isinstance(media, dict) else None
        if status == "succeeded":
            return
        if status == "failed":
            raise PermanentError("Pinterest could not process the video")
        if waited >= MAX_POLL_SECONDS:
            raise TransientError("Pinterest is still processing the video", retry_after=MAX_POLL_SECONDS)
        pause(POLL_SECONDS)
        waited += POLL_SECONDS


def _shorten_description(text: str, link: str) -> str:
    if len(text) <= DESCRIPTION_MAX_CHARS:
        return text
    # The text ends with the call to action, the short link, the hashtags and #ad: cut the body before
    # them, since dropping the link or the disclosure would break the post.
    link_at = text.rfind(link)
    tail_at = text.rfind("\n", 0, link_at) + 1 if link_at >= 0 else len(text)
    tail = text[tail_at:]
    room = DESCRIPTION_MAX_CHARS - len(tail) - len("…\n")
    if room <= 0:
        return text[:DESCRIPTION_MAX_CHARS]
    return f"{text[:room].rstrip()}…\n{tail}"


def _each_item(platform: Platform, token: str, path: str) -> Iterator[dict[str, Any]]:
    params = {"page_size": str(PAGE_SIZE)}
    for _ in range(MAX_PAGES):
        page = _call("GET", platform.api(path), token=token, params=params)
        if not isinstance(page, dict):
            raise PermanentError("Pinterest's answer was not understood (not an object)")
        yield from (item for item in page.get("items") or [] if isinstance(item, dict))
        bookmark = page.get("bookmark")
        if not bookmark:
            return
        params = {"page_size": str(PAGE_SIZE), "bookmark": str(bookmark)}


def _call(method: str, url: str, **kwargs: Any) -> Any:
    return call(method, url, auth_statuses=AUTH_STATUSES, **kwargs)

"""Reddit (https://www.reddit.com/dev/api): a link post to the partner's short link, in a subreddit or on
the partner's profile, and the look-up of that post in the partner's submissions.

Every request names this app in its ``User-Agent`` (``REDDIT_USER_AGENT``): Reddit throttles or blocks
generic ones. Reddit answers a refused submission with a 200 whose ``json.errors`` says why.
"""

from __future__ import annotations

import re
from typing import Any

from flask import current_app

from plugins.publish.platforms import Platform
from plugins.publish.publishers.base import (
    Account,
    AuthError,
    PermanentError,
    Post,
    Published,
    TransientError,
    call,
)

#: Reddit's limit on a post title; the disclosure is never the part cut off.
TITLE_MAX_CHARS = 300
DISCLOSURE = " #ad"
#: How many of the partner's latest submissions ``find`` reads (Reddit's maximum per page).
FIND_LIMIT = 100
WEB_URL = "https://www.reddit.com"

#: "Take a break for 9 minutes", "try again in 37 seconds": Reddit's rate-limit wording.
_WAIT = re.compile(r"(\d+)\s*(second|minute|hour)", re.IGNORECASE)
_UNIT_SECONDS = {"second": 1, "minute": 60, "hour": 3600}


def _headers() -> dict[str, str]:
    return {"User-Agent": current_app.config["REDDIT_USER_AGENT"]}


def identify(platform: Platform, access_token: str) -> tuple[str, str]:
    """(external_id, handle) of the account the token belongs to: Reddit's user id and name.

    Raises AuthError, TransientError or PermanentError (an answer without them). Read-only."""
    me = call("GET", platform.api("/api/v1/me"), token=access_token, headers=_headers())
    if not isinstance(me, dict) or not me.get("id") or not me.get("name"):
        raise PermanentError("Reddit did not say which account this is")
    return str(me["id"]), str(me["name"])


def title_of(post: Post) -> str:
    """The post's title with the ad disclosure, cut to Reddit's 300 characters before the disclosure."""
    return post.title[: TITLE_MAX_CHARS - len(DISCLOSURE)].rstrip() + DISCLOSURE


def publish(post: Post, account: Account, platform: Platform) -> Published:
    """Submit the link post to ``post.target`` (the partner's profile when None).

    Raises TransientError (rate limited, Reddit down; ``maybe_posted`` when the submission may have gone
    through), AuthError (token refused) or PermanentError (Reddit refused the post, e.g. a subreddit that
    does not exist or does not take links). Not idempotent: reconcile with ``find`` first."""
    form = {
        "api_type": "json",
        "kind": "link",
        "sr": post.target or f"u_{account.handle}",
        "title": title_of(post),
        "url": post.link,
        "resubmit": "true",
        "sendreplies": "true",
    }
    # Reddit's 403 here means "not allowed in that subreddit" (banned, approved submitters only), not a
    # bad token: base.call then makes it a PermanentError.
    answer = call(
        "POST",
        platform.api("/api/submit"),
        token=account.access_token,
        headers=_headers(),
        data=form,
        creates=True,
        auth_statuses=(401,),
    )
    body = answer.get("json") if isinstance(answer, dict) else None
    if not isinstance(body, dict):
        raise TransientError("Reddit's answer to the submission was not readable", maybe_posted=True)
    _raise_for_errors(body)
    data = body.get("data") or {}
    name = data.get("name") or (f"t3_{data['id']}" if data.get("id") else None)
    if not name or not data.get("url"):
        raise TransientError("Reddit's answer to the submission named no post", maybe_posted=True)
    return Published(str(name), str(data["url"]))


def _raise_for_errors(body: dict[str, Any]) -> None:
    """Reddit's ``json.errors`` (``[[code, message, field], ...]``) as our errors; nothing when empty."""
    errors = body.get("errors") or []
    if not errors:
        return
    code, message = _code_and_message(errors[0])
    if code == "RATELIMIT":
        raise TransientError(f"Reddit rate limit: {message}", retry_after=_rate_limit_seconds(body, message))
    if code in ("USER_REQUIRED", "INVALID_USER"):
        raise AuthError(f"Reddit refused the account: {message}")
    raise PermanentError(f"Reddit refused the post: {message} ({code})")


def _code_and_message(error: Any) -> tuple[str, str]:
    if isinstance(error, list | tuple) and error:
        code = str(error[0])
        message = str(error[1]) if len(error) > 1 and error[1] else code
        return code, message
    return "UNKNOWN", str(error)


def _rate_limit_seconds(body: dict[str, Any], message: str) -> float | None:
    """How long Reddit wants us to wait: its ``ratelimit`` seconds when sent, else read from the message."""
    seconds = body.get("ratelimit")
    if isinstance(seconds, int | float) and not isinstance(seconds, bool) and seconds >= 0:
        return float(seconds)
    match = _WAIT.search(message)
    if match is None:
        return None
    return float(int(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()])


def find(post: Post, account: Account, platform: Platform) -> Published | None:
    """The partner's submission that links to ``post.link`` (unique per partner and asset) among their
    latest 100, or None. Raises TransientError, AuthError or PermanentError. Read-only."""
    # raw_json=1: without it Reddit HTML-escapes "&" in the URLs it returns, and no link would compare equal.
    listing = call(
        "GET",
        platform.api(f"/user/{account.handle}/submitted"),
        token=account.access_token,
        headers=_headers(),
        params={"limit": str(FIND_LIMIT), "sort": "new", "raw_json": "1"},
    )
    children = (listing.get("data") or {}).get("children") if isinstance(listing, dict) else None
    if not isinstance(children, list):
        raise PermanentError("Reddit's list of submissions was not readable")
    for child in children:
        data = child.get("data") if isinstance(child, dict) else None
        if isinstance(data, dict) and data.get("url") == post.link and data.get("name"):
            return Published(str(data["name"]), WEB_URL + str(data.get("permalink") or ""))
    return None

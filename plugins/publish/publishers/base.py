"""What every publisher shares: the post to make, the account to make it on, what comes back, the three
ways a post can fail, and one HTTP call that sorts a platform's answers into them.

A publisher (``publishers/<platform>.py``) exposes ``identify(platform, access_token) -> (external id,
handle)``, ``publish(post, account, platform) -> Published`` and ``find(post, account, platform) ->
Published | None`` (the post made earlier for this assignment, for the reconciliation after a worker died
mid-post; None when there is none), and where the platform needs them ``finish_token`` and ``refresh``
(Instagram's long-lived tokens) or ``list_targets`` (Pinterest's boards). ``find`` raises ``CannotFind``
on a platform whose API cannot look a post up: the assignment then waits for an admin.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import requests

log = logging.getLogger(__name__)

#: Seconds to wait for a platform's answer (uploads use their own, longer, timeout).
TIMEOUT = 30


@dataclass(frozen=True)
class Post:
    """One assignment as a platform post: its text already carries the partner's short link and #ad."""

    assignment_id: int
    title: str
    #: Description or caption: the asset's text, the call to action, the short link, the hashtags, #ad.
    text: str
    #: The partner's tracked short link (``PUBLIC_BASE_URL/l/<code>``): what a link post points to.
    link: str
    #: Hashtags without their ``#`` (YouTube tags), ``ad`` included.
    tags: tuple[str, ...]
    #: A marker unique to this assignment, put in the post where the platform allows (YouTube tags).
    marker: str
    #: The ingested video (None: a link-only asset), its type and size, and a public URL to it that a
    #: platform fetching media itself can read (Instagram).
    media_path: Path | None = None
    media_type: str | None = None
    media_size: int | None = None
    media_url: str | None = None
    #: A still of the video and its public URL (Pinterest needs a cover).
    cover_path: Path | None = None
    cover_url: str | None = None
    #: Subreddit (Reddit) or board id (Pinterest); None: the platform's default for the account.
    target: str | None = None


@dataclass(frozen=True)
class Account:
    """The partner's account, with a valid access token (refreshed before the call when it was due)."""

    platform: str
    access_token: str
    external_id: str
    handle: str


@dataclass(frozen=True)
class Published:
    """The post on the platform."""

    external_id: str
    url: str


class PublishError(Exception):
    """A post that did not happen; ``message`` is shown to the partner and the admin."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message[:1000]


class TransientError(PublishError):
    """Try again later: rate limited (``retry_after`` seconds, from ``Retry-After``), the platform down,
    a timeout. ``maybe_posted``: the request that creates the post may have reached the platform (a
    timeout or a 5xx on it): look the post up before trying again."""

    def __init__(self, message: str, *, retry_after: float | None = None, maybe_posted: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.maybe_posted = maybe_posted


class AuthError(PublishError):
    """The platform refused the account's token (401, 403 on the token): the partner must reconnect."""


class PermanentError(PublishError):
    """The platform refused the post itself (a 4xx that retrying cannot fix): the assignment fails."""


class CannotFind(PublishError):
    """This platform's API cannot look a post up: an admin must check by hand."""


def retry_after_seconds(response: requests.Response) -> float | None:
    """``Retry-After`` as seconds (a number, or an HTTP date), or None."""
    raw = response.headers.get("Retry-After", "").strip()
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        from datetime import UTC, datetime

        return max(0.0, (parsedate_to_datetime(raw) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


def error_text(response: requests.Response) -> str:
    """The platform's own words for a refusal, short."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason or str(response.status_code)
    if isinstance(body, dict):
        for key in ("message", "error_description", "error", "explanation"):
            value = body.get(key)
            if isinstance(value, dict):
                value = value.get("message") or value
            if value:
                return str(value)[:300]
    return str(body)[:300]


def call(
    method: str,
    url: str,
    *,
    token: str | None = None,
    creates: bool = False,
    timeout: float = TIMEOUT,
    expect_json: bool = True,
    auth_statuses: tuple[int, ...] = (401, 403),
    classify: Callable[[requests.Response], PublishError | None] | None = None,
    **kwargs: Any,
) -> Any:
    """One request to a platform, its answer sorted: the JSON body (or the response when
    ``expect_json`` is False) for a 2xx; TransientError for 429 (with ``Retry-After``), 5xx, timeouts and
    connection errors; AuthError for ``auth_statuses`` (a platform whose 403 means "not allowed there"
    rather than "bad token" passes ``(401,)``); PermanentError for other 4xx and for a 2xx whose body is
    not the JSON promised. ``classify`` sees an error answer first and may name its error from the body
    (Google's quota reasons, the Graph API's error codes); None leaves it to the rules above.
    ``creates`` marks the request that makes the post: its timeouts, 5xx and unreadable answers are
    ``maybe_posted`` (never retried blindly). Tokens are never logged."""
    headers = dict(kwargs.pop("headers", None) or {})
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    response = _request(method, url, creates=creates, timeout=timeout, headers=headers, **kwargs)
    if response.status_code >= 400:
        raise _refusal(response, creates=creates, auth_statuses=auth_statuses, classify=classify)
    if not expect_json:
        return response
    try:
        return response.json()
    except ValueError:
        if creates:
            raise TransientError("the platform's answer was not readable", maybe_posted=True) from None
        raise PermanentError("the platform's answer was not readable (not JSON)") from None


def _request(method: str, url: str, *, creates: bool, timeout: float, **kwargs: Any) -> requests.Response:
    """The platform's answer, whatever its status. Raises TransientError when there is none."""
    try:
        return requests.request(method, url, timeout=timeout, **kwargs)
    except requests.Timeout:
        raise TransientError("the platform did not answer in time", maybe_posted=creates) from None
    except requests.RequestException as error:
        # A connection that never opened sent nothing: the post cannot exist.
        maybe = creates and not isinstance(error, requests.ConnectionError)
        message = f"the platform is unreachable ({type(error).__name__})"
        raise TransientError(message, maybe_posted=maybe) from None


def _refusal(
    response: requests.Response,
    *,
    creates: bool,
    auth_statuses: tuple[int, ...],
    classify: Callable[[requests.Response], PublishError | None] | None,
) -> PublishError:
    """The error an answer of 400 or more stands for, by ``call``'s rules."""
    named = classify(response) if classify is not None else None
    if named is not None:
        return named
    status = response.status_code
    if status == 429:
        return TransientError("rate limited by the platform", retry_after=retry_after_seconds(response))
    if status >= 500:
        return TransientError(f"the platform answered {status}", maybe_posted=creates)
    if status in auth_statuses:
        return AuthError(f"the platform refused the account's authorization: {error_text(response)}")
    return PermanentError(f"the platform refused the post ({status}): {error_text(response)}")

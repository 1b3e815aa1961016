"""What every step of a postback passes along: the attempt as the view read it, the network facts it is
checked against, and what became of it (an outcome, or a refusal).

Fields are text: the view refuses a NUL byte, invalid UTF-8 or a lone surrogate anywhere (400
``bad_encoding``, ``has_bad_text``) and logs the attempt with such characters replaced by U+FFFD
(``clean_text``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Protocol

from contentflow.errors import DomainError
from contentflow.security import hash_ip

#: Why a request could not be read (``Attempt.body_error``).
UNREADABLE = {
    "bad_body": "The body is neither form data nor a JSON object of strings and numbers (16 KiB at most).",
    "bad_encoding": "A field holds a NUL byte, invalid UTF-8 or a lone surrogate.",
}
#: What text cannot carry into the database or the log: NUL, and lone surrogates (from JSON escapes).
BAD_TEXT = re.compile("[\x00\ud800-\udfff]")


class NetworkFacts(Protocol):
    """What authentication and validation read of a network: a ``Network`` row or a process's snapshot
    of one (``services.postback_cache``)."""

    id: int
    is_active: bool
    allowed_ips: str | None
    secret: str
    previous_secret: str | None
    previous_secret_expires_at: datetime | None
    max_amount_cents: int


@dataclass(frozen=True)
class Attempt:
    """What the view read from the request: the fields, the credentials and where it came from."""

    fields: Mapping[str, str]
    #: The ``X-Signature`` header ("" when absent).
    signature: str
    #: What the signature covers: the raw query string (GET) or the raw body (POST).
    signed_payload: bytes
    ip: str
    #: Set when the request could not be read: ``bad_body`` (too big, not JSON or form data, not an object
    #: of strings and numbers) or ``bad_encoding`` (NUL, invalid UTF-8, lone surrogate): a 400.
    body_error: str = ""

    @cached_property
    def ip_hash(self) -> str:
        """The keyed hash of ``ip`` (computed once: the log and the rate limit both need it)."""
        return hash_ip(self.ip)


@dataclass(frozen=True)
class Outcome:
    """What became of an authenticated postback: accepted, duplicate, ignored or review."""

    outcome: str
    reason: str
    conversion_id: int


class PostbackRefused(DomainError):
    """Refused before anything is written but the log line: 403 (who is asking) or 400 (what it says).

    ``code`` is the logged reason; the message is plain English, for the network's integrator."""

    def __init__(self, status: int, code: str, message: str, network_id: int | None = None) -> None:
        super().__init__(message, code=code)
        self.status = status
        self.network_id = network_id


def rate_limited() -> PostbackRefused:
    """The refusal of every postback from a (network, IP) pair that was refused too often lately (429,
    ``services.postback_limits``), for the caller to raise or answer. Raises nothing; pure."""
    return PostbackRefused(429, "rate_limited", "Too many refused postbacks from this address: retry later.")


def has_bad_text(value: str) -> bool:
    """Whether ``value`` holds a NUL or a lone surrogate, which no text column can store. Raises nothing;
    pure."""
    return BAD_TEXT.search(value) is not None


def clean_text(value: str) -> str:
    """``value`` with every NUL and lone surrogate replaced by U+FFFD (for the log of a refusal). Raises
    nothing; pure."""
    return BAD_TEXT.sub("\ufffd", value)

"""The postback log: one line per attempt, refusals included, written by both paths (the fast path's
statement takes its columns from ``log_values``). ``LOGGED_FIELDS`` only, each cut to 128 characters
with NULs and lone surrogates replaced; ``token`` and the signature never.
"""

from __future__ import annotations

from sqlalchemy import select

from contentflow.extensions import db
from contentflow.models import PostbackLog
from contentflow.services.postbacks.attempts import Attempt, PostbackRefused, clean_text
from contentflow.services.postbacks.sales import MAX_TXN_ID_LENGTH

#: The fields kept in the postback log; ``token`` and the signature never are.
LOGGED_FIELDS = ("network", "txn_id", "subid", "amount", "currency", "status")


def log_attempt(
    attempt: Attempt,
    outcome: str,
    reason: str,
    status: int,
    network_id: int | None,
    conversion_id: int | None,
) -> None:
    """Add the log line of ``attempt`` to the session (the caller commits). Raises nothing of its own.
    Not idempotent: each call is one more line."""
    db.session.add(PostbackLog(**log_values(attempt, outcome, reason, status, network_id, conversion_id)))


def log_values(
    attempt: Attempt,
    outcome: str,
    reason: str,
    status: int,
    network_id: int | None,
    conversion_id: int | None,
) -> dict:
    """The columns of the log line of ``attempt`` (both paths write exactly these). Writes nothing;
    idempotent."""
    return {
        "network_name": clean_text(attempt.fields.get("network", ""))[:64],
        "network_id": network_id,
        "txn_id": clean_text(attempt.fields.get("txn_id", ""))[:MAX_TXN_ID_LENGTH],
        "conversion_id": conversion_id,
        "outcome": outcome,
        "reason": reason[:64],
        "http_status": status,
        "params": sanitized_params(attempt),
        "ip_hash": attempt.ip_hash,
    }


def sanitized_params(attempt: Attempt) -> dict[str, str]:
    """The known fields, each cut to 128 characters, and how the request authenticated; never a secret.
    Raises nothing; pure."""
    fields = attempt.fields
    params = {key: clean_text(fields[key])[:128] for key in LOGGED_FIELDS if key in fields}
    params["auth"] = "signature" if attempt.signature else "token" if fields.get("token") else "none"
    return params


def log_refusal(attempt: Attempt, refusal: PostbackRefused) -> None:
    """The log line of a refused postback, in its own (small) transaction that the caller commits.
    Raises nothing of its own. Not idempotent: each call is one more line."""
    log_attempt(attempt, "rejected", refusal.code, refusal.status, refusal.network_id, None)


def recent_log(outcome: str | None = None, limit: int = 100) -> list[PostbackLog]:
    """The latest log lines, newest first, optionally of one outcome. Reads only; raises nothing."""
    query = select(PostbackLog).order_by(PostbackLog.id.desc()).limit(limit)
    if outcome:
        query = query.where(PostbackLog.outcome == outcome)
    return list(db.session.scalars(query))

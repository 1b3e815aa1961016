"""The audit-log service: every admin action (and operator CLI change) goes through ``record``."""

from __future__ import annotations

from typing import Any

from contentflow.extensions import db
from contentflow.models import AdminUser, AuditLog


def record(
    action: str,
    *,
    admin: AdminUser | None = None,
    actor: str | None = None,
    target_type: str = "",
    target_id: str | int = "",
    details: dict[str, Any] | None = None,
    ip_hash: str | None = None,
) -> AuditLog:
    """Append one audit entry in the current transaction (it commits or rolls back with the action)."""
    entry = AuditLog(
        admin_user_id=admin.id if admin else None,
        actor=actor or (f"admin:{admin.email}" if admin else "system"),
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        details=details or {},
        ip_hash=ip_hash,
    )
    db.session.add(entry)
    db.session.flush()
    return entry


def record_change(
    action: str, *, admin: AdminUser | None = None, actor: str | None = None, **fields: Any
) -> AuditLog | None:
    """``record`` for a service that may be called by an admin, by an operator (``actor``, e.g. ``cli``)
    or by the code itself (demo data, a test's set-up): only people's changes are recorded."""
    if admin is None and actor is None:
        return None
    return record(action, admin=admin, actor=actor, **fields)

"""Assignments (an asset to post for a partner on a platform): the core's door to whoever publishes.

The core owns the table; the publish plugin owns accounts and posting. Another plugin (BYOP's "publish on
my accounts") asks for an assignment through ``create_for``, which the publish plugin answers through the
``assignments.create_for`` hook: with publish off nobody answers and ``can_create()`` is False.
"""

from __future__ import annotations

from dataclasses import dataclass

from contentflow.extension_points import CREATE_ASSIGNMENT

#: Why no assignment was made (the seed's reasons, plus the one of a core without a publisher).
SKIP_REASONS = ("no_connected_account", "already_assigned", "account_reconnect_needed", "publish_unavailable")


@dataclass(frozen=True)
class AssignmentOutcome:
    """An assignment made (``assignment_id``) or skipped (``reason``, one of ``SKIP_REASONS``)."""

    platform: str
    assignment_id: int | None = None
    reason: str | None = None

    @property
    def is_created(self) -> bool:
        return self.assignment_id is not None


def can_create() -> bool:
    """Whether an enabled plugin makes assignments (the publish plugin is on)."""
    return CREATE_ASSIGNMENT.is_answered()


def create_for(partner_id: str, asset_id: str, platform: str, *, approved: bool) -> AssignmentOutcome:
    """An assignment of ``asset_id`` to ``partner_id`` on ``platform`` (approved at once, or pending the
    partner's review), made by the publishing plugin in the caller's transaction, or the reason it was
    skipped. Never two live ones for the same asset, partner and platform (a unique index). With no
    publisher: skipped as ``publish_unavailable``."""
    outcome = CREATE_ASSIGNMENT(partner_id, asset_id, platform, approved=approved)
    return outcome if outcome is not None else AssignmentOutcome(platform, reason="publish_unavailable")

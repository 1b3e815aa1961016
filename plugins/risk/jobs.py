"""The risk plugin's jobs, one per rule, on the ``periodic`` queue: ``sweep_velocity`` (every minute),
``sweep_shared_ips`` (every 5 minutes), ``sweep_fast_conversions`` (every 15 minutes).

Each counts what is already in the database (clicks reach it through ``flush_clicks``) and holds every
partner it catches, one commit per partner. ``now`` (ISO 8601) is for tests and replays. Idempotent: a
second run at the same moment places no second hold.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from contentflow.errors import DomainError
from contentflow.extensions import db
from contentflow.models.base import utcnow
from contentflow.plugin import plugin_job
from plugins.risk.services import rules

log = logging.getLogger(__name__)


def _sweep(name: str, find: Callable[..., list[rules.Finding]], now: str | None) -> str:
    moment = datetime.fromisoformat(now) if now else utcnow()
    findings = find(now=moment)
    placed = 0
    for finding in findings:
        try:
            placed += rules.hold_for(finding, now=moment)
            db.session.commit()
        except DomainError as error:  # e.g. the partner was deleted meanwhile: the others go on
            db.session.rollback()
            log.warning("%s: no hold for partner %s: %s", name, finding.partner_id, error.message)
    return f"{name}: {len(findings)} partner(s) caught, {placed} newly held"


@plugin_job("risk", "periodic")
def sweep_velocity(now: str | None = None) -> str:
    """Hold the partners with at least ``RISK_VELOCITY_MAX_CLICKS_10M`` clicks in the last 10 minutes."""
    return _sweep("sweep_velocity", rules.velocity_findings, now)


@plugin_job("risk", "periodic")
def sweep_shared_ips(now: str | None = None) -> str:
    """Hold the partners whose links one visitor IP clicked along with too many other partners'."""
    return _sweep("sweep_shared_ips", rules.shared_ip_findings, now)


@plugin_job("risk", "periodic")
def sweep_fast_conversions(now: str | None = None) -> str:
    """Hold the partners with too many sales reported too soon after their click to be human."""
    return _sweep("sweep_fast_conversions", rules.fast_conversion_findings, now)


JOBS = (sweep_velocity, sweep_shared_ips, sweep_fast_conversions)

"""The publish plugin's job: ``publish_due``, every minute on the ``publish`` queue."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime

from contentflow.extensions import db
from contentflow.models.base import utcnow
from contentflow.plugin import plugin_job
from plugins.publish.services import posting

log = logging.getLogger(__name__)


@plugin_job("publish", "publish", timeout=1800)
def publish_due(now: str | None = None) -> str:
    """Reconcile posts left behind by dead workers, then post the approved assignments that are due
    (caps, intervals and holds honoured), one commit per step. ``now`` (ISO 8601) is for tests and
    replays. Idempotent: each assignment is claimed once; running twice at once posts each once."""
    moment = datetime.fromisoformat(now) if now else utcnow()
    outcomes: Counter[str] = Counter()
    settled = posting.settle_unpostable(now=moment)
    db.session.commit()
    outcomes.update(posting.reconcile_stuck(now=moment))
    passed: set[int] = set()
    for _ in range(posting.MAX_POSTS_PER_RUN):
        claimed = posting.claim_next(now=moment, passed=passed)
        db.session.commit()  # the claim (or the new planned times) is visible before anything is sent
        if claimed is None:
            break
        try:
            prepared = posting.prepare(claimed, now=moment)
            db.session.commit()  # a refreshed token is kept even if this worker dies during the post
            if isinstance(prepared, str):
                outcomes[prepared] += 1
                continue
            outcomes[posting.send(prepared, now=moment)] += 1
        except Exception:
            # A bug, not a platform answer: the assignment stays "posting" and the reconciliation looks
            # for its post after the timeout; the other assignments go on.
            db.session.rollback()
            log.exception("posting assignment %d failed unexpectedly", claimed.assignment_id)
            outcomes["error"] += 1
        db.session.commit()
    summary = ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items())) or "nothing due"
    return f"publish_due: {summary}" + (f"; {settled} unpostable settled" if settled else "")

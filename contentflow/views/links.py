"""``GET /l/<code>``: the tracked redirect (hot path, measured in ``bench/redirect.py``).

Normally one Redis round trip resolves the code (cached) and records the click; the answer is a 302 to
the offer URL from the database. Unknown or unservable links answer the 404 page, never a redirect
elsewhere: nothing in the request chooses the destination.
"""

from __future__ import annotations

from flask import Blueprint, abort, redirect, request

from contentflow.extensions import db, limiter
from contentflow.services import clicks, links

bp = Blueprint("links", __name__)
bp.record_once(lambda state: clicks.init_app(state.app))


@bp.get("/l/<code>", merge_slashes=False)  # "/l//evil" is a 404, not a redirect to /l/evil
@limiter.exempt
def follow(code: str):
    """Record a click and send the visitor to the offer; HEAD is answered too (not billable)."""
    visit = clicks.new_visit(
        ip=request.remote_addr or "",
        user_agent=request.headers.get("User-Agent", ""),
        referrer=request.headers.get("Referer", ""),
        is_head=request.method == "HEAD",
    )
    partner_id = request.args.get("pid")
    if partner_id is None:
        capture = clicks.capture_by_code(code, visit)
    else:  # the seeds' /l/<asset_id>?pid=<partner_id>, which may create the partner's link
        target = links.resolve_asset_link(code, partner_id)
        db.session.commit()
        capture = clicks.capture_for_target(target, visit) if target is not None else None
    if capture is None:
        abort(404)
    if capture.is_in_session:
        db.session.commit()
    return redirect(links.destination_url(capture.target, visit.id), 302)

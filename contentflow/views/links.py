"""``GET /l/<code>``: the tracked redirect (hot path, measured in ``bench/redirect.py``).

Normally one Redis round trip resolves the code (cached) and records the click; the answer is a 302 to
the offer URL from the database. Unknown or unservable links answer the 404 page (410 Gone when the
asset was quarantined), never a redirect elsewhere: nothing in the request chooses the destination.
"""

from __future__ import annotations

import logging
import re

from flask import Blueprint, Flask, abort, redirect, request

from contentflow.extensions import db, limiter
from contentflow.services import clicks, links

bp = Blueprint("links", __name__)
log = logging.getLogger(__name__)
bp.record_once(lambda state: clicks.init_app(state.app))


@bp.get("/l/<code>", merge_slashes=False)  # "/l//evil" is a 404, not a redirect to /l/evil
@limiter.exempt
def follow(code: str):
    """Record a click and send the visitor to the offer; HEAD is answered too (not billable).

    Most visits never get here: ``FastRedirect`` answers them below Flask's request handling. This view
    serves the seeds' ``?pid=`` form and renders the 404 page (410 for a quarantined asset)."""
    visit = clicks.new_visit(
        ip=request.remote_addr or "",
        user_agent=request.headers.get("User-Agent", ""),
        referrer=request.headers.get("Referer", ""),
        is_head=request.method == "HEAD",
    )
    partner_id = request.args.get("pid")
    if partner_id is None:
        location = follow_code(code, visit)
    else:  # the seeds' /l/<asset_id>?pid=<partner_id>, which may create the partner's link
        target = links.resolve_asset_link(code, partner_id)
        db.session.commit()
        capture = clicks.capture_for_target(target, visit) if target is not None else None
        location = finish_capture(capture, visit)
    if location is None:
        abort(410 if is_taken_down(code, is_asset_id=partner_id is not None) else 404)
    return redirect(location, 302)


def is_taken_down(code: str, *, is_asset_id: bool) -> bool:
    """Whether the missed link (or the seeds' asset id) belongs to a quarantined asset: one query, on the
    miss path only, where the answer is not a redirect."""
    return links.is_quarantined_asset(code) if is_asset_id else links.is_quarantined_link(code)


def follow_code(code: str, visit: clicks.Visit) -> str | None:
    """Capture ``visit`` of ``/l/<code>``; the offer URL to send it to, or None (404, nothing recorded)."""
    return finish_capture(clicks.capture_by_code(code, visit), visit)


def finish_capture(capture: clicks.Capture | None, visit: clicks.Visit) -> str | None:
    if capture is None:
        return None
    if capture.is_in_session:  # Redis was unreachable: the click was inserted in this transaction
        db.session.commit()
    return links.destination_url(capture.target, visit.id)


class FastRedirect:
    """WSGI middleware serving ``GET|HEAD /l/<code>`` without Flask's request handling.

    The redirect is the hottest path and app-wide hooks cost more than the redirect itself (rate-limit
    check, security headers, session cookie, CSRF, request id: ~250 µs a request, measured in
    ``bench/redirect.py``); none of them matters for an empty 302. The capture is the same service code
    as in the view, in an app context. Everything else, a 404 and any failure before an answer is
    chosen go on to the Flask app, which renders its pages. ProxyFix wraps this middleware, so
    ``REMOTE_ADDR`` honours ``TRUSTED_PROXY_HOPS``."""

    PATH = re.compile(r"/l/([A-Za-z0-9_-]{1,24})")

    def __init__(self, app: Flask, wsgi_app) -> None:
        self.app = app
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        method = environ.get("REQUEST_METHOD")
        match = self.PATH.fullmatch(environ.get("PATH_INFO", ""))
        if match is None or method not in ("GET", "HEAD") or "pid=" in environ.get("QUERY_STRING", ""):
            return self.wsgi_app(environ, start_response)
        try:
            with self.app.app_context():
                visit = clicks.new_visit(
                    ip=environ.get("REMOTE_ADDR", ""),
                    user_agent=environ.get("HTTP_USER_AGENT", ""),
                    referrer=environ.get("HTTP_REFERER", ""),
                    is_head=method == "HEAD",
                )
                location = follow_code(match[1], visit)
        except Exception:  # nothing was recorded (the capture raises before it records): Flask answers
            log.exception("fast redirect failed; the app answers instead")
            location = None
        if location is None:
            return self.wsgi_app(environ, start_response)
        start_response(
            "302 Found",
            [
                ("Location", location),
                ("Content-Length", "0"),
                ("Cache-Control", "no-store"),
                ("Referrer-Policy", "no-referrer"),
            ],
        )
        return [b""]

"""``GET /l/<code>``: the tracked redirect (hot path, measured in ``bench/redirect.py``).

Normally the link comes from the process's cache and the click goes to the Redis stream in one round
trip (``services.click_capture``); the answer is a 302 to the offer URL from the database. Unknown or
unservable links answer the 404 page (410 Gone when the asset was quarantined), never a redirect
elsewhere: nothing in the request chooses the destination. A code, asset id or partner id that cannot
be one (a NUL byte, invalid UTF-8, a huge value) is a 404 before any lookup.
"""

from __future__ import annotations

import logging
import re

from flask import Blueprint, Flask, abort, redirect, request

from contentflow.extensions import db, limiter
from contentflow.services import click_capture, clicks, links
from contentflow.views.errors import unavailable_message

bp = Blueprint("links", __name__)
log = logging.getLogger(__name__)
bp.record_once(lambda state: click_capture.init_app(state.app))

#: Where ``FastRedirect`` leaves the visit it made before handing the request on, so the app records
#: the same click id (a click the middleware may have stored is then not stored twice).
VISIT_ENVIRON_KEY = "contentflow.visit"


@bp.get("/l/<code>", merge_slashes=False)  # "/l//evil" is a 404, not a redirect to /l/evil
@limiter.exempt
def follow(code: str):
    """Record a click and send the visitor to the offer; HEAD is answered too (not billable).

    Most visits never get here: ``FastRedirect`` answers them below Flask's request handling. This view
    serves the seeds' ``?pid=`` form and renders the 404 page (410 for a quarantined asset), or 503
    when neither Redis nor the database takes the click."""
    partner_id = request.args.get("pid")
    if not links.is_well_formed(code) or not (partner_id is None or links.is_well_formed(partner_id)):
        abort(404)
    visit = request.environ.get(VISIT_ENVIRON_KEY) or new_visit(click_capture.capture_of(), request.environ)
    try:
        if partner_id is None:
            target = click_capture.capture_by_code(code, visit)
        else:  # the seeds' /l/<asset_id>?pid=<partner_id>, which may create the partner's link
            target = links.resolve_asset_link(code, partner_id)
            db.session.commit()
            if target is not None:
                click_capture.capture_of().record(target, visit)
    except click_capture.CaptureFailed as failure:
        log.error("click not recorded: %s", failure)
        abort(503, unavailable_message())
    if target is None:
        abort(410 if is_taken_down(code, is_asset_id=partner_id is not None) else 404)
    return redirect(links.destination_url(target, visit.id), 302)


def new_visit(capture: click_capture.ClickCapture, environ: dict) -> clicks.Visit:
    """The visit a request makes (the client address as ProxyFix left it)."""
    return capture.new_visit(
        ip=environ.get("REMOTE_ADDR") or "",
        user_agent=environ.get("HTTP_USER_AGENT", ""),
        referrer=environ.get("HTTP_REFERER", ""),
        is_head=environ.get("REQUEST_METHOD") == "HEAD",
    )


def is_taken_down(code: str, *, is_asset_id: bool) -> bool:
    """Whether the missed link (or the seeds' asset id) belongs to a quarantined asset: one query, on the
    miss path only, where the answer is not a redirect."""
    return links.is_quarantined_asset(code) if is_asset_id else links.is_quarantined_link(code)


class FastRedirect:
    """WSGI middleware serving ``GET|HEAD /l/<code>`` without Flask's request handling.

    The redirect is the hottest path and app-wide hooks cost more than the redirect itself (rate-limit
    check, security headers, session cookie, CSRF, request id: ~250 µs a request, measured in
    ``bench/redirect.py``); none of them matters for an empty 302. A link in the process's cache is
    served without even an app context; a cache miss, or Redis not answering, takes the same service
    code as the view, in an app context. Everything else, a 404 and any failure before an answer is
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
        location = None
        try:
            capture = click_capture.capture_of(self.app)
            visit = environ[VISIT_ENVIRON_KEY] = new_visit(capture, environ)
            location = capture.follow_cached(match[1], visit)
            if location is None:
                with self.app.app_context():
                    target = click_capture.capture_by_code(match[1], visit)
                location = None if target is None else links.destination_url(target, visit.id)
        except click_capture.CaptureFailed:
            pass  # neither Redis nor the database: the app tries once more, then answers 503
        except Exception:  # the app answers, with the same visit: its click is recorded at most once
            log.exception("fast redirect failed; the app answers instead")
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

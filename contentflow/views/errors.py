"""How errors become HTTP answers: a page in the site layout, an htmx alert partial, or JSON; outages
answer 503."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, make_response, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from markupsafe import escape
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from contentflow.auth import forget_user_for_this_request
from contentflow.errors import DomainError
from contentflow.extensions import db

log = logging.getLogger(__name__)


def wants_json() -> bool:
    """Whether the client prefers JSON to HTML (``Accept``)."""
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return (
        best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
    )


def error_response(status: int, code: str, message: str) -> Response:
    """JSON ``{ok, error, message}``, the alert partial for htmx, or the error page in the site layout."""
    if wants_json():
        response = jsonify({"ok": False, "error": code, "message": message})
    elif request.headers.get("HX-Request") == "true":
        response = make_response(render_template("errors/_alert.html", message=message, status=status))
    else:
        response = make_response(render_template("errors/error.html", status=status, message=message))
    response.status_code = status
    response.vary.update(("Accept", "HX-Request"))
    return response


def last_resort_response(status: int, code: str, message: str) -> Response:
    """``error_response``, or a bare page when even that fails: rendering loads the signed-in user, which
    needs the database that may be the very thing that is down."""
    try:
        return error_response(status, code, message)
    except Exception:
        log.exception("error page could not be rendered")
        body = f"<!doctype html><title>{status}</title><p>{escape(message)}</p>"
        return Response(body, status=status, mimetype="text/html")


def discard_transaction() -> None:
    """Roll back what the failed request did, so the error page (which may load the signed-in user)
    runs on a usable session: after a database error PostgreSQL refuses every further statement."""
    try:
        db.session.rollback()
    except Exception:  # the database itself may be what failed; the page must still be answered
        log.warning("rollback after an error failed", exc_info=True)


def unavailable_message() -> str:
    return _("The service is briefly unavailable. Try again in a minute.")


def register_error_handlers(app: Flask) -> None:
    """Domain errors, CSRF failures, HTTP errors, outages (503) and anything unexpected (500)."""

    @app.errorhandler(DomainError)
    def handle_domain_error(error: DomainError):
        return error_response(error.status, error.code, error.message)

    @app.errorhandler(CSRFError)
    def handle_csrf(error: CSRFError):
        return error_response(
            400, "csrf", _("Your form expired or was not sent from this site. Reload the page and try again.")
        )

    @app.errorhandler(HTTPException)
    def handle_http(error: HTTPException):
        messages = {
            403: _("You are not allowed to see this page."),
            404: _("This page does not exist."),
            405: _("This method is not allowed here."),
            410: _("This content was taken down."),
            413: _("The file is too large."),
            429: _("Too many attempts. Wait a little and try again."),
        }
        status = error.code or 500
        return error_response(status, f"http_{status}", messages.get(status, error.description or ""))

    @app.errorhandler(OperationalError)
    def handle_database_down(error: OperationalError):
        # An outage, not a bug: 503 tells load balancers and clients to try again; no stack trace needed.
        log.error("database unavailable: %s", type(error.orig).__name__)
        discard_transaction()
        forget_user_for_this_request()
        return last_resort_response(503, "unavailable", unavailable_message())

    @app.errorhandler(RedisConnectionError)
    @app.errorhandler(RedisTimeoutError)
    def handle_redis_down(error: Exception):
        log.error("redis unavailable: %s", type(error).__name__)
        discard_transaction()
        return last_resort_response(503, "unavailable", unavailable_message())

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception):
        log.exception("unhandled error")
        discard_transaction()
        return last_resort_response(
            500, "internal", _("Something went wrong on our side. Try again in a moment.")
        )

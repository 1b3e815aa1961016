"""Domain errors and how they become HTTP answers: a page, an htmx alert partial, or JSON."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class DomainError(Exception):
    """A rule said no. ``status`` is the HTTP answer, ``code`` a stable machine-readable reason."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class ValidationError(DomainError):
    status = 400
    code = "invalid"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class Gone(DomainError):
    status = 410
    code = "gone"


def wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return (
        best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
    )


def error_response(status: int, code: str, message: str) -> Response | tuple:
    if wants_json():
        return jsonify({"ok": False, "error": code, "message": message}), status
    if request.headers.get("HX-Request") == "true":
        return render_template("errors/_alert.html", message=message, status=status), status
    return render_template("errors/error.html", status=status, message=message), status


def register_error_handlers(app: Flask) -> None:
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
            429: _("Too many attempts. Wait a little and try again."),
        }
        status = error.code or 500
        return error_response(status, f"http_{status}", messages.get(status, error.description or ""))

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception):
        log.exception("unhandled error")
        return error_response(500, "internal", _("Something went wrong on our side. Try again in a moment."))

"""Page-or-partial rendering and redirects htmx can follow; such responses vary on ``HX-Request``."""

from __future__ import annotations

from typing import Any

from flask import Response, make_response, redirect, render_template, request
from flask_htmx.responses import HTMXResponseClientRedirect


def is_htmx_request() -> bool:
    """Any request htmx sent, boosted and history restores included."""
    return request.headers.get("HX-Request") == "true"


def is_partial_request() -> bool:
    """An htmx request that is neither boosted nor a history restore wants only the partial."""
    headers = request.headers
    return (
        is_htmx_request()
        and headers.get("HX-Boosted") != "true"
        and headers.get("HX-History-Restore-Request") != "true"
    )


def render_page_or_partial(page: str, partial: str, status: int = 200, **context: Any) -> Response:
    """Render ``partial`` for htmx, ``page`` (which includes the partial) otherwise."""
    template = partial if is_partial_request() else page
    response = make_response(render_template(template, **context), status)
    response.vary.add("HX-Request")
    return response


def redirect_to(location: str, code: int = 303) -> Response:
    """``HX-Redirect`` for htmx, a plain ``code`` redirect otherwise.

    htmx's XHR would silently follow a 30x and swap the page it lands on into the element that asked.
    """
    response = HTMXResponseClientRedirect(location) if is_htmx_request() else redirect(location, code)
    response.vary.add("HX-Request")
    return response

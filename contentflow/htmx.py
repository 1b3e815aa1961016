"""Page-or-partial rendering: one helper decides, and such responses vary on ``HX-Request``."""

from __future__ import annotations

from typing import Any

from flask import Response, make_response, render_template, request


def is_partial_request() -> bool:
    """An htmx request that is neither boosted nor a history restore wants only the partial."""
    headers = request.headers
    return (
        headers.get("HX-Request") == "true"
        and headers.get("HX-Boosted") != "true"
        and headers.get("HX-History-Restore-Request") != "true"
    )


def render_page_or_partial(page: str, partial: str, status: int = 200, **context: Any) -> Response:
    """Render ``partial`` for htmx, ``page`` (which includes the partial) otherwise."""
    template = partial if is_partial_request() else page
    response = make_response(render_template(template, **context), status)
    response.vary.add("HX-Request")
    return response

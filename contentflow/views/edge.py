"""The edge: input that no view could store or read is refused once, before any view (or another hook)
reads the request, instead of route by route.

- Text: a NUL byte, bytes that are not UTF-8, or a lone surrogate (a JSON escape), in the path, the
  query string, a form body (url-encoded or multipart) or a JSON body, and a NUL byte in a header, is a
  400 ``bad_encoding``. PostgreSQL stores none of them, and Werkzeug would otherwise hand views a silently
  mangled string (``%FF`` kept as literal text, or U+FFFD in multipart fields).
- A JSON body goes only to a view marked ``@reads_json``; anywhere else it is a 415 ``not_a_form``
  (Flask-WTF would otherwise hand it to the page's form, whose fields expect text). For those views it
  must parse and nest at most ``MAX_JSON_DEPTH`` levels (400 ``bad_json``), and stay under
  ``MAX_JSON_BYTES`` (413). A request that sent JSON is refused in JSON.
- ``<int:...>`` in a URL is a row id: a BIGINT. A bigger number matches no route (404) instead of
  reaching the database.

``/aff/postback`` is exempt: it refuses the same input itself, because every attempt, refusals
included, goes to its log. ``FastRedirect`` and ``FastPostback`` answer most of their requests below
Flask, so this hook never sees those.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import unquote_to_bytes

from flask import Flask, Request, Response, current_app, jsonify, request
from flask_babel import gettext as _
from werkzeug.routing import IntegerConverter, Map

from contentflow.views.errors import error_response

#: The largest PostgreSQL BIGINT, the type of every row id.
BIGINT_MAX = 2**63 - 1
#: No JSON body of ours nests deeper; past ~1,000 levels the parser itself gives up.
MAX_JSON_DEPTH = 32
#: No JSON body of ours comes near this (Werkzeug's own cap on a multipart text field).
MAX_JSON_BYTES = 500_000
#: Text PostgreSQL cannot hold: NUL, and lone surrogates (valid in JSON escapes, not in UTF-8).
BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
#: What Werkzeug puts where a multipart field held bytes that are not UTF-8.
REPLACEMENT_CHARACTER = "\ufffd"
#: Endpoints that check their own input (see the module's docstring).
EXEMPT_ENDPOINTS = frozenset({"postback.receive"})
#: Set on a view function by ``reads_json``.
READS_JSON = "contentflow_reads_json"
View = TypeVar("View", bound=Callable[..., Any])


class RowIdConverter(IntegerConverter):
    """``<int:...>``: 0 to ``BIGINT_MAX`` in ASCII digits; anything else matches no route (404)."""

    regex = r"[0-9]{1,19}"  # 19 digits hold every BIGINT; Werkzeug's \d would also take other scripts'

    def __init__(
        self,
        map: Map,
        fixed_digits: int = 0,
        min: int | None = None,
        max: int | None = BIGINT_MAX,
        signed: bool = False,
    ) -> None:
        super().__init__(map, fixed_digits, min, max, signed)


def reads_json(view: View) -> View:
    """Mark ``view`` as one that reads a JSON body itself (put it under the route decorator)."""
    setattr(view, READS_JSON, True)
    return view


def init_app(app: Flask) -> None:
    """Install the row-id converter and the input check. Call it before any blueprint is registered
    (rules take their converter when added) and before any other ``before_request`` hook (hooks run in
    the order they were registered, and this one must run before the rate limiter or the CSRF check
    read the form)."""
    app.url_map.converters["int"] = RowIdConverter
    app.before_request(refuse_bad_input)


def refuse_bad_input() -> Response | None:
    """The ``before_request`` hook: the refusal, or None to let the request through."""
    if request.endpoint in EXEMPT_ENDPOINTS:
        return None
    problem = find_bad_input(request)
    if problem is None:
        return None
    status, message = {
        "bad_encoding": (400, _("The request holds a NUL byte or text that is not valid UTF-8.")),
        "bad_json": (400, _("The request body is not valid JSON, or it is nested too deeply.")),
        "not_a_form": (415, _("This page takes a form, not JSON.")),
        "too_large": (413, _("The request body is too large.")),
    }[problem]
    if not request.is_json:
        return error_response(status, problem, message)
    response = jsonify({"ok": False, "error": problem, "message": message})
    response.status_code = status
    return response


def find_bad_input(req: Request) -> str | None:
    """``bad_encoding``, ``bad_json``, ``not_a_form``, ``too_large`` or None. Reads the body of
    url-encoded forms and JSON (cached for the view: Werkzeug parses the cached copy) and parses
    multipart forms."""
    environ = req.environ
    raw_path = _wsgi_bytes(environ.get("PATH_INFO", ""))
    raw_query = _wsgi_bytes(environ.get("QUERY_STRING", ""))
    if raw_path is None or raw_query is None or not is_clean(raw_path) or not is_clean(raw_query, True):
        return "bad_encoding"
    if any("\x00" in value for key, value in environ.items() if key.startswith("HTTP_")):
        return "bad_encoding"
    if req.mimetype == "application/x-www-form-urlencoded":
        return None if is_clean(req.get_data(cache=True), True) else "bad_encoding"
    if req.mimetype == "multipart/form-data":
        return None if _is_clean_multipart(req) else "bad_encoding"
    if req.is_json and req.endpoint is not None:  # an unknown URL or method is answered 404/405
        if (req.content_length or 0) > MAX_JSON_BYTES:
            return "too_large"
        body = req.get_data(cache=True)
        if not body.strip():
            return None
        if not getattr(current_app.view_functions[req.endpoint], READS_JSON, False):
            return "not_a_form"
        return _json_problem(body)
    return None


def is_clean(raw: bytes, percent_encoded: bool = False) -> bool:
    """Whether ``raw`` (once percent-decoded) is UTF-8 without a NUL byte."""
    if percent_encoded:
        raw = unquote_to_bytes(raw)
    if b"\x00" in raw:
        return False
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _wsgi_bytes(value: str) -> bytes | None:
    """The raw bytes behind a WSGI string (latin-1 by the spec; None when it cannot be one)."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return None


def _is_clean_multipart(req: Request) -> bool:
    texts = [text for pair in req.form.items(multi=True) for text in pair]
    texts += [text for name, upload in req.files.items(multi=True) for text in (name, upload.filename or "")]
    return not any(BAD_TEXT.search(text) or REPLACEMENT_CHARACTER in text for text in texts)


def _json_problem(raw: bytes) -> str | None:
    if len(raw) > MAX_JSON_BYTES:  # sent without a Content-Length
        return "too_large"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "bad_encoding"
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # also a number of more than 4,300 digits
        return "bad_json"
    stack = [(data, 1)]
    while stack:  # a loop, not recursion: depth is what is being checked
        item, depth = stack.pop()
        if isinstance(item, str) and BAD_TEXT.search(item):
            return "bad_encoding"
        if isinstance(item, dict | list) and depth > MAX_JSON_DEPTH:
            return "bad_json"
        if isinstance(item, dict):
            stack.extend((key, depth) for key in item)
            stack.extend((value, depth + 1) for value in item.values())
        elif isinstance(item, list):
            stack.extend((value, depth + 1) for value in item)
    return None

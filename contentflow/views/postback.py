"""``/aff/postback``: networks report sales server to server (hot path).

GET with the fields in the query string, or POST with them as form data or a JSON object. No CSRF: a
network authenticates with its own secret. Answers JSON: 200 ``{ok, outcome, reason}`` for every
authenticated postback (accepted, duplicate, ignored, review), 400/403/429 ``{ok: false, error}``
otherwise. Every attempt is logged, refusals included.

Input is refused at the edge, before anything reads it: a NUL byte, invalid UTF-8 or a lone surrogate
in any field name or value (query, form or JSON) is a 400 ``bad_encoding``; a body over 16 KiB or that
is neither form data nor a JSON object of strings and numbers, a 400 ``bad_body``. A (network, IP) pair
refused too often is answered 429 (``services.postback_limits``).

``FastPostback`` serves the route below Flask's request handling (as ``FastRedirect`` serves ``/l/``):
the app-wide hooks (rate-limit check, security headers, session, CSRF, request id) cost more than a
postback written by the fast path, and a server-to-server JSON answer needs none of them. The view below
answers the same way through Flask, for requests the middleware hands on.
"""

from __future__ import annotations

import io
import json
import logging
from http import HTTPStatus
from urllib.parse import parse_qsl, unquote_plus

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from werkzeug.http import parse_options_header

from contentflow.extensions import csrf, db
from contentflow.services import postback_fast, postbacks
from contentflow.services.postback_limits import limiter_of

bp = Blueprint("postback", __name__)
log = logging.getLogger(__name__)

PATH = "/aff/postback"
#: A postback is a handful of short fields; anything bigger is not one.
MAX_BODY_BYTES = 16 * 1024


@bp.route(PATH, methods=["GET", "POST"])
@csrf.exempt
def receive() -> tuple[Response, int]:
    """A postback that ``FastPostback`` handed on, answered the same way through Flask."""
    body: bytes | None = b""
    if request.method == "POST":
        too_big = (request.content_length or 0) > MAX_BODY_BYTES
        body = None if too_big else request.get_data(cache=True)
        body = body if body is not None and len(body) <= MAX_BODY_BYTES else None
    status, reply = answer(read_attempt(request.environ, body))
    return jsonify(reply), status


def answer(attempt: postbacks.Attempt) -> tuple[int, dict]:
    """Apply ``attempt`` and commit; the HTTP status and the JSON reply."""
    limiter = limiter_of(current_app)
    network_name = attempt.fields.get("network", "")
    if limiter.is_limited(network_name, attempt.ip_hash):
        return refuse(attempt, postbacks.rate_limited())
    try:
        outcome = postback_fast.receive(attempt) if postback_fast.is_enabled(current_app) else None
        if outcome is None:
            outcome = postbacks.receive(attempt)
        if db.session.registry.has():  # the group commit committed the fast path's write already
            db.session.commit()
    except postbacks.PostbackRefused as refusal:
        limiter.count_refusal(network_name, attempt.ip_hash)
        return refuse(attempt, refusal)
    return 200, {"ok": True, "outcome": outcome.outcome, "reason": outcome.reason}


def refuse(attempt: postbacks.Attempt, refusal: postbacks.PostbackRefused) -> tuple[int, dict]:
    """Log the refusal in its own transaction; the status and reply."""
    db.session.rollback()
    postbacks.log_refusal(attempt, refusal)
    db.session.commit()
    # Who is refused for which reason stays in our log: a prober learns nothing about our networks.
    if refusal.status == 403:
        return 403, {"ok": False, "error": "forbidden"}
    return refusal.status, {"ok": False, "error": refusal.code, "message": refusal.message}


def read_attempt(environ: dict, body: bytes | None) -> postbacks.Attempt:
    """The request's fields (first value of each), credentials and client address. ``body`` is the POST
    body, None when it was too big to read."""
    signature = environ.get("HTTP_X_SIGNATURE", "")
    ip = environ.get("REMOTE_ADDR") or "unknown"
    if environ.get("REQUEST_METHOD") == "GET":
        query = environ.get("QUERY_STRING", "").encode("latin-1")
        fields, error = parse_form(query)
        return postbacks.Attempt(fields, signature, query, ip, body_error=error)
    if body is None:
        return postbacks.Attempt({}, signature, b"", ip, body_error="bad_body")
    mimetype = parse_options_header(environ.get("CONTENT_TYPE", ""))[0].lower()
    if mimetype == "application/json" or mimetype.endswith("+json"):
        fields, error = parse_json(body)
    elif mimetype in ("application/x-www-form-urlencoded", ""):
        fields, error = parse_form(body)
    else:
        fields, error = {}, "bad_body"
    return postbacks.Attempt(fields, signature, body, ip, body_error=error)


def parse_form(raw: bytes) -> tuple[dict[str, str], str]:
    """Form-encoded fields (a query string or a form body) and "" or the refusal code. Parsed as
    ``urllib.parse.parse_qsl(keep_blank_values=True)`` parses them (as Werkzeug does), but strictly: a
    byte sequence that is not UTF-8, raw or percent-encoded, is ``bad_encoding``."""
    try:
        pairs = [
            (unquote_plus(key, errors="strict"), unquote_plus(value, errors="strict"))
            for key, _, value in (piece.partition("=") for piece in raw.decode().split("&") if piece)
        ]
    except UnicodeDecodeError:
        return _clean(parse_qsl(raw.decode(errors="replace"), keep_blank_values=True)), "bad_encoding"
    return _checked(pairs)


def parse_json(raw: bytes) -> tuple[dict[str, str], str]:
    """A JSON object's fields as strings (numbers keep their exact text, null is "") and "" or the
    refusal code: ``bad_encoding``, or ``bad_body`` when it is not an object of strings, numbers or
    nulls."""
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        return {}, "bad_encoding"
    try:
        data = json.loads(text, parse_float=str, parse_int=str, parse_constant=str)
    except (ValueError, RecursionError):
        return {}, "bad_body"
    if not isinstance(data, dict) or not all(isinstance(v, str | None) for v in data.values()):
        return {}, "bad_body"
    return _checked((key, value or "") for key, value in data.items())


def _checked(pairs) -> tuple[dict[str, str], str]:
    fields: dict[str, str] = {}
    for key, value in pairs:
        fields.setdefault(key, value)
    if postbacks.has_bad_text("".join(fields) + "".join(fields.values())):
        return _clean(fields.items()), "bad_encoding"
    return fields, ""


def _clean(pairs) -> dict[str, str]:
    fields: dict[str, str] = {}
    for key, value in pairs:
        fields.setdefault(postbacks.clean_text(key), postbacks.clean_text(value))
    return fields


class FastPostback:
    """WSGI middleware answering ``GET|POST /aff/postback`` without Flask's request handling (see the
    module's docstring), in an app context, with the same code as the view. Anything else, and a
    failure before an answer is chosen, go on to the Flask app (whose view answers the same postback;
    a replay of what was maybe written changes nothing). ProxyFix wraps this middleware, so
    ``REMOTE_ADDR`` honours ``TRUSTED_PROXY_HOPS``."""

    def __init__(self, app: Flask, wsgi_app) -> None:
        self.app = app
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        method = environ.get("REQUEST_METHOD")
        if environ.get("PATH_INFO") != PATH or method not in ("GET", "POST"):
            return self.wsgi_app(environ, start_response)
        body = read_body(environ) if method == "POST" else b""
        try:
            with self.app.app_context():
                status, reply = answer(read_attempt(environ, body))
                payload = self.app.json.dumps(reply) if self.app.debug else compact_json(reply)
        except Exception:
            log.exception("fast postback failed; the app answers instead")
            return self.wsgi_app(environ, start_response)
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
        start_response(f"{status} {HTTPStatus(status).phrase.upper()}", headers)
        return [payload]


def compact_json(reply: dict) -> bytes:
    """``reply`` as ``jsonify`` writes it outside debug mode (sorted keys, compact, a final newline)."""
    return (json.dumps(reply, sort_keys=True, separators=(",", ":")) + "\n").encode()


def read_body(environ) -> bytes | None:
    """The POST body (None when over ``MAX_BODY_BYTES``); ``wsgi.input`` is replaced by a copy, so the
    Flask app can read it again."""
    try:
        declared = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_BODY_BYTES:
        return None
    stream = environ["wsgi.input"]
    if declared or not environ.get("wsgi.input_terminated"):
        body = stream.read(declared) if declared else b""
    else:  # chunked: read no more than one byte past the limit
        body = stream.read(MAX_BODY_BYTES + 1)
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return body if len(body) <= MAX_BODY_BYTES else None

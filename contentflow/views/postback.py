"""``/aff/postback``: networks report sales server to server (hot path).

GET with the fields in the query string, or POST with them as form data or a JSON object. No CSRF: a
network authenticates with its own secret. Answers JSON: 200 ``{ok, outcome, reason}`` for every
authenticated postback (accepted, duplicate, ignored, review), 400/403 ``{ok: false, error}`` otherwise.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from flask import Blueprint, Response, jsonify, request

from contentflow.extensions import client_ip, csrf, db
from contentflow.services import postbacks

bp = Blueprint("postback", __name__)

#: A postback is a handful of short fields; anything bigger is not one.
MAX_BODY_BYTES = 16 * 1024


@bp.route("/aff/postback", methods=["GET", "POST"])
@csrf.exempt
def receive() -> tuple[Response, int]:
    attempt = read_attempt()
    try:
        result = postbacks.receive(attempt)
    except postbacks.PostbackRefused as refusal:
        db.session.rollback()
        postbacks.log_refusal(attempt, refusal)
        db.session.commit()
        # Who is refused for which reason stays in our log: a prober learns nothing about our networks.
        if refusal.status == 403:
            return jsonify(ok=False, error="forbidden"), 403
        return jsonify(ok=False, error=refusal.code, message=refusal.message), refusal.status
    db.session.commit()
    return jsonify(ok=True, outcome=result.outcome, reason=result.reason), 200


def read_attempt() -> postbacks.Attempt:
    """The request's fields (first value of each), credentials and client address."""
    signature = request.headers.get("X-Signature", "")
    if request.method == "GET":
        fields = {key: request.args[key] for key in request.args}
        return postbacks.Attempt(fields, signature, request.query_string, client_ip())
    if (request.content_length or 0) > MAX_BODY_BYTES:
        return postbacks.Attempt({}, signature, b"", client_ip(), body_error="bad_body")
    body = request.get_data(cache=True)
    fields = parse_body(body, request.mimetype)
    if fields is None:
        return postbacks.Attempt({}, signature, body, client_ip(), body_error="bad_body")
    return postbacks.Attempt(fields, signature, body, client_ip())


def parse_body(body: bytes, mimetype: str) -> dict[str, str] | None:
    """Form-encoded or JSON-object fields as strings (JSON numbers keep their exact text); None when the
    body is neither, or a JSON value is not a string, a number or null."""
    if mimetype == "application/json" or mimetype.endswith("+json"):
        try:
            data = json.loads(body, parse_float=str, parse_int=str, parse_constant=str)
        except (ValueError, RecursionError):
            return None
        if not isinstance(data, dict) or not all(isinstance(v, str | None) for v in data.values()):
            return None
        return {key: value or "" for key, value in data.items()}
    if mimetype in ("application/x-www-form-urlencoded", ""):
        fields: dict[str, str] = {}
        for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
            fields.setdefault(key, value)
        return fields
    return None

"""Development-only pages (never registered in production): the outbox of e-mails not sent.

They answer only on loopback or to a signed-in admin, and are a 404 to anyone else: a development server
reachable from the network must not hand out sign-in links. The address is the one ProxyFix leaves
(``TRUSTED_PROXY_HOPS``), so a spoofed ``X-Forwarded-For`` counts only through a trusted proxy.
"""

from __future__ import annotations

import ipaddress

from flask import Blueprint, abort, render_template, request
from flask_login import current_user

from contentflow.services import mail

bp = Blueprint("dev", __name__, url_prefix="/dev")


def is_loopback(address: str | None) -> bool:
    """Whether ``address`` is 127.0.0.0/8, ``::1`` or an IPv4-mapped loopback; False for anything else."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or bool(mapped and mapped.is_loopback)


@bp.before_request
def only_loopback_or_admins() -> None:
    if not (is_loopback(request.remote_addr) or getattr(current_user, "is_admin", False)):
        abort(404)


@bp.get("/outbox")
def outbox():
    return render_template("dev/outbox.html", messages=mail.dev_outbox())

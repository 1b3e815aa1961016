"""Who may speak for a network: the active network named by ``network=``, from an allowed IP, with its
secret (or the previous one during a rotation, ``offers.accepted_secrets``) as ``token=`` or as the
HMAC-SHA256 key of ``X-Signature``. Secrets are compared in constant time. Every failure is a 403; which
one stays in our log.
"""

from __future__ import annotations

import hashlib
import hmac

from contentflow.models import Network
from contentflow.services import offers
from contentflow.services.postbacks.attempts import Attempt, NetworkFacts, PostbackRefused


def authenticate(attempt: Attempt) -> Network:
    """The active network named by ``network=``, if the request may speak for it: from an allowed IP, with
    its secret (or the previous one during a rotation) as ``token=`` or as the HMAC key of
    ``X-Signature``.

    Raises PostbackRefused (403). Reads only: idempotent."""
    name = attempt.fields.get("network", "").strip()
    network = offers.get_network_by_name(name) if 0 < len(name) <= 64 else None
    if network is None:
        raise PostbackRefused(403, "unknown_network", "Unknown network.")
    check_credentials(attempt, network)
    return network


def check_credentials(attempt: Attempt, network: NetworkFacts) -> None:
    """Whether ``attempt`` may speak for ``network`` (a Network, or a process's snapshot of one).

    Raises PostbackRefused (403: switched off, IP not allowed, no or wrong secret). Writes nothing:
    idempotent."""
    if not network.is_active:
        raise PostbackRefused(403, "network_inactive", "This network is switched off.", network.id)
    if not offers.is_ip_allowed(network, attempt.ip):
        raise PostbackRefused(403, "ip_not_allowed", "Not allowed from this address.", network.id)
    token = attempt.fields.get("token", "").encode()
    if not token and not attempt.signature:
        raise PostbackRefused(403, "missing_secret", "Give token= or an X-Signature header.", network.id)
    for secret in offers.accepted_secrets(network):
        if token and hmac.compare_digest(token, secret.encode()):
            return
        if attempt.signature and signature_matches(attempt.signature, attempt.signed_payload, secret):
            return
    raise PostbackRefused(403, "bad_secret", "Wrong token or signature.", network.id)


def signature_matches(header: str, payload: bytes, secret: str) -> bool:
    """Whether ``header`` is ``sha256=<hex HMAC-SHA256 of payload keyed by secret>`` (constant time).
    Raises nothing; pure."""
    scheme, _, digest = header.strip().partition("=")
    if scheme.lower() != "sha256" or not digest.isascii():
        return False
    expected = hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), digest.strip().lower().encode())

"""Which addresses a source URL may reach: the guard against server-side request forgery.

A source URL comes from an operator or, later, from a partner (BYOP): fetching it must not let anyone
read the internal network through us. The host is resolved once with ``getaddrinfo``; every address it
resolves to is checked, and the download then connects to a checked address itself (never to the name
again), so DNS rebinding (a first answer public, a second private) cannot slip through.

Refused unless ``INGEST_ALLOW_PRIVATE_HOSTS`` (tests serve videos from 127.0.0.1): private, loopback,
link-local, multicast, reserved, unspecified and shared (100.64.0.0/10, carrier-grade NAT) addresses,
and their IPv6 counterparts; in short every address that is not globally reachable.

Always refused, whatever the setting says: the cloud metadata services (``METADATA_ADDRESSES``). They
hand the machine's cloud credentials to any local client that asks, so a URL reaching them turns a
video import into a stolen account; no test or deployment needs to fetch a video from them.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from contentflow.services.ingestion.errors import IngestRefused

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

#: AWS, GCP, Azure, OpenStack and Oracle (169.254.169.254), AWS over IPv6 (fd00:ec2::254), Alibaba
#: Cloud (100.100.100.200).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(address) for address in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")
DEFAULT_PORTS = {"http": 80, "https": 443}
#: What stays as it is in a request line's path and query: RFC 3986's reserved characters and ``%``
#: (an already-encoded URL is not encoded twice); anything else (spaces, non-ASCII) is percent-encoded.
URL_SAFE = "/?#[]@!$&'()*+,;=:%~"


@dataclass(frozen=True)
class Target:
    """One request to make: the checked addresses to connect to, and the name they stand for."""

    scheme: str
    host: str
    port: int
    #: The checked IP addresses of ``host``, tried in order until one accepts the connection.
    addresses: tuple[str, ...]
    #: Path and query, as sent in the request line.
    path: str

    @property
    def host_header(self) -> str:
        """``Host``: the name (IPv6 literals in brackets), with the port when it is not the default."""
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == DEFAULT_PORTS[self.scheme] else f"{name}:{self.port}"


def refusal(address: Address, *, allow_private: bool) -> str | None:
    """Why ``address`` may not be reached, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1
    if address in METADATA_ADDRESSES:
        return f"{address} is a cloud metadata address"
    if allow_private:
        return None
    is_internal = (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or (isinstance(address, ipaddress.IPv4Address) and address in SHARED_ADDRESS_SPACE)
        or (isinstance(address, ipaddress.IPv6Address) and address.is_site_local)
        or not address.is_global
    )
    return f"{address} is a private or reserved address" if is_internal else None


def resolve(host: str, port: int, *, allow_private: bool) -> tuple[str, ...]:
    """The addresses to connect to for ``host`` (an IP literal, or a name resolved once): every one of
    them must pass ``refusal``, so a name pointing partly inside is refused whole.

    Raises IngestRefused (a forbidden address, or the name does not resolve)."""
    try:
        found = [ipaddress.ip_address(host)]
    except ValueError:
        found = _lookup(host, port)
    for address in found:
        reason = refusal(address, allow_private=allow_private)
        if reason is not None:
            raise IngestRefused(f"refused to fetch {host}: {reason}")
    return tuple(dict.fromkeys(str(address) for address in found))


def _lookup(host: str, port: int) -> list[Address]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:  # socket.gaierror is an OSError
        raise IngestRefused(f"the host {host} does not resolve ({error})") from None
    found = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not found:
        raise IngestRefused(f"the host {host} does not resolve")
    return found


def check_url(url: str, *, allow_private: bool) -> Target:
    """The checked request for ``url``: http or https, a host, a port, an allowed address.

    Raises IngestRefused."""
    try:
        parts = urlsplit(url)
        port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower(), 0)
    except ValueError:
        raise IngestRefused(f"not a valid URL: {url[:200]}") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise IngestRefused(f"only http and https sources are fetched, not {scheme or 'this URL'}")
    try:
        host = (parts.hostname or "").encode("idna").decode("ascii")
    except UnicodeError:
        raise IngestRefused(f"not a valid host name: {parts.hostname[:200]}") from None
    if not host:
        raise IngestRefused(f"the URL names no host: {url[:200]}")
    found = resolve(host, port, allow_private=allow_private)
    path = quote(parts.path or "/", safe=URL_SAFE) + (
        f"?{quote(parts.query, safe=URL_SAFE)}" if parts.query else ""
    )
    return Target(scheme, host, port, found, path)

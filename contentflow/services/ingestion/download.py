"""Downloading a source URL within limits: http(s) only, each hop's address checked and connected to
directly (``addresses``), redirects followed by hand, a total time limit and a size limit.

urllib3 is used directly because it can connect to an IP address while speaking to a name:
``HTTPConnectionPool(address)`` with a ``Host`` header, ``HTTPSConnectionPool(address,
server_hostname=host, assert_hostname=host)`` so TLS still checks the certificate against the name.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urljoin

import urllib3
from urllib3.exceptions import HTTPError, NewConnectionError, ProtocolError, SSLError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from contentflow.services.ingestion import storage
from contentflow.services.ingestion.addresses import Target, check_url
from contentflow.services.ingestion.errors import DownloadFailed, IngestRefused, TooLarge

MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
#: The longest wait for one read: a server that trickles bytes cannot hold the worker past the total
#: time limit by more than this (the limit itself is checked between reads).
MAX_READ_WAIT_SECONDS = 30.0
#: Declared types taken as "maybe a video": ffprobe decides. Missing is taken so too.
MAYBE_VIDEO_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})
USER_AGENT = "ContentFlow-ingest/1.0"


@dataclass(frozen=True)
class Downloaded:
    """A complete download, still in the incoming folder, and what its last hop said about it."""

    file: storage.StoredFile
    content_type: str
    #: The URL the file finally came from (after redirects): its path may give the extension.
    url: str


@dataclass(frozen=True)
class Limits:
    """How much and how long one download may take, and whether private addresses may be reached."""

    max_bytes: int
    timeout_seconds: float
    allow_private: bool


def fetch(url: str, limits: Limits) -> Downloaded:
    """Fetch ``url`` (following up to ``MAX_REDIRECTS`` redirects, each checked like the first) into the
    incoming folder.

    Raises IngestRefused (scheme, address, too many redirects), TooLarge, or DownloadFailed (time limit,
    HTTP error, a web page or another non-video type, a broken connection or TLS certificate).
    """
    deadline = time.monotonic() + limits.timeout_seconds
    for _hop in range(MAX_REDIRECTS + 1):
        target = check_url(url, allow_private=limits.allow_private)
        pool, response = _open(target, deadline, limits)
        try:
            if response.status not in REDIRECT_STATUSES:
                return _receive(response, target, url, deadline, limits)
            location = response.headers.get("Location")
            if not location:
                raise DownloadFailed(f"the source answered HTTP {response.status} without a Location")
            url = urljoin(url, location)
        finally:
            response.release_conn()
            response.close()
            pool.close()
    raise IngestRefused(f"the source redirected more than {MAX_REDIRECTS} times")


def _pool(target: Target, address: str) -> urllib3.HTTPConnectionPool:
    if target.scheme == "https":
        return urllib3.HTTPSConnectionPool(
            address,
            target.port,
            maxsize=1,
            retries=False,
            cert_reqs="CERT_REQUIRED",
            server_hostname=target.host,
            assert_hostname=target.host,
        )
    return urllib3.HTTPConnectionPool(address, target.port, maxsize=1, retries=False)


def _open(
    target: Target, deadline: float, limits: Limits
) -> tuple[urllib3.HTTPConnectionPool, urllib3.BaseHTTPResponse]:
    """GET ``target`` from the first of its addresses that accepts the connection."""
    headers = {"Host": target.host_header, "User-Agent": USER_AGENT, "Accept": "video/*, */*;q=0.5"}
    for address in target.addresses:
        timeout = _timeout(deadline, limits)
        pool = _pool(target, address)
        try:
            response = pool.urlopen(
                "GET",
                target.path,
                headers=headers,
                redirect=False,
                assert_same_host=False,
                preload_content=False,
                timeout=timeout,
            )
        except NewConnectionError:  # refused or unreachable: the name's next address
            pool.close()
            continue
        except HTTPError as error:
            pool.close()
            raise _failure(error, target, limits) from None
        return pool, response
    raise DownloadFailed(f"could not connect to {target.host} port {target.port}")


def _timeout(deadline: float, limits: Limits) -> urllib3.Timeout:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise _too_slow(limits)
    return urllib3.Timeout(connect=remaining, read=min(remaining, MAX_READ_WAIT_SECONDS))


def _too_slow(limits: Limits) -> DownloadFailed:
    return DownloadFailed(f"the download took longer than {limits.timeout_seconds:g} s")


def _failure(error: HTTPError, target: Target, limits: Limits) -> DownloadFailed:
    """A urllib3 error as the reason an operator reads."""
    if isinstance(error, Urllib3Timeout) or isinstance(getattr(error, "reason", None), Urllib3Timeout):
        return _too_slow(limits)
    if isinstance(error, SSLError) or isinstance(getattr(error, "reason", None), SSLError):
        return DownloadFailed(f"the TLS certificate of {target.host} could not be verified")
    if isinstance(error, ProtocolError):
        return DownloadFailed(f"the connection to {target.host} broke during the download")
    return DownloadFailed(f"{target.host} could not be reached ({type(error).__name__})")


def _receive(
    response: urllib3.BaseHTTPResponse, target: Target, url: str, deadline: float, limits: Limits
) -> Downloaded:
    if response.status != 200:
        raise DownloadFailed(f"the source answered HTTP {response.status}")
    content_type = storage.declared_type(response.headers.get("Content-Type"))
    if content_type.startswith("text/"):
        raise DownloadFailed(f"the source is a web page, not a video ({content_type})")
    if not content_type.startswith("video/") and content_type not in MAYBE_VIDEO_TYPES:
        raise DownloadFailed(f"the source is {content_type}, not a video")
    declared_length = response.headers.get("Content-Length", "")
    if declared_length.isdigit() and int(declared_length) > limits.max_bytes:
        raise TooLarge(f"the file is larger than {limits.max_bytes // (1024 * 1024)} MB")
    chunks = _chunks(response, target, deadline, limits)
    return Downloaded(storage.write_incoming(chunks, limits.max_bytes), content_type, url)


def _chunks(
    response: urllib3.BaseHTTPResponse, target: Target, deadline: float, limits: Limits
) -> Iterator[bytes]:
    try:
        for chunk in response.stream(storage.CHUNK_BYTES):
            if time.monotonic() > deadline:
                raise _too_slow(limits)
            yield chunk
    except HTTPError as error:
        raise _failure(error, target, limits) from None

"""What a source URL may reach (the SSRF guard of ingestion): http(s) only, no private address unless
allowed, never a cloud metadata address, every redirect hop checked again, at most five of them; and
TLS checked against the host's name although the connection goes to the checked address."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pytest_httpserver import HTTPServer

from contentflow.jobs import ingest_asset
from contentflow.models import Asset
from contentflow.services.ingestion import addresses
from contentflow.services.ingestion.errors import IngestRefused

METADATA_URLS = [
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://100.100.100.200/latest/meta-data/",
    "http://[::ffff:169.254.169.254]/latest/meta-data/",
]


@pytest.fixture
def ingest(make_app, tmp_path, db):
    def run(asset_id: str, **settings) -> str:
        settings = {"INGEST_ALLOW_PRIVATE_HOSTS": True, "MEDIA_ROOT": str(tmp_path / "media"), **settings}
        with make_app(**settings).app_context():
            return ingest_asset(asset_id)

    return run


def status_text(db, asset: Asset) -> str:
    db.session.expire_all()
    return db.session.get(Asset, asset.id).status_text


def redirect_to(httpserver, location: str, path: str = "/v.mp4") -> None:
    httpserver.expect_request(path).respond_with_data("", status=302, headers={"Location": location})


# --- addresses ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "127.0.0.1",
        "169.254.1.1",
        "100.64.0.1",  # shared address space (carrier-grade NAT)
        "0.0.0.0",  # noqa: S104 - an address to refuse, not one to bind
        "224.0.0.1",
        "240.0.0.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:10.0.0.1",
    ],
)
def test_private_and_reserved_addresses_are_refused(address):
    assert addresses.refusal(ipaddress.ip_address(address), allow_private=False) is not None


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"])
def test_public_addresses_are_allowed(address):
    assert addresses.refusal(ipaddress.ip_address(address), allow_private=False) is None


@pytest.mark.parametrize(
    "address", ["169.254.169.254", "fd00:ec2::254", "100.100.100.200", "::ffff:169.254.169.254"]
)
def test_metadata_addresses_are_refused_even_when_private_hosts_are_allowed(address):
    reason = addresses.refusal(ipaddress.ip_address(address), allow_private=True)
    assert reason is not None and "cloud metadata" in reason


def test_private_addresses_are_allowed_when_the_setting_says_so():
    assert addresses.refusal(ipaddress.ip_address("127.0.0.1"), allow_private=True) is None


# --- the setting off: the test server itself is out of reach ------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_loopback_source_is_refused_when_private_hosts_are_not_allowed(
    db, ingest, make_asset, httpserver, host
):
    httpserver.expect_request("/v.mp4").respond_with_data(b"video", content_type="video/mp4")
    asset = make_asset(source_url=f"http://{host}:{httpserver.port}/v.mp4")

    ingest(asset.id, INGEST_ALLOW_PRIVATE_HOSTS=False)

    text = status_text(db, asset)
    assert text.startswith(f"failed: refused to fetch {host}: ")
    assert "private or reserved address" in text
    assert httpserver.log == []  # not even one request reached it


# --- redirects ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("location", METADATA_URLS)
def test_redirect_to_a_metadata_address_is_refused_with_private_hosts_allowed(
    db, ingest, make_asset, httpserver, location
):
    redirect_to(httpserver, location)
    asset = make_asset(source_url=httpserver.url_for("/v.mp4"))

    ingest(asset.id)

    text = status_text(db, asset)
    assert text.startswith("failed: refused to fetch ")
    assert text.endswith("is a cloud metadata address")


@pytest.mark.parametrize("location", ["ftp://example.org/v.mp4", "file:///etc/passwd", "gopher://x/"])
def test_redirect_to_another_scheme_is_refused(db, ingest, make_asset, httpserver, location):
    redirect_to(httpserver, location)
    asset = make_asset(source_url=httpserver.url_for("/v.mp4"))

    ingest(asset.id)

    assert status_text(db, asset).startswith("failed: only http and https sources are fetched, not ")


def test_redirect_chain_longer_than_five_is_refused(db, ingest, make_asset, httpserver):
    for hop in range(6):
        redirect_to(httpserver, f"/hop{hop + 1}", path=f"/hop{hop}")
    asset = make_asset(source_url=httpserver.url_for("/hop0"))

    ingest(asset.id)

    assert status_text(db, asset) == "failed: the source redirected more than 5 times"
    assert len(httpserver.log) == 6


def test_redirect_without_location_fails(db, ingest, make_asset, httpserver):
    httpserver.expect_request("/v.mp4").respond_with_data("", status=302)
    asset = make_asset(source_url=httpserver.url_for("/v.mp4"))

    ingest(asset.id)

    assert status_text(db, asset) == "failed: the source answered HTTP 302 without a Location"


def test_unresolvable_host_fails(db, ingest, make_asset, monkeypatch):
    def no_such_name(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(addresses.socket, "getaddrinfo", no_such_name)  # no DNS query leaves the machine
    asset = make_asset(source_url="http://no-such-host.invalid/v.mp4")

    ingest(asset.id)

    assert status_text(db, asset).startswith("failed: the host no-such-host.invalid does not resolve")


# --- TLS: the connection goes to the address, the certificate is checked against the name -------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory) -> dict[str, Path]:
    """A test CA and a certificate it signed for the name ``localhost`` only (no IP address in it)."""
    folder = tmp_path_factory.mktemp("tls")
    now = datetime.datetime.now(datetime.UTC)

    def certificate(subject: str, key, issuer_name, issuer_key, *, is_ca: bool) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(issuer_name or x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        )
        if not is_ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False
            )
        return builder.sign(issuer_key or key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = certificate("ContentFlow test CA", ca_key, None, None, is_ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = certificate("localhost", server_key, ca.subject, ca_key, is_ca=False)
    files = {"ca": folder / "ca.pem", "cert": folder / "server.pem", "key": folder / "server.key"}
    files["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files["cert"].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    files["key"].write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return files


@pytest.fixture
def https_server(tls_files, monkeypatch, video):
    """An HTTPS server on 127.0.0.1 with the ``localhost`` certificate, serving the test video; the
    test CA is what the download trusts (OpenSSL reads ``SSL_CERT_FILE`` when loading default roots)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls_files["cert"], tls_files["key"])
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.expect_request("/v.mp4").respond_with_data(video.read_bytes(), content_type="video/mp4")
    server.start()
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files["ca"]))
    yield server
    server.clear()
    server.stop()


def test_https_source_is_verified_against_its_name(db, ingest, make_asset, https_server):
    asset = make_asset(source_url=f"https://localhost:{https_server.port}/v.mp4")

    assert ingest(asset.id) == f"asset {asset.id}: ready"


def test_https_certificate_of_another_name_is_refused(db, ingest, make_asset, https_server):
    asset = make_asset(source_url=f"https://127.0.0.1:{https_server.port}/v.mp4")

    ingest(asset.id)

    assert status_text(db, asset) == "failed: the TLS certificate of 127.0.0.1 could not be verified"


def test_https_certificate_of_an_unknown_authority_is_refused(
    db, ingest, make_asset, https_server, monkeypatch
):
    monkeypatch.delenv("SSL_CERT_FILE")
    asset = make_asset(source_url=f"https://localhost:{https_server.port}/v.mp4")

    ingest(asset.id)

    assert status_text(db, asset) == "failed: the TLS certificate of localhost could not be verified"


# --- DNS: resolved once, and the download connects to the address that was checked ----------------------


def fake_dns(monkeypatch, name: str, answers: list[list[str]]) -> list[str]:
    """``name`` resolves to each of ``answers`` in turn, then no longer resolves; other names as usual.
    Returns the log of the names asked."""
    real_getaddrinfo = socket.getaddrinfo
    asked: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        if host != name:
            return real_getaddrinfo(host, port, *args, **kwargs)
        asked.append(host)
        if len(asked) > len(answers):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))
            for address in answers[len(asked) - 1]
        ]

    monkeypatch.setattr(addresses.socket, "getaddrinfo", getaddrinfo)
    return asked


def test_a_name_is_resolved_once_and_its_checked_address_is_the_one_reached(
    db, ingest, make_asset, httpserver, video, monkeypatch
):
    # Rebinding: a second look-up would answer the metadata address; the download must never ask again.
    asked = fake_dns(monkeypatch, "videos.example", [["127.0.0.1"], ["169.254.169.254"]])
    httpserver.expect_request("/v.mp4").respond_with_data(video.read_bytes(), content_type="video/mp4")
    asset = make_asset(source_url=f"http://videos.example:{httpserver.port}/v.mp4")

    assert ingest(asset.id) == f"asset {asset.id}: ready"
    assert asked == ["videos.example"]
    [(request, _)] = httpserver.log
    assert request.headers["Host"] == f"videos.example:{httpserver.port}"


def test_a_name_with_one_private_address_among_public_ones_is_refused_whole(monkeypatch):
    fake_dns(monkeypatch, "mixed.example", [["93.184.216.34", "10.0.0.1"]])
    with pytest.raises(IngestRefused, match="10.0.0.1 is a private or reserved address"):
        addresses.check_url("http://mixed.example/v.mp4", allow_private=False)

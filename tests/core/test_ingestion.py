"""Asset ingestion: a real video served over HTTP (pytest-httpserver on 127.0.0.1, so private hosts are
allowed here unless a test says otherwise) is downloaded within limits, probed by the real ffprobe and
given a cover by ffmpeg; every failure ends ``failed`` with its reason."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from flask_babel import force_locale
from sqlalchemy import select
from werkzeug.wrappers import Response

from contentflow.jobs import ingest_asset
from contentflow.jobs.assets import ingest_waiting_assets
from contentflow.models import Asset, AuditLog
from contentflow.models.base import utcnow
from contentflow.queueing import get_queue
from contentflow.services import assets, ingestion
from contentflow.services.ingestion import download

HTML = "<!doctype html><title>A page</title><video src=/v.mp4></video>"


@pytest.fixture
def media_root(tmp_path) -> Path:
    return tmp_path / "media"


@pytest.fixture
def ingest(make_app, media_root, db):
    """``ingest(asset_id, **settings)``: run the real job in an app with those settings (private hosts
    allowed, a temporary media folder by default); returns its one-line summary."""

    def run(asset_id: str, **settings) -> str:
        settings = {"INGEST_ALLOW_PRIVATE_HOSTS": True, "MEDIA_ROOT": str(media_root), **settings}
        with make_app(**settings).app_context():
            return ingest_asset(asset_id)

    return run


@pytest.fixture
def source(make_asset, httpserver):
    """``source(path)``: an asset whose source URL is ``path`` on the test server."""
    return lambda path="/v.mp4": make_asset(source_url=httpserver.url_for(path))


def serve_video(httpserver, video: Path, path: str = "/v.mp4", content_type: str = "video/mp4") -> bytes:
    data = video.read_bytes()
    httpserver.expect_request(path).respond_with_data(data, content_type=content_type)
    return data


def reload(db, asset: Asset) -> Asset:
    db.session.expire_all()
    return db.session.get(Asset, asset.id)


# --- a video that works -------------------------------------------------------------------------------------


def test_video_becomes_ready_with_checksum_size_duration_resolution_and_cover(
    db, ingest, source, httpserver, video, media_root
):
    data = serve_video(httpserver, video)
    asset = source()

    summary = ingest(asset.id)

    asset = reload(db, asset)
    assert summary == f"asset {asset.id}: ready"
    assert (asset.status, asset.status_text, asset.error) == ("ready", "ready", None)
    assert asset.checksum_sha256 == hashlib.sha256(data).hexdigest()
    assert asset.size_bytes == len(data)
    assert (asset.duration_ms, asset.width, asset.height) == (2000, 320, 240)
    assert asset.mime_type == "video/mp4"
    assert asset.media_path == f"{asset.id}/source.mp4"
    assert (media_root / asset.media_path).read_bytes() == data
    assert asset.cover_path == f"{asset.id}/cover.jpg"
    assert (media_root / asset.cover_path).read_bytes()[:3] == b"\xff\xd8\xff"  # a JPEG


def test_untyped_download_gets_its_type_from_ffprobe(db, ingest, source, httpserver, video, media_root):
    serve_video(httpserver, video, "/download", content_type="application/octet-stream")
    asset = source("/download")

    ingest(asset.id)

    asset = reload(db, asset)
    assert asset.status == "ready"
    assert asset.mime_type == "video/mp4"
    assert asset.media_path == f"{asset.id}/source.bin"


def test_download_without_content_type_takes_the_extension_of_the_url(db, ingest, source, httpserver, video):
    response = Response(video.read_bytes())
    del response.headers["Content-Type"]
    httpserver.expect_request("/clip.mp4").respond_with_response(response)
    asset = source("/clip.mp4")

    ingest(asset.id)

    asset = reload(db, asset)
    assert (asset.status, asset.media_path, asset.mime_type) == (
        "ready",
        f"{asset.id}/source.mp4",
        "video/mp4",
    )


def test_short_video_gets_its_first_frame_as_cover(db, ingest, source, httpserver, make_video, media_root):
    serve_video(httpserver, make_video(seconds=0.5, size="160x120"))
    asset = source()

    ingest(asset.id)

    asset = reload(db, asset)
    assert (asset.status, asset.duration_ms, asset.width, asset.height) == ("ready", 500, 160, 120)
    assert (media_root / asset.cover_path).stat().st_size > 0


def test_redirects_are_followed_up_to_five(db, ingest, source, httpserver, video):
    for hop in range(5):
        httpserver.expect_request(f"/hop{hop}").respond_with_data(
            "", status=302, headers={"Location": f"/hop{hop + 1}"}
        )
    serve_video(httpserver, video, "/hop5")
    asset = source("/hop0")

    assert ingest(asset.id) == f"asset {asset.id}: ready"


# --- what the source is -------------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", "text/plain"])
def test_web_page_fails_as_not_a_video(db, ingest, source, httpserver, media_root, content_type):
    httpserver.expect_request("/v.mp4").respond_with_data(HTML, content_type=content_type)
    asset = source()

    summary = ingest(asset.id)

    asset = reload(db, asset)
    assert asset.status == "failed"
    assert asset.error.startswith("the source is a web page, not a video")
    assert summary == f"asset {asset.id}: failed: {asset.error}"
    assert asset.media_path is None
    assert not list(media_root.rglob("source*"))


def test_other_declared_type_fails(db, ingest, source, httpserver):
    httpserver.expect_request("/v.mp4").respond_with_json({"not": "a video"})
    asset = source()

    ingest(asset.id)

    assert reload(db, asset).error == "the source is application/json, not a video"


def test_http_error_of_the_source_fails_with_its_status(db, ingest, source, httpserver):
    httpserver.expect_request("/v.mp4").respond_with_data("gone", status=404)
    asset = source()

    ingest(asset.id)

    assert reload(db, asset).status_text == "failed: the source answered HTTP 404"


def test_unreadable_file_fails_and_is_not_kept(db, ingest, source, httpserver, media_root, ffmpeg):
    httpserver.expect_request("/v.mp4").respond_with_data(b"\x00garbage" * 1000, content_type="video/mp4")
    asset = source()

    ingest(asset.id)

    asset = reload(db, asset)
    assert asset.status_text == "failed: ffprobe cannot read a video in this file"
    assert asset.media_path is None
    assert not list(media_root.rglob("source*"))


def test_playlist_posing_as_a_video_is_not_followed(db, ingest, source, httpserver, video):
    """An HLS playlist would make ffprobe read the files or URLs it names: such formats are refused."""
    playlist = f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n{video}\n#EXT-X-ENDLIST\n"
    httpserver.expect_request("/v.mp4").respond_with_data(playlist, content_type="video/mp4")
    asset = source()

    ingest(asset.id)

    assert reload(db, asset).status_text == "failed: ffprobe cannot read a video in this file"


# --- limits -------------------------------------------------------------------------------------------------


def test_declared_length_over_the_limit_fails_before_reading(db, ingest, source, httpserver, media_root):
    # The body is short: a download that read it instead of refusing would fail as cut short.
    declared = {"Content-Length": str(2 * 1024 * 1024)}
    response = Response(iter([b"tiny"]), content_type="video/mp4", headers=declared)
    httpserver.expect_request("/v.mp4").respond_with_response(response)
    asset = source()

    ingest(asset.id, INGEST_MAX_MB=1)

    assert reload(db, asset).status_text == "failed: the file is larger than 1 MB"


def test_streamed_bytes_over_the_limit_fail_and_leave_no_file(db, ingest, source, httpserver, media_root):
    chunks = (b"\x00" * 65536 for _ in range(40))  # 2.5 MiB, no Content-Length
    httpserver.expect_request("/v.mp4").respond_with_response(Response(chunks, content_type="video/mp4"))
    asset = source()

    ingest(asset.id, INGEST_MAX_MB=1)

    assert reload(db, asset).status_text == "failed: the file is larger than 1 MB"
    assert [path for path in media_root.rglob("*") if path.is_file()] == []


@pytest.fixture
def stalled(httpserver):
    """``stalled(path, first=b"")``: the server sends ``first`` (nothing: not even its headers), then
    waits until the test is over."""
    release = threading.Event()

    def route(path: str, first: bytes = b"") -> None:
        def handler(request):
            if not first:
                release.wait(10)
                return Response(b"late", content_type="video/mp4")

            def body():
                yield first
                release.wait(10)

            return Response(body(), content_type="video/mp4")

        httpserver.expect_request(path).respond_with_handler(handler)

    yield route
    release.set()


def test_source_answering_too_slowly_fails_on_the_time_limit(db, ingest, source, stalled):
    stalled("/v.mp4")
    asset = source()

    ingest(asset.id, INGEST_TIMEOUT_SECONDS=1)

    assert reload(db, asset).status_text == "failed: the download took longer than 1 s"


def test_download_stalling_midway_fails_on_the_time_limit(db, ingest, source, stalled, media_root):
    stalled("/v.mp4", first=b"\x00" * 1024)
    asset = source()

    ingest(asset.id, INGEST_TIMEOUT_SECONDS=1)

    assert reload(db, asset).status_text == "failed: the download took longer than 1 s"
    assert [path for path in media_root.rglob("*") if path.is_file()] == []


def test_source_trickling_past_the_time_limit_fails(db, ingest, source, httpserver, monkeypatch, media_root):
    """Each read is quick, but the whole takes too long: the total limit is checked between reads. The
    download's clock moves 0.4 s a look, so the 1 s limit passes after a few chunks."""
    chunks = (b"\x00" * 65536 for _ in range(10))
    httpserver.expect_request("/v.mp4").respond_with_response(Response(chunks, content_type="video/mp4"))
    asset = source()

    class SlowClock:
        now = 0.0

        @classmethod
        def monotonic(cls) -> float:
            cls.now += 0.4
            return cls.now

    monkeypatch.setattr(download, "time", SlowClock)
    ingest(asset.id, INGEST_TIMEOUT_SECONDS=1)

    assert reload(db, asset).status_text == "failed: the download took longer than 1 s"
    assert [path for path in media_root.rglob("*") if path.is_file()] == []


def test_closed_port_fails_as_unreachable(db, ingest, make_asset, unused_port):
    asset = make_asset(source_url=f"http://127.0.0.1:{unused_port}/v.mp4")

    ingest(asset.id)

    assert reload(db, asset).status_text == f"failed: could not connect to 127.0.0.1 port {unused_port}"


@pytest.fixture
def unused_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- ffprobe and ffmpeg missing -----------------------------------------------------------------------------


def test_missing_ffprobe_fails_with_the_install_hint(
    db, ingest, source, httpserver, video, tmp_path, monkeypatch
):
    serve_video(httpserver, video)
    asset = source()
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))

    ingest(asset.id)

    assert reload(db, asset).status_text == "failed: ffprobe is not installed (apt-get install ffmpeg)"


def test_missing_ffmpeg_fails_with_the_install_hint(
    db, ingest, source, httpserver, video, tmp_path, monkeypatch
):
    import shutil

    serve_video(httpserver, video)
    asset = source()
    only_ffprobe = tmp_path / "bin"
    only_ffprobe.mkdir()
    (only_ffprobe / "ffprobe").symlink_to(shutil.which("ffprobe"))
    monkeypatch.setenv("PATH", str(only_ffprobe))

    ingest(asset.id)

    assert reload(db, asset).status_text == "failed: ffmpeg is not installed (apt-get install ffmpeg)"


# --- claims: once, by one worker ----------------------------------------------------------------------------


def test_asset_being_ingested_is_left_alone(db, ingest, source, httpserver, video):
    serve_video(httpserver, video)
    asset = source()
    asset.status = "processing"
    db.session.commit()

    summary = ingest(asset.id)

    assert summary == f"asset {asset.id}: nothing to do (ingesting)"
    assert reload(db, asset).status == "processing"
    assert httpserver.log == []


def test_second_claim_of_an_asset_gets_nothing(db, source):
    asset = source()

    first = ingestion.claim(asset.id)
    second = ingestion.claim(asset.id)

    assert first is not None and first.source_url == asset.source_url
    assert second is None
    assert reload(db, asset).status == "processing"


def test_ready_asset_is_not_ingested_again(db, ingest, source, httpserver, video):
    serve_video(httpserver, video)
    asset = source()
    ingest(asset.id)

    assert ingest(asset.id) == f"asset {asset.id}: nothing to do (ready)"
    assert len(httpserver.log) == 1


def test_failed_asset_is_ingested_again_when_asked(db, ingest, source, httpserver, video):
    httpserver.expect_oneshot_request("/v.mp4").respond_with_data("later", status=503)
    serve_video(httpserver, video)
    asset = source()
    ingest(asset.id)
    assert reload(db, asset).status == "failed"

    assert ingest(asset.id) == f"asset {asset.id}: ready"
    assert reload(db, asset).error is None


def test_quarantine_during_ingestion_wins(db, make_app, source, httpserver, video, media_root, admin):
    serve_video(httpserver, video)
    asset = source()
    with make_app(INGEST_ALLOW_PRIVATE_HOSTS=True, MEDIA_ROOT=str(media_root)).app_context():
        claim = ingestion.claim(asset.id)
        db.session.commit()
        result = ingestion.prepare(claim)
        assets.quarantine(asset.id, "DMCA notice 42", admin)
        db.session.commit()
        ingestion.record(claim, result)
        db.session.commit()

    asset = reload(db, asset)
    assert (asset.status, asset.error, asset.media_path) == ("quarantined", "DMCA notice 42", None)


def test_unexpected_error_fails_the_asset_instead_of_leaving_it_processing(db, ingest, source, monkeypatch):
    def broken(claim):
        raise RuntimeError("a bug")

    monkeypatch.setattr(ingestion, "prepare", broken)
    asset = source()

    summary = ingest(asset.id)

    assert summary == f"asset {asset.id}: failed: unexpected error during ingestion (see the worker log)"
    assert reload(db, asset).status == "failed"


def test_unknown_asset_is_nothing_to_do(db, ingest):
    assert ingest("nosuchasst") == "asset nosuchasst: nothing to do (no such asset)"


# --- the sweep: what a lost job left behind -----------------------------------------------------------------


def test_sweep_enqueues_again_an_asset_whose_job_was_lost(app, db, make_asset):
    lost = make_asset(title="Lost", source_url="https://cdn.example.net/a.mp4")
    make_asset(title="Fresh", source_url="https://cdn.example.net/b.mp4")
    lost.created_at = utcnow() - timedelta(minutes=20)
    db.session.commit()
    get_queue("ingest", app).empty()

    assert ingest_waiting_assets() == "1 waiting assets enqueued, 0 interrupted ingestions failed"

    assert [job.args for job in get_queue("ingest", app).jobs] == [(lost.id,)]  # not the fresh one


def test_sweep_fails_an_ingestion_whose_worker_died(db, make_asset):
    dead = make_asset(title="Dead", source_url="https://cdn.example.net/a.mp4")
    running = make_asset(title="Running", source_url="https://cdn.example.net/b.mp4")
    dead.status, dead.updated_at = "processing", utcnow() - timedelta(hours=3)
    running.status = "processing"
    db.session.commit()

    assert ingest_waiting_assets() == "0 waiting assets enqueued, 1 interrupted ingestions failed"

    assert reload(db, dead).status_text == "failed: the ingestion was interrupted (its worker stopped)"
    assert reload(db, running).status == "processing"


def test_sweep_removes_the_partial_downloads_a_dead_worker_left(make_app, db, media_root):
    incoming = media_root / ".incoming"
    incoming.mkdir(parents=True)
    old, current = incoming / "old.part", incoming / "current.part"
    old.write_bytes(b"half a video")
    current.write_bytes(b"being written")
    three_hours_ago = time.time() - 3 * 3600
    os.utime(old, (three_hours_ago, three_hours_ago))

    with make_app(MEDIA_ROOT=str(media_root)).app_context():
        summary = ingest_waiting_assets()

    assert summary.endswith(", 1 partial downloads removed")
    assert (old.exists(), current.exists()) == (False, True)


# --- asking for ingestion -----------------------------------------------------------------------------------


def test_asset_with_a_source_url_enqueues_its_ingestion_on_commit(app, db, source):
    asset = source()

    [queued] = get_queue("ingest", app).jobs
    assert (queued.func_name, queued.args) == ("contentflow.jobs.assets.ingest_asset", (asset.id,))


def test_rolled_back_asset_enqueues_nothing(app, db):
    assets.create_asset("Video", source_url="https://cdn.example.net/v.mp4")
    db.session.rollback()

    assert get_queue("ingest", app).jobs == []


def test_link_only_asset_enqueues_nothing(app, db, make_asset):
    assert make_asset().status == "ready"
    assert get_queue("ingest", app).jobs == []


# --- uploads ------------------------------------------------------------------------------------------------


@pytest.fixture
def upload_app(make_app, media_root):
    return make_app(MEDIA_ROOT=str(media_root), INGEST_MAX_MB=1)


def test_uploaded_video_is_stored_then_ingested_by_the_same_job(
    db, upload_app, video, media_root, admin, ingest
):
    data = video.read_bytes()
    with upload_app.app_context():
        asset = assets.create_uploaded_asset("Upload", [data[:4000], data[4000:]], "My Clip.MP4", admin=admin)
        db.session.commit()
        [queued] = get_queue("ingest", upload_app).jobs
    assert queued.args == (asset.id,)
    assert (asset.status, asset.media_path, asset.source_url) == ("new", f"{asset.id}/source.mp4", None)

    assert ingest(asset.id) == f"asset {asset.id}: ready"

    asset = reload(db, asset)
    assert asset.checksum_sha256 == hashlib.sha256(data).hexdigest()
    assert (asset.size_bytes, asset.width, asset.height, asset.mime_type) == (
        len(data),
        320,
        240,
        "video/mp4",
    )
    assert (media_root / asset.cover_path).is_file()
    assert db.session.scalars(select(AuditLog.action)).all() == ["asset.create"]


def test_upload_over_the_limit_is_refused_and_leaves_no_file(db, upload_app, media_root):
    from contentflow.errors import ValidationError

    with (
        upload_app.app_context(),
        force_locale("en"),
        pytest.raises(ValidationError, match="larger than 1 MB"),
    ):
        assets.create_uploaded_asset("Big", (b"\x00" * 65536 for _ in range(20)), "big.mp4")
    assert [path for path in media_root.rglob("*") if path.is_file()] == []


def test_empty_upload_is_refused(db, upload_app):
    from contentflow.errors import ValidationError

    with upload_app.app_context(), pytest.raises(ValidationError) as refused:
        assets.create_uploaded_asset("Empty", [], "empty.mp4")
    assert refused.value.code == "empty_file"


def test_uploaded_garbage_fails_on_probing(db, upload_app, ingest, ffmpeg):
    with upload_app.app_context():
        asset = assets.create_uploaded_asset("Notes", [b"just some text\n" * 10], "notes.txt", "text/plain")
        db.session.commit()

    ingest(asset.id)

    assert reload(db, asset).status_text == "failed: ffprobe cannot read a video in this file"

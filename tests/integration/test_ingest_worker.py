"""Ingestion as an operator runs it: ``flask assets add --source-url`` enqueues the ``ingest_asset`` job
on the ``ingest`` queue, a real RQ worker runs it on committed data (in-process, and as ``flask rq
worker`` in another process with a forked work horse) against a real HTTP video host, and ``flask assets
show`` reports the outcome on its last line."""

from __future__ import annotations

import pytest
from rq.job import JobStatus

from contentflow.queueing import get_queue
from contentflow.queueing.worker import make_worker
from tests.integration.conftest import run_flask

pytestmark = pytest.mark.integration


@pytest.fixture
def video_host(httpserver, video):
    httpserver.expect_request("/clip.mp4").respond_with_data(video.read_bytes(), content_type="video/mp4")
    return httpserver.url_for("/clip.mp4")


def test_asset_added_by_the_cli_is_ingested_by_a_worker(make_app, committed, video_host, tmp_path):
    app = make_app(INGEST_ALLOW_PRIVATE_HOSTS=True, MEDIA_ROOT=str(tmp_path / "media"))
    runner = app.test_cli_runner()
    with app.app_context():
        added = runner.invoke(args=["assets", "add", "--title", "Clip", "--source-url", video_host])
        assert added.exit_code == 0, added.output
        asset_id = added.stdout.strip().splitlines()[-1]
        [queued] = get_queue("ingest", app).jobs
        assert runner.invoke(args=["assets", "show", asset_id]).stdout.strip().splitlines()[-1] == "new"
        committed.session.close()  # on SQLite every transaction holds the write lock the worker needs

        make_worker(app, ("ingest",), simple=True).work(burst=True)

        assert queued.get_status(refresh=True) == JobStatus.FINISHED
        assert queued.return_value() == f"asset {asset_id}: ready"
        shown = runner.invoke(args=["assets", "show", asset_id]).stdout.strip().splitlines()
    assert shown[-1] == "ready"
    assert "resolution: 320x240" in shown and "duration: 2.000 s" in shown
    assert (tmp_path / "media" / asset_id / "source.mp4").is_file()
    assert (tmp_path / "media" / asset_id / "cover.jpg").is_file()


def test_failed_ingestion_finishes_the_job_with_the_reason(make_app, committed, httpserver):
    httpserver.expect_request("/page").respond_with_data("<!doctype html><p>hi", content_type="text/html")
    app = make_app(INGEST_ALLOW_PRIVATE_HOSTS=True)
    with app.app_context():
        added = app.test_cli_runner().invoke(
            args=["assets", "add", "--title", "Page", "--source-url", httpserver.url_for("/page")]
        )
        asset_id = added.stdout.strip().splitlines()[-1]
        [queued] = get_queue("ingest", app).jobs
        committed.session.close()  # on SQLite every transaction holds the write lock the worker needs

        make_worker(app, ("ingest",), simple=True).work(burst=True)

    assert queued.get_status(refresh=True) == JobStatus.FINISHED  # recorded, not raised: no RQ retry
    assert (
        queued.return_value()
        == f"asset {asset_id}: failed: the source is a web page, not a video (text/html)"
    )


def test_flask_rq_worker_ingests_in_a_forked_horse(app, committed, process_env, video_host, tmp_path):
    env = process_env(INGEST_ALLOW_PRIVATE_HOSTS="true", MEDIA_ROOT=str(tmp_path / "media"))
    added = run_flask(env, "assets", "add", "--title", "Clip", "--source-url", video_host)
    assert added.returncode == 0, added.stderr
    asset_id = added.stdout.strip().splitlines()[-1]

    worker = run_flask(env, "rq", "worker", "ingest", "--burst")

    assert worker.returncode == 0, worker.stderr
    shown = run_flask(env, "assets", "show", asset_id)
    assert shown.stdout.strip().splitlines()[-1] == "ready", shown.stdout + shown.stderr
    assert (tmp_path / "media" / asset_id / "cover.jpg").is_file()

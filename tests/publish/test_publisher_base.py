"""How every publisher's HTTP call sorts a platform that does not answer: a timeout on the request that
creates a post may have posted (it is looked up, never sent again blindly), a timeout elsewhere or a
connection that never opened has not. Real HTTP against a local server that holds its answer back."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from werkzeug import Request, Response

from plugins.publish.publishers.base import TransientError, call


@pytest.fixture
def silent(httpserver) -> Iterator[str]:
    """A URL whose server receives the request and answers only once the test is over."""
    released = threading.Event()

    def hold(request: Request) -> Response:
        released.wait(30)
        return Response("{}", mimetype="application/json")

    httpserver.expect_request("/slow").respond_with_handler(hold)
    yield httpserver.url_for("/slow")
    released.set()


@pytest.mark.parametrize("creates", [True, False], ids=["creating-request", "read-only-request"])
def test_a_timeout_may_have_posted_only_on_the_request_that_creates_the_post(silent, creates):
    with pytest.raises(TransientError) as caught:
        call("POST", silent, token="t", creates=creates, timeout=0.2)
    assert caught.value.message == "the platform did not answer in time"
    assert caught.value.maybe_posted is creates


def test_a_connection_that_never_opened_has_not_posted():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: nothing listens there
    with pytest.raises(TransientError) as caught:
        call("POST", f"http://127.0.0.1:{port}/api/submit", token="t", creates=True)
    assert caught.value.message.startswith("the platform is unreachable")
    assert caught.value.maybe_posted is False

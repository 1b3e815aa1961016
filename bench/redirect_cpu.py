"""The CPU one ``/l/<code>`` request costs in-process, without HTTP: a step of ``bench/redirect.py``.

    redirect_cpu.py CAPTURE_CODE DIRECT_CODE REQUESTS   (run by bench/redirect.py, with its environment)

Calls each WSGI app directly, ``REQUESTS`` times after a warm-up, and prints the process's CPU time per
request (``time.process_time``: every thread of the process): bare Flask's redirect; the real app with
the link cached and Redis answering; the same app with Redis unreachable (``BENCH_DIRECT_REDIS_URL``),
counting the buffer's writer thread until every click is stored; then the flush of the clicks the capture
step appended. Load on the box hardly moves CPU time, so these figures, unlike req/s, compare across
runs. Redis's and PostgreSQL's own CPU are not in them (the flush's wall time holds them, and the load).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def environ(code: str) -> dict:
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": f"/l/{code}",
        "QUERY_STRING": "",
        "REMOTE_ADDR": "198.51.100.7",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "HTTP_USER_AGENT": USER_AGENT,
    }


def start_response(status: str, headers: list, exc_info=None) -> None:
    if not status.startswith("302"):
        raise RuntimeError(f"expected a 302, got {status}")


def cpu_per_request(wsgi_app, code: str, requests: int, until_stored=lambda: True) -> float:
    """Microseconds of CPU per request, once ``until_stored()`` says the clicks are stored."""
    for _ in range(200):
        list(wsgi_app(environ(code), start_response))
    while not until_stored():
        time.sleep(0.01)
    started = time.process_time()
    for _ in range(requests):
        list(wsgi_app(environ(code), start_response))
    while not until_stored():
        time.sleep(0.001)
    return (time.process_time() - started) * 1e6 / requests


def main() -> None:
    capture_code, direct_code, requests = sys.argv[1], sys.argv[2], int(sys.argv[3])
    from bare_app import app as bare

    from contentflow import create_app
    from contentflow.services.click_capture import capture_of

    capture = create_app()
    direct = create_app({"REDIS_URL": os.environ["BENCH_DIRECT_REDIS_URL"]})
    buffer = capture_of(direct).buffer
    figures = {
        "bare": cpu_per_request(bare.wsgi_app, capture_code, requests),
        "capture": cpu_per_request(capture.wsgi_app, capture_code, requests),
        "direct": cpu_per_request(
            direct.wsgi_app, direct_code, requests, lambda: buffer.pending_count() == 0
        ),
    }
    print(
        f"in-process CPU per request ({requests} requests, no HTTP): bare Flask {figures['bare']:.0f} us, "
        f"capture {figures['capture']:.0f} us (XADD's client side included), direct {figures['direct']:.0f} "
        "us (the buffer's batch inserts included)"
    )
    print_flush(capture)


def print_flush(app) -> None:
    """The flush of what the capture step appended: its Python CPU, and its wall time, which holds
    PostgreSQL's and Redis's work (on this box, under its load)."""
    from contentflow.jobs.clicks import flush_clicks

    with app.app_context():
        started, wall_started = time.process_time(), time.perf_counter()
        outcome = flush_clicks()
        cpu, wall = time.process_time() - started, time.perf_counter() - wall_started
    count = int(outcome.split()[1])
    print(
        f"flush of those clicks in-process ({outcome}): {cpu * 1e6 / count:.0f} us of Python CPU and "
        f"{wall * 1e6 / count:.0f} us of wall time per click (PostgreSQL's and Redis's work included)"
    )


if __name__ == "__main__":
    main()

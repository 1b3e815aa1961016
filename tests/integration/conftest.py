"""Integration helpers: other apps whose pools are closed after, a separate process's environment, and
the sign-in request that makes the app enqueue a job."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from rq.job import Job

from contentflow.queueing import get_queue
from tests.conftest import csrf_token_of

ROOT = Path(__file__).resolve().parents[2]
FLASK = Path(sys.executable).parent / "flask"


@pytest.fixture
def process_env(app: Flask) -> Callable[..., dict[str, str]]:
    """Environment for ``flask --app wsgi ...`` in a separate process: the test app's database, Redis
    (the resolved URL, so the embedded server is shared too) and secrets; no Brevo key."""

    def build(**extra: str) -> dict[str, str]:
        config = app.config
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", str(ROOT)),
            "CONTENTFLOW_ENV": "testing",
            "DATABASE_URL": config["DATABASE_URL"],
            "REDIS_URL": config["RESOLVED_REDIS_URL"],
            "SECRET_KEY": config["SECRET_KEY"],
            "TOKEN_ENCRYPTION_KEY": config["TOKEN_ENCRYPTION_KEY"],
            "IP_HASH_KEY": config["IP_HASH_KEY"],
            "PUBLIC_BASE_URL": config["PUBLIC_BASE_URL"],
            "BREVO_API_KEY": "",
            "LOG_LEVEL": "INFO",
        }
        env.update(extra)
        return env

    return build


def run_flask(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``flask --app wsgi ARGS`` in a separate process started through the factory, as an operator would."""
    return subprocess.run(
        [str(FLASK), "--app", "wsgi", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def request_magic_link(app: Flask, email: str = "pat@example.com") -> Job:
    """POST the sign-in form as a browser would; returns the e-mail job the app enqueued on commit."""
    client = app.test_client()
    response = client.post("/partner/magic", data={"email": email, "csrf_token": csrf_token_of(client)})
    assert response.status_code == 200, response.get_data(as_text=True)
    queued = get_queue("email", app).jobs
    assert len(queued) == 1
    return queued[0]

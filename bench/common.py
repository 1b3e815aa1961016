"""What both benchmarks share: a production-mode environment with throwaway secrets, a fresh PostgreSQL
database, a free local port."""

from __future__ import annotations

import os
import secrets
import socket
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent


def bench_env(database_url: str, redis_url: str) -> dict[str, str]:
    """Production mode with throwaway secrets: the configuration an operator would run."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(ROOT)),
        "CONTENTFLOW_ENV": "production",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": secrets.token_urlsafe(32),
        "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "IP_HASH_KEY": secrets.token_urlsafe(32),
        "BREVO_API_KEY": "unused-by-the-bench",
        "PUBLIC_BASE_URL": "https://bench.example.org",
        "LOG_LEVEL": "WARNING",
    }


def fresh_database(url: str) -> None:
    """Create the bench's PostgreSQL database if it does not exist yet, and empty it: each run seeds
    its own rows (encrypted with this run's throwaway keys)."""
    import psycopg
    from psycopg import sql

    server, name = url.rsplit("/", 1)
    with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
        if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("DROP SCHEMA public CASCADE")
        connection.execute("CREATE SCHEMA public")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def load_average() -> str:
    """The 1, 5 and 15-minute load averages: how busy the shared box was around the figures."""
    return ", ".join(f"{value:.1f}" for value in os.getloadavg())

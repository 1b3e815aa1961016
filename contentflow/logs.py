"""JSON logs on stderr, each line carrying the request id (or the RQ job id in a worker)."""

from __future__ import annotations

import logging
import sys

from flask import Flask, g, has_request_context
from pythonjsonlogger.json import JsonFormatter

HANDLER_NAME = "contentflow-json"


class ContextFilter(logging.Filter):
    """Adds ``request_id`` (web) or ``job_id`` (worker) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context():
            record.request_id = g.get("request_id", "")
        else:
            from rq import get_current_job

            current = get_current_job()
            if current is not None:
                record.job_id = current.id
        return True


def configure_logging(app: Flask) -> None:
    """Idempotent: one JSON handler on the root logger per process, at ``LOG_LEVEL``."""
    root = logging.getLogger()
    root.setLevel(app.config["LOG_LEVEL"].upper())
    if any(handler.get_name() == HANDLER_NAME for handler in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s", timestamp=False))
    handler.addFilter(ContextFilter())
    root.addHandler(handler)

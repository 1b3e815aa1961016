"""Operator CLI: ``flask --app wsgi <group> <command>``.

The result is the last line on stdout; logs go to stderr; errors exit non-zero with a message.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

import click
from flask import Flask

from contentflow.errors import DomainError
from contentflow.extensions import db


def domain_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a service's DomainError into a clean CLI error (exit 1), rolling back what was begun."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except DomainError as error:
            db.session.rollback()
            raise click.ClickException(str(error.message)) from None

    return wrapper


def register_cli(app: Flask) -> None:
    from contentflow.cli import catalog, demo, people, tracking
    from contentflow.cli import queue as queue_commands

    for group in (
        people.users,
        people.partners,
        catalog.networks,
        catalog.offers,
        catalog.assets,
        tracking.links,
        queue_commands.jobs,
        queue_commands.rq,
    ):
        app.cli.add_command(group)
    app.cli.add_command(demo.demo)

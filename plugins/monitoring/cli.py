"""``flask monitoring refresh [--rebuild]``: roll up now, in this process (the job does it every minute)."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from contentflow.extensions import db
from contentflow.models.base import utcnow
from plugins.monitoring.jobs import refresh_monitoring
from plugins.monitoring.services import rollups

monitoring = AppGroup("monitoring", help="The admin dashboard's rollups (monitoring plugin).")


@monitoring.command("refresh")
@click.option(
    "--rebuild", is_flag=True, help=f"Recompute all {rollups.WINDOW_DAYS} days, not only the changed ones."
)
def refresh(rebuild: bool) -> None:
    """Roll up the changed days, snapshot the balances. With --rebuild, first put back any missing
    trigger and mark every day of the window (after restoring a backup, or when the dashboard says a
    trigger is missing)."""
    if rebuild:
        rollups.reinstall_capture()
        rollups.mark_window(now=utcnow())
        db.session.commit()
    click.echo(refresh_monitoring())


def register_cli(app: Flask) -> None:
    """The plugin's ``setup``: adds ``flask monitoring ...``."""
    app.cli.add_command(monitoring)

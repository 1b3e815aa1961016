"""``flask rq worker|scheduler|stop-embedded`` and ``flask jobs list|run``."""

from __future__ import annotations

import inspect
import logging
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from contentflow.queueing.connection import QUEUES, stop_embedded_redis
from contentflow.queueing.schedules import job_catalog
from contentflow.queueing.scheduling import (
    make_scheduler,
    reconcile_schedules,
    use_utc_clock,
)
from contentflow.queueing.worker import make_worker

rq = AppGroup("rq", help="RQ worker and scheduler, started through the app factory.")
jobs = AppGroup("jobs", help="List or run background jobs.")
log = logging.getLogger(__name__)


@rq.command("worker")
@click.argument("queues", nargs=-1)
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.option("--simple", is_flag=True, help="Run jobs in this process instead of a forked horse.")
def worker(queues: tuple[str, ...], burst: bool, simple: bool) -> None:
    """Work the given queues (all by default)."""
    unknown = set(queues) - set(QUEUES)
    if unknown:
        raise click.BadParameter(
            f"unknown queue(s) {', '.join(sorted(unknown))}; queues are {', '.join(QUEUES)}"
        )
    app = current_app._get_current_object()
    w = make_worker(app, queues or QUEUES, simple=simple)
    w.work(burst=burst, with_scheduler=True, logging_level=app.config["LOG_LEVEL"].upper())
    click.echo(f"worker {w.name} stopped")


@rq.command("scheduler")
@click.option("--burst", is_flag=True, help="Enqueue what is due once, then stop.")
@click.option("--interval", default=5, show_default=True, help="Seconds between checks.")
def scheduler(burst: bool, interval: int) -> None:
    """Reconcile the declared schedules with Redis, then enqueue jobs as they fall due. Run exactly one."""
    use_utc_clock()
    app = current_app._get_current_object()
    sched = make_scheduler(app, interval=interval)
    result = reconcile_schedules(app, sched)
    click.echo(
        f"schedules: {len(result['added'])} added, {len(result['cancelled'])} cancelled, "
        f"{len(result['kept'])} kept",
        err=True,
    )
    sched.run(burst=burst)
    click.echo("scheduler stopped")


@rq.command("stop-embedded")
def stop_embedded() -> None:
    """Stop the embedded Redis server of this checkout (first-run mode only)."""
    stopped = stop_embedded_redis(Path(current_app.instance_path))
    click.echo("embedded redis stopped" if stopped else "embedded redis was not running")


@jobs.command("list")
def list_jobs() -> None:
    """Jobs of the core and of the enabled plugins, with their queue, owner and schedule."""
    catalog = job_catalog()
    shown = 0
    for name, fn in sorted(catalog.jobs.items()):
        if catalog.is_switched_off(name):
            continue
        schedule = catalog.schedule_of(name)
        owner = getattr(fn, "plugin_name", None) or "core"
        queue = getattr(fn, "queue_name", "default")
        click.echo(f"{name}\tqueue={queue}\t{owner}\t{schedule.when if schedule else '-'}")
        shown += 1
    click.echo(f"{shown} jobs")


@jobs.command("run")
@click.argument("name")
def run_job(name: str) -> None:
    """Run job NAME now, in this process: the same function the worker runs. Prints what it did."""
    fn = job_catalog().get(name)
    if fn is None:
        raise click.ClickException(f"no job named {name!r}; see `flask jobs list`")
    required = [
        p.name
        for p in inspect.signature(fn).parameters.values()
        if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if required:
        raise click.ClickException(f"{name} needs arguments ({', '.join(required)}): it runs from the queue")
    result = fn()
    click.echo(result if result is not None else f"{name}: nothing done (its plugin is off)")

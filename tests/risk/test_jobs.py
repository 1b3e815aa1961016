"""The rules are scheduled jobs, listed and run by name (``flask jobs list|run``); the velocity sweep runs
every minute."""

from __future__ import annotations

from datetime import timedelta

import pytest

from contentflow.queueing.scheduling import declared_schedules


def test_flask_jobs_list_shows_every_sweep_with_its_schedule(app):
    result = app.test_cli_runner().invoke(args=["jobs", "list"])
    assert result.exit_code == 0, result.output
    lines = {line.split("\t")[0]: line for line in result.output.splitlines()}
    assert lines["sweep_velocity"] == "sweep_velocity\tqueue=periodic\trisk\tevery 0:01:00"
    assert "sweep_shared_ips" in lines and "sweep_fast_conversions" in lines


@pytest.mark.parametrize(
    ("name", "every"),
    [
        ("sweep_velocity", timedelta(minutes=1)),
        ("sweep_shared_ips", timedelta(minutes=5)),
        ("sweep_fast_conversions", timedelta(minutes=15)),
    ],
)
def test_each_sweep_is_scheduled_on_the_periodic_queue(app, name, every):
    [schedule] = [s for s in declared_schedules(app) if s.job_name == name]
    assert (schedule.every, schedule.queue) == (every, "periodic")


def test_flask_jobs_run_runs_the_velocity_sweep(app, db):
    result = app.test_cli_runner().invoke(args=["jobs", "run", "sweep_velocity"])
    assert result.exit_code == 0, result.output
    assert "sweep_velocity: 0 partner(s) caught, 0 newly held" in result.output

"""``Schedule``: a job to run periodically, declared as data by the core and by plugins, and the
``JobCatalog`` of an app: every job it knows and the schedules it keeps in Redis.

Library-neutral: rq-scheduler serves schedules today (``queueing.scheduling``), RQ's own cron could
tomorrow. This module knows nothing of plugins: the app factory builds the catalog.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from flask import Flask, current_app

from contentflow.queueing.connection import QUEUES

#: Every schedule's RQ job id starts with this, so reconciling never touches a job of anyone else.
SCHEDULE_ID_PREFIX = "contentflow-schedule-"
CATALOG_KEY = "contentflow.jobs"


class ScheduleError(ValueError):
    """A schedule no runner could serve, or a job scheduled twice; start-up stops."""


@dataclass(frozen=True)
class Schedule:
    """A job to run periodically: every ``every``, or on a five-field ``cron`` string (UTC), on ``queue``.

    Raises ScheduleError for a declaration no runner could serve.
    """

    job: Callable[..., Any]
    every: timedelta | None = None
    cron: str | None = None
    queue: str = "periodic"

    def __post_init__(self) -> None:
        if (self.every is None) == (self.cron is None):
            raise ScheduleError(f"schedule of {self.job_name}: give exactly one of every= or cron=")
        if self.every is not None and self.every < timedelta(seconds=1):
            raise ScheduleError(f"schedule of {self.job_name}: every= must be at least one second")
        if self.cron is not None and len(self.cron.split()) != 5:
            raise ScheduleError(f"schedule of {self.job_name}: cron={self.cron!r} needs five fields")
        if self.queue not in QUEUES:
            raise ScheduleError(f"schedule of {self.job_name}: unknown queue {self.queue!r}")

    @property
    def job_name(self) -> str:
        return getattr(self.job, "__name__", repr(self.job))

    @property
    def job_path(self) -> str:
        return f"{self.job.__module__}.{self.job.__qualname__}"

    @property
    def schedule_id(self) -> str:
        """Deterministic id: a restart finds the same schedule instead of adding a second one.

        RQ accepts only letters, digits, ``_`` and ``-`` in a job id; dots become dashes (a Python
        module or function name never holds a dash, so two paths cannot meet).
        """
        return SCHEDULE_ID_PREFIX + self.job_path.replace(".", "-")

    @property
    def spec(self) -> str:
        """What the schedule says, compared at reconcile time to spot a changed declaration."""
        when = f"every={int(self.every.total_seconds())}s" if self.every else f"cron={self.cron}"
        return f"{self.job_path}|{when}|{self.queue}"

    @property
    def when(self) -> str:
        """For people: ``every 0:00:05`` or ``cron 20 0 * * *``."""
        return f"every {self.every}" if self.every else f"cron {self.cron}"


@dataclass(frozen=True)
class JobCatalog:
    """What an app runs in the background: every job by name (the core's, and those of every declared
    plugin, enabled or not, so a job queued before a flag went off still resolves), the names of jobs
    whose plugin is off, and the schedules to keep: the core's and the enabled plugins'."""

    jobs: Mapping[str, Callable[..., Any]]
    schedules: tuple[Schedule, ...] = ()
    switched_off: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for schedule in self.schedules:
            if schedule.schedule_id in seen:
                raise ScheduleError(f"job {schedule.job_path} is scheduled twice")
            seen.add(schedule.schedule_id)

    def get(self, name: str) -> Callable[..., Any] | None:
        return self.jobs.get(name)

    def is_switched_off(self, name: str) -> bool:
        """Whether job ``name`` belongs to a plugin that is off (it then does nothing when run)."""
        return name in self.switched_off

    def schedule_of(self, name: str) -> Schedule | None:
        return next((s for s in self.schedules if s.job_name == name), None)


def install_catalog(app: Flask, catalog: JobCatalog) -> None:
    app.extensions[CATALOG_KEY] = catalog


def job_catalog(app: Flask | None = None) -> JobCatalog:
    """The catalog ``create_app`` installed on ``app`` (default: the current app)."""
    return (app or current_app).extensions[CATALOG_KEY]

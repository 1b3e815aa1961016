"""Click jobs: moving captured clicks into the database."""

from __future__ import annotations

JOBS: tuple = ()
SCHEDULES: tuple = ()

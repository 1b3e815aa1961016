"""Money jobs: click earnings accrual, weekly payout proposals."""

from __future__ import annotations

JOBS: tuple = ()
SCHEDULES: tuple = ()

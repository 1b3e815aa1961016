"""Core job functions, run by RQ workers (or ``flask jobs run NAME``). Each returns what it did.

One module per concern; each declares ``JOBS`` and ``SCHEDULES`` (the plugin contract's data types).
"""

from contentflow.jobs import accounts, assets, clicks, money
from contentflow.jobs.accounts import deliver_mail, purge_expired_magic_links
from contentflow.jobs.assets import ingest_asset

CORE_JOBS = (*accounts.JOBS, *assets.JOBS, *clicks.JOBS, *money.JOBS)
CORE_SCHEDULES = (*accounts.SCHEDULES, *assets.SCHEDULES, *clicks.SCHEDULES, *money.SCHEDULES)

__all__ = ["CORE_JOBS", "CORE_SCHEDULES", "deliver_mail", "ingest_asset", "purge_expired_magic_links"]

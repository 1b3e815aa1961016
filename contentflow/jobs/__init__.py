"""Core job functions, run by RQ workers (or ``flask jobs run NAME``). Each returns what it did.

One module per concern; each declares ``JOBS`` and ``SCHEDULES`` (the plugin contract's data types).
"""

from contentflow.jobs import accounts, clicks, money
from contentflow.jobs.accounts import deliver_mail, purge_expired_magic_links

CORE_JOBS = (*accounts.JOBS, *clicks.JOBS, *money.JOBS)
CORE_SCHEDULES = (*accounts.SCHEDULES, *clicks.SCHEDULES, *money.SCHEDULES)

__all__ = ["CORE_JOBS", "CORE_SCHEDULES", "deliver_mail", "purge_expired_magic_links"]

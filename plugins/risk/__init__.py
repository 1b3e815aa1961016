"""risk: fraud rules that hold partners through the core holds service (click velocity, one IP clicking
many partners' links, sales too fast after their click), each a scheduled job, and the operator pages
at ``/ops`` (held partners with lift and extend, large payouts waiting for approval, the audit log).

While held (``RISK_HOLD_DAYS`` unless extended or lifted), a partner cannot withdraw nor publish, and
what is credited to them is held: the core payouts, publish and balances services ask the holds service.
"""

from datetime import timedelta

from flask_babel import lazy_gettext as _l

from contentflow.plugin import NavItem, Plugin
from contentflow.queueing import Schedule
from plugins.risk import admin
from plugins.risk.jobs import JOBS, sweep_fast_conversions, sweep_shared_ips, sweep_velocity

plugin = Plugin(
    name="risk",
    blueprints=(admin.bp,),
    nav=(
        NavItem(_l("Holds"), "risk_ops.holds_page", "admin", 50),
        NavItem(_l("Pending payouts"), "risk_ops.pending_payouts", "admin", 52),
        NavItem(_l("Audit log"), "risk_ops.audit_page", "admin", 54),
    ),
    jobs=JOBS,
    schedules=(
        Schedule(sweep_velocity, every=timedelta(minutes=1)),
        Schedule(sweep_shared_ips, every=timedelta(minutes=5)),
        Schedule(sweep_fast_conversions, every=timedelta(minutes=15)),
    ),
)

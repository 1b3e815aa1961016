"""monitoring: the admin dashboard at ``/admin/monitoring`` (seed 004): revenue, clicks, conversions and
EPC, the network's balances, the publishing queue, holds, postbacks, partners and the current offer, the
health of queues, workers, schedules and the click stream, and charts.

Figures come from daily rollups that ``refresh_monitoring`` (every minute) keeps up to date from marks
the database writes with every change (``services.rollups``), so a view never scans the click table.
Cards of other plugins come through the core hook ``monitoring.cards``; this plugin answers none.
"""

from datetime import timedelta

from flask_babel import lazy_gettext as _l

from contentflow.plugin import NavItem, Plugin
from contentflow.queueing import Schedule
from plugins.monitoring import cli, views
from plugins.monitoring.jobs import refresh_monitoring

plugin = Plugin(
    name="monitoring",
    blueprints=(views.bp,),
    nav=(NavItem(_l("Monitoring"), "monitoring.dashboard", "admin", 1),),
    jobs=(refresh_monitoring,),
    schedules=(Schedule(refresh_monitoring, every=timedelta(minutes=1)),),
    setup=cli.register_cli,
)

"""support: tickets with messages. The FAQ bot answers at once, in the ticket's language, payout
questions with the partner's real balances (core balances service), sign-in and DMCA questions with the
procedure; anything else goes to a person. Admins answer (the owner is e-mailed through the core outbox)
and close; idle tickets close themselves (``close_idle_tickets``).
"""

from datetime import timedelta

from flask import render_template
from flask_babel import lazy_gettext as _l

from contentflow.plugin import NavItem, Plugin
from contentflow.queueing import Schedule
from plugins.support import admin, views
from plugins.support.jobs import close_idle_tickets


def render_landing_link() -> str:
    """The public landing's pointer to the support form, for visitors with a question."""
    return render_template("support/_landing_link.html")


plugin = Plugin(
    name="support",
    blueprints=(views.bp, admin.bp),
    nav=(
        NavItem(_l("Support"), "support.tickets_page", "partner", 80),
        NavItem(_l("Support inbox"), "support_admin.inbox", "admin", 48),
    ),
    jobs=(close_idle_tickets,),
    schedules=(Schedule(close_idle_tickets, every=timedelta(hours=1)),),
    slots={"landing.pitch": render_landing_link},
)

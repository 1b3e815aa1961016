"""publish: partners connect their YouTube, Pinterest, Reddit and Instagram accounts (OAuth 2), and the
approved assignments are posted there with their own credentials, within their caps, each exactly once,
each carrying the partner's short link and the #ad disclosure.

It answers the core's ``assignments.create_for`` hook, so another plugin (BYOP) asks for assignments
without importing this one.
"""

from datetime import timedelta

from flask_babel import lazy_gettext as _l

from contentflow.plugin import NavItem, Plugin
from contentflow.queueing import Schedule
from plugins.publish import admin, cli, views
from plugins.publish.jobs import publish_due
from plugins.publish.services import queue

plugin = Plugin(
    name="publish",
    blueprints=(views.bp, admin.bp),
    nav=(
        NavItem(_l("My accounts"), "publish.accounts_page", "partner", 20),
        NavItem(_l("My publishing queue"), "publish.queue_page", "partner", 25),
        NavItem(_l("Publishing"), "publish_admin.home", "admin", 35),
    ),
    jobs=(publish_due,),
    schedules=(Schedule(publish_due, every=timedelta(minutes=1), queue="publish"),),
    hooks={"assignments.create_for": queue.create_for_hook},
    setup=cli.register_cli,
)

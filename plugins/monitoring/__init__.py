"""monitoring: the admin dashboard of revenue, clicks, queues and health.

Declared here so flags, schema and menu are known from the start; its pages and jobs come with the
feature's own issue.
"""

from flask import Blueprint

from contentflow.plugin import Plugin

blueprint = Blueprint("monitoring", __name__, url_prefix="/monitoring")

plugin = Plugin(name="monitoring", blueprints=(blueprint,))

"""support: tickets, the FAQ bot, admin answers, auto-close.

Declared here so flags, schema and menu are known from the start; its pages and jobs come with the
feature's own issue.
"""

from flask import Blueprint

from contentflow.plugin import Plugin

blueprint = Blueprint("support", __name__, url_prefix="/support")

plugin = Plugin(name="support", blueprints=(blueprint,))

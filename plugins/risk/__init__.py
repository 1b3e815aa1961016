"""risk: click-velocity sweep and other fraud rules feeding the core holds service.

Declared here so flags, schema and menu are known from the start; its pages and jobs come with the
feature's own issue.
"""

from flask import Blueprint

from contentflow.plugin import Plugin

blueprint = Blueprint("risk", __name__, url_prefix="/risk")

plugin = Plugin(name="risk", blueprints=(blueprint,))

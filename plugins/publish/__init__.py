"""publish: connected accounts (OAuth 2) and posting approved assignments to each platform.

Declared here so flags, schema and menu are known from the start; its pages and jobs come with the
feature's own issue.
"""

from flask import Blueprint

from contentflow.plugin import Plugin

blueprint = Blueprint("publish", __name__, url_prefix="/publish")

plugin = Plugin(name="publish", blueprints=(blueprint,))

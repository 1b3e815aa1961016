"""sharekit: the kit page (short link, share text, intents, e-mail share) and the share log.

Declared here so flags, schema and menu are known from the start; its pages and jobs come with the
feature's own issue.
"""

from flask import Blueprint

from contentflow.plugin import Plugin

blueprint = Blueprint("sharekit", __name__, url_prefix="/sharekit")

plugin = Plugin(name="sharekit", blueprints=(blueprint,))

"""byop: bring your own post: submissions and the "publish on my accounts" button.

Declared here so flags, schema and menu are known from the start; its pages and jobs come with the
feature's own issue.
"""

from flask import Blueprint

from contentflow.plugin import Plugin

blueprint = Blueprint("byop", __name__, url_prefix="/byop")

plugin = Plugin(name="byop", blueprints=(blueprint,))

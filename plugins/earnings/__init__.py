"""earnings: offer pitch, leaderboard, earnings page from the ledger, withdraw form, FAQ, referral.

Declared here so flags, schema and menu are known from the start; its pages and jobs come with the
feature's own issue.
"""

from flask import Blueprint

from contentflow.plugin import Plugin

blueprint = Blueprint("earnings", __name__, url_prefix="/earnings")

plugin = Plugin(name="earnings", blueprints=(blueprint,))

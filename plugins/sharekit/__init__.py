"""sharekit: the kit a partner shares from: their short link, the share text with #ad, WhatsApp / Telegram
/ X intents, a copy button, a QR code, e-mail shares to contacts who agreed (with a one-click
unsubscribe), and the log of every share (seed 001's ``/byop/kit``, ``/byop/log``, ``/byop/email``; the
same kit at ``/share/<asset id>`` for any asset the partner has a link for).

It finds a BYOP submission's asset through the core's ``submissions.asset_of`` hook (never importing
BYOP) and renders the ``kit.actions`` slot, where BYOP puts its publish button.
"""

from contentflow.plugin import Plugin
from plugins.sharekit import views

plugin = Plugin(
    name="sharekit",
    blueprints=(views.bp, views.share_bp),
    slots={"portal.cards": views.render_portal_card},
)

"""byop: bring your own post. A partner's own post (a video URL or none, a title, a text, hashtags, a call
to action) becomes an asset promoting an offer with the partner's revenue share, which the share kit
shares and "publish on my accounts" sends to the partner's connected accounts (seeds 000 and 001).

It answers the core's ``submissions.asset_of`` hook (the share kit finds a submission's asset through it)
and fills the ``kit.actions`` slot with the publish button; it asks the core's ``assignments.create_for``
for assignments: it imports neither plugin.
"""

from flask_babel import lazy_gettext as _l

from contentflow.plugin import NavItem, Plugin
from plugins.byop import services, views

plugin = Plugin(
    name="byop",
    blueprints=(views.bp, views.api),
    nav=(
        NavItem(_l("Bring your own post"), "byop.new", "partner", 30),
        NavItem(_l("My posts"), "byop.submissions", "partner", 31),
    ),
    slots={"kit.actions": views.render_publish_button},
    hooks={"submissions.asset_of": services.asset_of},
)

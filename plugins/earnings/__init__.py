"""earnings: the offer pitch on the public landing, the anonymised leaderboard, the partner's earnings
page from the ledger (charts, entries, CSV) with the withdraw form, the FAQ, and the referral bonus
(seed 002's ``/partners/...`` URLs).

Every figure comes from the core's ledger and balances services; withdrawals go through the core's
``payouts.request_withdrawal``. It fills the core's ``landing.pitch`` slot; referral codes are core
(``partners.referral_code``), the bonus is this plugin's scheduled job.
"""

from datetime import timedelta

from flask_babel import lazy_gettext as _l

from contentflow.plugin import NavItem, Plugin
from contentflow.queueing import Schedule
from plugins.earnings import views
from plugins.earnings.jobs import award_referral_bonuses

plugin = Plugin(
    name="earnings",
    blueprints=(views.bp,),
    nav=(
        NavItem(_l("Earnings"), "earnings.earnings_page", "partner", 80),
        NavItem(_l("Leaderboard"), "earnings.leaderboard", "partner", 81),
        NavItem(_l("FAQ"), "earnings.faq", "partner", 82),
    ),
    jobs=(award_referral_bonuses,),
    schedules=(Schedule(award_referral_bonuses, every=timedelta(minutes=15), queue="periodic"),),
    slots={"landing.pitch": views.render_pitch},
)

"""The FAQ bot: which topic a ticket is about and in which language (French and English keywords, accents
and case ignored), and its answer, with the partner's real balances for payout questions.

Read-only: it asks the core balances and holds services and the settings, and writes nothing.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime

from flask import current_app
from flask_babel import force_locale, format_date, format_percent
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from contentflow.money import format_money, to_cents
from contentflow.services import balances, holds

#: Topics in the order they win when a message names several: a takedown notice is a legal matter, and
#: a partner who cannot sign in cannot reach their balance either.
TOPIC_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "dmca",
        (
            "dmca", "copyright", "copyrighted", "takedown", "take down", "infringement", "infringing",
            "droit d auteur", "droits d auteur", "contrefacon", "plagiat", "retrait de contenu",
        ),
    ),
    (
        "login",
        (
            "login", "log in", "sign in", "signin", "magic link", "password", "cannot access my account",
            "connexion", "connecter", "connecte", "se connecter", "lien magique", "lien de connexion",
            "mot de passe", "identifiant",
        ),
    ),
    (
        "payout",
        (
            "payout", "payouts", "payment", "payments", "paid", "pay", "withdraw", "withdrawal",
            "withdrawals", "balance", "money", "earnings", "reserve", "reserved",
            "paiement", "paiements", "payer", "paye", "payes", "versement", "versements", "virement",
            "virements", "retrait", "retraits", "retirer", "solde", "argent", "gains",
        ),
    ),
)  # fmt: skip
#: Small words that tell the two languages apart (after normalisation: no accents, lower case).
FRENCH_WORDS = frozenset(
    "le la les je j mon ma mes est pas pour une et comment quand pourquoi bonjour merci ne que qui avec "
    "vous ai du des de sur mais ou suis combien votre puis faire mais toujours rien recu".split()
)
ENGLISH_WORDS = frozenset(
    "the i my is not for an and how when why hello hi thanks thank you what can do does with have am "
    "your to of where get please cant dont it still nothing received".split()
)
METHOD_LABELS = {"paypal": _l("PayPal"), "bank": _l("Bank transfer (IBAN)")}
_NOT_A_WORD = re.compile(r"[^0-9a-z]+")


def normalize(text: str) -> str:
    """``text`` without accents, in lower case, words separated by single spaces (``Réservé !`` ->
    ``reserve``): how keywords are compared."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    bare = "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()
    return _NOT_A_WORD.sub(" ", bare).strip()


def detect_topic(text: str) -> str:
    """``dmca``, ``login``, ``payout`` (the first of them whose keyword appears as whole words), else
    ``other``."""
    padded = f" {normalize(text)} "
    for topic, keywords in TOPIC_KEYWORDS:
        if any(f" {keyword} " in padded for keyword in keywords):
            return topic
    return "other"


def detect_locale(text: str, default: str) -> str:
    """``fr`` or ``en``, whichever language's small words ``text`` uses more; ``default`` on a tie."""
    words = normalize(text).split()
    french = sum(word in FRENCH_WORDS for word in words)
    english = sum(word in ENGLISH_WORDS for word in words)
    if french == english:
        return default if default in ("fr", "en") else "fr"
    return "fr" if french > english else "en"


def answer(topic: str, locale: str, partner_id: str | None, *, now: datetime) -> str:
    """The bot's message for a new ticket on ``topic``, in ``locale``. Payout answers carry the partner's
    own balances only for a signed-in partner (``partner_id``); a visitor is told where to sign in."""
    with force_locale(locale):
        if topic == "payout":
            return _payout_answer(partner_id, now=now)
        if topic == "login":
            return _login_answer()
        if topic == "dmca":
            return _dmca_answer()
        return _("Thank you: your message is with the team. A person will answer here, usually within a day.")


def _url(path: str) -> str:
    return f"{current_app.config['PUBLIC_BASE_URL']}{path}"


def _payout_rules() -> str:
    config = current_app.config
    methods = ", ".join(str(METHOD_LABELS.get(m, m)) for m in config["PAYOUT_METHODS"])
    days = config["PAYOUT_RELEASE_DAYS"]
    return "\n".join(
        (
            _(
                "Withdrawals: at least %(minimum)s, by %(methods)s, from %(url)s. From %(threshold)s an "
                "admin approves the payout first; proposals are made every Monday.",
                minimum=format_money(to_cents(config["PAYOUT_MIN_EUR"])),
                methods=methods,
                url=_url("/partner/payout"),
                threshold=format_money(to_cents(config["PAYOUT_APPROVAL_THRESHOLD_EUR"])),
            ),
            _(
                "A reserve of %(percent)s of what you earned in the last %(days)d days is kept back; each "
                "part is released %(days)d days after it was credited.",
                percent=format_percent(config["PAYOUT_RESERVE_PCT"]),
                days=days,
            ),
        )
    )


def _payout_answer(partner_id: str | None, *, now: datetime) -> str:
    if partner_id is None:
        return "\n".join(
            (_payout_rules(), _("Sign in to see your own balances: %(url)s", url=_url("/partners")))
        )
    figures = balances.get_balances(partner_id, now=now)
    lines = [
        _(
            "Your balance now: %(available)s available, %(reserved)s reserved.",
            available=format_money(figures.available_cents),
            reserved=format_money(figures.reserved_cents),
        )
    ]
    if figures.releases:
        first = figures.releases[0]
        lines.append(
            _(
                "Next release of the reserve: %(amount)s on %(day)s.",
                amount=format_money(first.amount_cents),
                day=format_date(first.on, "long"),
            )
        )
    if holds.is_on_hold(partner_id, now=now):
        lines.append(
            _(
                "Your account is on hold: withdrawals are paused and what is credited meanwhile is kept "
                "until the hold ends. Reply here if you think it is a mistake."
            )
        )
    lines.append(_payout_rules())
    return "\n".join(lines)


def _login_answer() -> str:
    return _(
        "To sign in, enter your e-mail at %(url)s: we send you a sign-in link, valid %(minutes)d minutes "
        "and once only. No e-mail? Look in your spam folder, then ask for a new link.",
        url=_url("/partners"),
        minutes=current_app.config["MAGIC_LINK_TTL_MINUTES"],
    )


def _dmca_answer() -> str:
    return _(
        "Copyright (DMCA) notice: reply here with the link of the post or short link, the work you own, "
        "proof that it is yours, your contact details, and a statement that you act in good faith. The team "
        "quarantines the video while checking (its links stop working at once) and answers within 72 hours."
    )

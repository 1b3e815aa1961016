"""The FAQ bot reads French and English, accents and case ignored, and picks the topic and language."""

from __future__ import annotations

import pytest

from plugins.support.services import faq


def test_normalize_drops_accents_case_and_punctuation():
    assert faq.normalize("  Où est mon RÉSERVÉ ?! ") == "ou est mon reserve"


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("Quand arrive mon PAIEMENT ?", "payout"),
        ("Mon virement n'est pas arrivé", "payout"),
        ("When is my payout?", "payout"),
        ("How do I withdraw my balance", "payout"),
        ("Je n'arrive pas à me CONNECTER", "login"),
        ("Le lien de connexion a expiré", "login"),
        ("I cannot sign in", "login"),
        ("Violation de mes droits d'auteur", "dmca"),
        ("DMCA takedown notice", "dmca"),
        ("Copyright: this video is mine, and I want my payout stopped", "dmca"),
        ("Bonjour, une idée de vidéo", "other"),
        ("paypal", "other"),
    ],
)
def test_topic_is_found_by_whole_keywords_in_either_language(text, topic):
    assert faq.detect_topic(text) == topic


@pytest.mark.parametrize(
    ("text", "default", "locale"),
    [
        ("Bonjour, où est mon paiement ?", "en", "fr"),
        ("Hello, where is my payout?", "fr", "en"),
        ("payout", "en", "en"),
        ("payout", "fr", "fr"),
    ],
)
def test_language_is_the_one_the_text_is_written_in_else_the_default(text, default, locale):
    assert faq.detect_locale(text, default) == locale

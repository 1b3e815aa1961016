"""French is the default language, English the second: catalogs complete, compiled, and used."""

from __future__ import annotations

import io
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

from tests.conftest import sign_in

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "contentflow" / "translations" / "fr" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}
METHODS = [
    ("contentflow/**.py", "python"),
    ("plugins/**.py", "python"),
    ("templates/**.html", "jinja2"),
    ("plugins/**/templates/**.html", "jinja2"),
]


def french_catalog():
    with PO.open("rb") as handle:
        return read_po(handle, locale="fr")


def test_every_message_in_the_code_has_a_french_translation():
    catalog = french_catalog()
    found = {
        message[2] if isinstance(message[2], str) else message[2][0]
        for message in extract_from_dir(str(ROOT), METHODS, keywords=KEYWORDS)
    }
    untranslated = sorted(msgid for msgid in found if not (catalog.get(msgid) and catalog.get(msgid).string))
    assert untranslated == [], "run pybabel extract/update and translate: see README, Translations"


def test_compiled_catalog_matches_the_po_file():
    compiled = io.BytesIO()
    write_mo(compiled, french_catalog())
    compiled.seek(0)
    expected = {m.id: m.string for m in read_mo(compiled) if m.id}
    with MO.open("rb") as handle:
        shipped = {m.id: m.string for m in read_mo(handle) if m.id}
    assert shipped == expected, "run pybabel compile -d contentflow/translations"


def test_landing_is_in_french_without_accept_language(client, db):
    page = client.browser_language(None).get("/partners").get_data(as_text=True)
    assert '<html lang="fr">' in page
    assert "Recevoir mon lien de connexion" in page


def test_landing_is_in_english_for_a_browser_asking_for_english(client, db):
    page = client.get("/partners", headers={"Accept-Language": "en-GB,en;q=0.9"}).get_data(as_text=True)
    assert '<html lang="en">' in page
    assert "Send me a sign-in link" in page


def test_portal_greets_the_partner_in_french_by_default(client, partner, db):
    sign_in(client.browser_language(None), partner)
    assert "Bonjour Pat" in client.get("/partner/portal").get_data(as_text=True)


def test_partner_choice_of_english_beats_a_french_browser(client, make_partner, db):
    sign_in(client, make_partner("en@example.com", display_name="Sam", locale="en"))
    page = client.get("/partner/portal", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert "Hello Sam" in page

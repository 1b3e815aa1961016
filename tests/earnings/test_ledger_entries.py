"""The earnings page's ledger: newest entries first, 25 a page (htmx: the section alone), a bad or stale
``?page=`` never a 500, and the whole ledger as CSV (signed euros, the partner's own entries only,
memos a spreadsheet would run defused)."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest

from contentflow.services import ledger
from tests.earnings.conftest import NOW, english

HTMX = {"HX-Request": "true"}


@pytest.fixture
def long_ledger(funded, make_entry):
    """30 entries after the funding one: 31 in all, two pages of 25."""
    for number in range(30):
        make_entry(funded, 100 + number, kind="click_earnings", at=NOW - timedelta(days=40, minutes=-number))
    return funded


def test_ledger_shows_the_newest_entries_first_on_page_one(partner_client, long_ledger):
    page = partner_client.get("/partners/earnings").get_data(as_text=True)

    section = re.search(r'<section id="earnings-entries".*?</section>', page, re.S).group(0)
    assert section.count('<tr data-kind="click_earnings">') == 25
    assert section.index(english(129)) < section.index(english(128))
    assert 'rel="next"' in section and 'rel="prev"' not in section


def test_ledger_page_two_over_htmx_answers_the_partial_with_the_rest(partner_client, long_ledger):
    response = partner_client.get("/partners/earnings/entries?page=2", headers=HTMX)

    page = response.get_data(as_text=True)
    assert page.startswith('<section id="earnings-entries"')
    assert page.count("<tr data-kind=") == 6  # 5 click earnings and the funding sale
    assert 'rel="prev"' in page and 'rel="next"' not in page


def test_ledger_page_two_as_a_plain_request_answers_the_whole_page(partner_client, long_ledger):
    page = partner_client.get("/partners/earnings/entries?page=2").get_data(as_text=True)
    assert "<html" in page and page.count("<tr data-kind=") >= 6


@pytest.mark.parametrize("raw", ["0", "-1", "abc", "99999999999", "²", "١"])
@pytest.mark.parametrize("path", ["/partners/earnings", "/partners/earnings/entries"])
def test_bad_page_number_shows_page_one(partner_client, long_ledger, raw, path):
    response = partner_client.get(f"{path}?page={raw}")

    assert response.status_code == 200
    section = re.search(r'<section id="earnings-entries".*?</section>', response.get_data(as_text=True), re.S)
    assert section.group(0).count("<tr data-kind=") == 25


def test_page_past_the_end_shows_the_last_page(partner_client, long_ledger):
    page = partner_client.get("/partners/earnings/entries?page=40", headers=HTMX).get_data(as_text=True)

    assert page.count("<tr data-kind=") == 6
    assert "Page 2" in page and 'rel="next"' not in page
    assert 'hx-get="/partners/earnings/entries?page=1"' in page


def test_csv_export_holds_every_entry_with_signed_euros(partner_client, seeded):
    response = partner_client.get("/partners/earnings/ledger.csv")

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == len(ledger.list_entries(seeded.id))
    assert [row["amount_eur"] for row in rows] == ["100.00", "12.34", "20.00", "-3.00", "-25.00", "-15.00"]
    assert sum(int(row["amount_eur"].replace(".", "")) for row in rows) == sum(
        entry.amount_cents for entry in ledger.list_entries(seeded.id)
    )


def test_csv_export_defuses_memos_a_spreadsheet_would_run(partner_client, db, funded, admin):
    ledger.adjust_balance(funded.id, 100, '=HYPERLINK("http://x")', admin, "a" * 32)
    db.session.commit()

    rows = list(
        csv.DictReader(
            io.StringIO(partner_client.get("/partners/earnings/ledger.csv").get_data(as_text=True))
        )
    )

    assert rows[-1]["memo"] == '\'=HYPERLINK("http://x")'


def test_csv_export_holds_only_the_partners_own_entries(partner_client, funded, make_partner, make_entry):
    make_entry(make_partner("stranger@example.com"), 4_242)

    body = partner_client.get("/partners/earnings/ledger.csv").get_data(as_text=True)

    assert "42.42" not in body
    assert body.count("\r\n") == 2  # the header and the funding entry

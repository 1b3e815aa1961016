"""The public leaderboard: top 20 by billable clicks or by ledger earnings over 1-90 days, masked labels
only, ties sharing a rank, the signed-in partner's row highlighted, bad ``days`` clamped with a note."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from contentflow.services import links
from plugins.earnings.services import leaderboard
from plugins.earnings.services.labels import mask_email
from tests.conftest import add_click, sign_in

NOW = datetime.now(UTC)


@pytest.fixture
def asset(make_asset, make_offer):
    return make_asset(offer=make_offer())


def clicks(db, partner, asset, count: int, *, at: datetime | None = None, billable: bool = True) -> None:
    for _ in range(count):
        add_click(db, partner, asset, at or NOW - timedelta(hours=1), billable=billable)


def rows_of(page: str) -> list[tuple[str, str, str]]:
    """(rank, label, value) of each row of the leaderboard table, in order."""
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    cells = re.findall(r"<tr[^>]*>\s*<td>(\d+)</td>\s*<td>(.*?)</td>\s*<td>(.*?)</td>", body, re.S)
    return [
        (rank, re.sub(r"<[^>]+>|\s*\(you\)", "", label).strip(), value.strip())
        for rank, label, value in cells
    ]


# --- masking --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "shown"),
    [
        ("abcdef@gmail.com", "ab…f@gmail.com"),
        ("abcd@example.org", "ab…d@example.org"),
        ("abc@gmail.com", "a…@gmail.com"),
        ("a@gmail.com", "a…@gmail.com"),
        ("not-an-address", "…"),
        ("", "…"),
    ],
)
def test_mask_email_keeps_two_first_and_last_characters_of_long_local_parts_only(email, shown):
    assert mask_email(email) == shown


# --- days --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "days", "note"),
    [
        (None, 7, None),
        ("", 7, None),
        ("30", 30, None),
        ("1", 1, None),
        ("90", 90, None),
        ("0", 1, "too_short"),
        ("-5", 1, "too_short"),
        ("91", 90, "too_long"),
        ("100000000000000000000", 90, "too_long"),
        ("1" * 5000, 90, "too_long"),  # more digits than int() converts
        ("-" + "9" * 5000, 1, "too_short"),
        ("+30", 30, None),
        ("007", 7, None),
        ("abc", 7, "not_a_number"),
        ("7.5", 7, "not_a_number"),
        ("1_0", 7, "not_a_number"),
        ("٣٠", 7, "not_a_number"),
        ("-", 7, "not_a_number"),
    ],
)
def test_days_are_clamped_to_one_to_ninety_with_a_note(raw, days, note):
    assert leaderboard.clamp_days(raw) == leaderboard.Period(days, note)


@pytest.mark.parametrize(("raw", "days"), [("0", 1), ("500", 90), ("many", 7)])
def test_page_with_days_out_of_range_answers_200_with_the_note(client, db, raw, days):
    response = client.get(f"/partners/leaderboard?days={raw}")

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert f'data-days="{days}"' in page
    assert "data-note=" in page


def test_page_with_days_in_range_shows_no_note(client, db):
    page = client.get("/partners/leaderboard?days=30").get_data(as_text=True)
    assert 'data-days="30"' in page
    assert "data-note=" not in page


# --- ordering ----------------------------------------------------------------------------------------


def test_board_by_clicks_orders_partners_by_billable_clicks(db, make_partner, asset):
    few, many, middle = (
        make_partner("few@example.com"),
        make_partner("many@example.com"),
        make_partner("mid@example.com"),
    )
    clicks(db, few, asset, 1)
    clicks(db, many, asset, 5)
    clicks(db, middle, asset, 3)
    clicks(db, few, asset, 10, billable=False)  # repeats and bots are not billed: not counted

    board = leaderboard.top_partners("clicks", 7)

    assert [(row.rank, row.label, row.value) for row in board.rows] == [
        (1, "ma…y@example.com", 5),
        (2, "m…@example.com", 3),
        (3, "f…@example.com", 1),
    ]


def test_board_by_earnings_orders_partners_by_ledger_earnings_in_the_period(db, make_partner, make_entry):
    rich, poor, old = (
        make_partner("rich@example.com"),
        make_partner("poor@example.com"),
        make_partner("old@example.com"),
    )
    make_entry(rich, 3_000, at=NOW - timedelta(days=1))
    make_entry(rich, -500, kind="reversal", at=NOW - timedelta(hours=2))
    make_entry(poor, 1_000, kind="click_earnings", at=NOW - timedelta(days=2))
    make_entry(old, 9_000, at=NOW - timedelta(days=8))  # before the 7 days

    board = leaderboard.top_partners("earnings", 7)

    assert [(row.label, row.value) for row in board.rows] == [
        ("ri…h@example.com", 2_500),
        ("po…r@example.com", 1_000),
    ]


def test_withdrawals_are_not_earnings_on_the_board(db, funded, make_entry):
    make_entry(funded, -2_000, kind="withdrawal", at=NOW - timedelta(hours=1))
    make_entry(funded, 700, kind="click_earnings", at=NOW - timedelta(hours=1))

    assert [row.value for row in leaderboard.top_partners("earnings", 7).rows] == [700]


def test_partners_with_the_same_figure_share_a_rank(db, make_partner, asset):
    for email, count in (("anna@example.com", 4), ("bert@example.com", 4), ("cleo@example.com", 2)):
        clicks(db, make_partner(email), asset, count)

    assert [row.rank for row in leaderboard.top_partners("clicks", 7).rows] == [1, 1, 3]


def test_board_lists_twenty_partners_at_most(db, make_partner, asset):
    for number in range(22):
        clicks(db, make_partner(f"p{number:02d}@example.com"), asset, 1)

    assert len(leaderboard.top_partners("clicks", 7).rows) == 20


def test_suspended_partner_is_left_off_the_board(db, make_partner, asset):
    clicks(db, make_partner("gone@example.com", status="suspended"), asset, 9)
    clicks(db, make_partner("here@example.com"), asset, 1)

    assert [row.label for row in leaderboard.top_partners("clicks", 7).rows] == ["he…e@example.com"]


def test_clicks_older_than_the_period_are_not_counted(db, partner, asset):
    clicks(db, partner, asset, 2, at=NOW - timedelta(days=3))

    assert leaderboard.top_partners("clicks", 2).rows == ()
    assert [row.value for row in leaderboard.top_partners("clicks", 4).rows] == [2]


# --- the page ------------------------------------------------------------------------------------------


def test_page_shows_masked_labels_and_never_a_partner_id_or_link_code(
    client, db, partner, make_partner, asset
):
    other = make_partner("someone.else@example.com")
    link = links.get_or_create_link(other.id, asset.id)
    db.session.commit()
    clicks(db, other, asset, 3)

    page = client.get("/partners/leaderboard").get_data(as_text=True)

    assert rows_of(page) == [("1", "so…e@example.com", "3")]
    assert "someone.else@example.com" not in page
    for secret in (other.id, link.code, other.referral_code):
        assert secret not in page


@pytest.mark.parametrize("by", ["clicks", "earnings"])
def test_signed_in_partners_page_holds_no_id_or_link_code_of_anyone(
    client, db, partner, make_partner, make_entry, asset, by
):
    other = make_partner("someone.else@example.com")
    links_made = [links.get_or_create_link(someone.id, asset.id) for someone in (partner, other)]
    db.session.commit()
    for someone in (partner, other):
        clicks(db, someone, asset, 2)
        make_entry(someone, 300, kind="click_earnings", at=NOW - timedelta(hours=2))
    sign_in(client, partner)

    for headers in ({}, {"HX-Request": "true"}):
        page = client.get(f"/partners/leaderboard?by={by}", headers=headers).get_data(as_text=True)

        assert len(rows_of(page)) == 2
        for secret in (partner.id, other.id, *(link.code for link in links_made)):
            assert secret not in page
        assert other.referral_code not in page and "someone.else@example.com" not in page


def test_page_by_earnings_shows_money(client, db, funded, make_entry):
    make_entry(funded, 1_250, kind="click_earnings", at=NOW - timedelta(hours=3))

    page = client.get("/partners/leaderboard?by=earnings").get_data(as_text=True)

    assert rows_of(page) == [("1", "p…@example.com", "€12.50")]


def test_unknown_metric_falls_back_to_clicks(client, db):
    page = client.get("/partners/leaderboard?by=<script>").get_data(as_text=True)
    assert 'data-metric="clicks"' in page
    assert "<script>" not in page


def test_signed_in_partner_sees_their_own_row_highlighted(client, db, partner, make_partner, asset):
    clicks(db, make_partner("first@example.com"), asset, 5)
    clicks(db, partner, asset, 2)
    sign_in(client, partner)

    page = client.get("/partners/leaderboard").get_data(as_text=True)

    mine = re.search(r'<tr aria-current="true">(.*?)</tr>', page, re.S)
    assert mine and "<mark><strong>p…@example.com</strong></mark>" in mine.group(1)
    assert page.count('<tr aria-current="true">') == 1


def test_signed_in_partner_outside_the_top_sees_their_rank_below_it(db, partner, make_partner, asset):
    for number in range(3):
        clicks(db, make_partner(f"top{number}@example.com"), asset, 5)
    clicks(db, partner, asset, 1)

    board = leaderboard.top_partners("clicks", 7, me_id=partner.id, size=2)

    assert [row.is_me for row in board.rows] == [False, False]
    assert board.own_row == leaderboard.Row(4, "p…@example.com", 1, True)


def test_anonymous_visitor_has_no_highlighted_row(client, db, partner, asset):
    clicks(db, partner, asset, 2)
    assert (
        'aria-current="true">'
        not in client.get("/partners/leaderboard").get_data(as_text=True).split("<table>")[1]
    )


def test_htmx_switch_answers_the_partial_only(client, db, funded, make_entry):
    make_entry(funded, 900, kind="click_earnings", at=NOW - timedelta(hours=3))

    response = client.get("/partners/leaderboard?by=earnings&days=14", headers={"HX-Request": "true"})

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert page.startswith('<section id="earnings-leaderboard"')
    assert "<html" not in page
    assert 'data-metric="earnings" data-days="14"' in page
    assert "HX-Request" in response.headers["Vary"]


def test_plain_request_answers_the_whole_page_with_the_partial(client, db):
    page = client.get("/partners/leaderboard?by=earnings").get_data(as_text=True)
    assert "<html" in page
    assert '<section id="earnings-leaderboard"' in page

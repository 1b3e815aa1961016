"""The leaderboard's ranking cache: a Redis sorted set per metric and period, agreeing with the database,
served until it expires (empty periods too), and the database read instead when Redis is down."""

from __future__ import annotations

from datetime import UTC, datetime

from plugins.earnings.services import leaderboard
from tests.earnings.test_leaderboard import clicks, rows_of


def test_cached_ranking_agrees_with_the_database(db, partner, make_partner, asset):
    for number, count in enumerate((9, 7, 5, 3)):
        clicks(db, make_partner(f"rank{number}@example.com"), asset, count)
    clicks(db, partner, asset, 1)

    cached = leaderboard.top_partners("clicks", 7, me_id=partner.id, size=3)
    direct = leaderboard.top_partners("clicks", 7, me_id=partner.id, size=3, now=datetime.now(UTC))

    assert cached == direct
    assert [row.value for row in cached.rows] == [9, 7, 5]
    assert cached.own_row == leaderboard.Row(5, "p…@example.com", 1, True)


def test_ranking_is_served_from_redis_until_it_expires(db, partner, asset, redis):
    clicks(db, partner, asset, 1)
    leaderboard.top_partners("clicks", 7)
    clicks(db, partner, asset, 2)

    assert [row.value for row in leaderboard.top_partners("clicks", 7).rows] == [1]
    key = f"{leaderboard.CACHE_PREFIX}:clicks:7"
    assert 0 < redis.ttl(key) <= leaderboard.CACHE_SECONDS
    redis.delete(key)  # as when the minute is over
    assert [row.value for row in leaderboard.top_partners("clicks", 7).rows] == [3]


def test_empty_period_is_cached_too(db, redis):
    assert leaderboard.top_partners("earnings", 3).rows == ()
    assert redis.exists(f"{leaderboard.CACHE_PREFIX}:earnings:3")


def test_leaderboard_with_redis_down_reads_the_database(make_app, db, partner, asset):
    clicks(db, partner, asset, 2)

    response = make_app(REDIS_URL="redis://127.0.0.1:1/0").test_client().get("/partners/leaderboard")

    assert response.status_code == 200
    assert rows_of(response.get_data(as_text=True)) == [("1", "p…@example.com", "2")]

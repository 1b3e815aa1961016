"""The development outbox answers only on loopback or to a signed-in admin (a 404 to anyone else), judged
on the address ProxyFix leaves; production has no such page at all (tests/core/test_web.py)."""

from __future__ import annotations

import pytest

from tests.conftest import sign_in

REMOTE = "203.0.113.9"


def outbox(client, remote: str, **headers: str):
    return client.get("/dev/outbox", environ_base={"REMOTE_ADDR": remote}, headers=headers)


@pytest.mark.parametrize("remote", ["127.0.0.1", "127.0.0.53", "::1", "::ffff:127.0.0.1"])
def test_outbox_answers_on_loopback(client, db, remote):
    assert outbox(client, remote).status_code == 200


@pytest.mark.parametrize("remote", [REMOTE, "10.0.0.1", "::ffff:203.0.113.9", "", "not-an-address"])
def test_outbox_is_a_404_to_an_anonymous_visitor_from_elsewhere(client, db, remote):
    assert outbox(client, remote).status_code == 404


def test_outbox_is_a_404_to_a_partner_from_elsewhere(client, db, partner):
    sign_in(client, partner)
    assert outbox(client, REMOTE).status_code == 404


def test_outbox_answers_a_signed_in_admin_from_elsewhere(client, db, admin):
    sign_in(client, admin)
    assert outbox(client, REMOTE).status_code == 200


def test_a_spoofed_forwarded_address_does_not_count_without_a_trusted_proxy(make_app, db):
    client = make_app(TRUSTED_PROXY_HOPS=0).test_client()
    assert outbox(client, REMOTE, **{"X-Forwarded-For": "127.0.0.1"}).status_code == 404


def test_behind_a_trusted_proxy_the_forwarded_client_address_counts(make_app, db):
    client = make_app(TRUSTED_PROXY_HOPS=1).test_client()
    assert outbox(client, "127.0.0.1", **{"X-Forwarded-For": REMOTE}).status_code == 404
    assert outbox(client, "127.0.0.1", **{"X-Forwarded-For": "127.0.0.1"}).status_code == 200

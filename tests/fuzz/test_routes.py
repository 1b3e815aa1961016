"""Zero 500s: every route of the app (read from ``app.url_map``, so a new one is fuzzed without a change
here), every method, hostile path arguments, query strings, forms (url-encoded and multipart) and JSON
bodies, as an anonymous visitor, a signed-in partner and a signed-in admin, every plugin on. Each answer
must be below 500, and a 4xx must say why. Failures are listed together at the end of the run."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given, seed
from hypothesis import strategies as st

from tests.fuzz.conftest import FUZZ, REQUESTS_PER_TEST, WERKZEUG_MULTIPART_LEAK, Visitor
from tests.fuzz.probes import Tally, probes_for, routes_of, send

pytestmark = WERKZEUG_MULTIPART_LEAK


@pytest.mark.parametrize("identity", ["anonymous", "partner", "admin"])
def test_no_route_answers_5xx_to_hostile_input(app, world, client, identity):
    visitor = Visitor(client, {"partner": world.pat, "admin": world.admin}.get(identity))
    routes = routes_of(app, world.pools)
    probes = st.one_of(*(probes_for(route, world.csrf_token) for route in routes))
    tally = Tally()

    @FUZZ
    @seed(zlib.crc32(identity.encode()))  # each identity its own inputs, the same on every run
    @given(probe=probes)
    def fuzz(probe) -> None:
        visitor.reset()
        response = send(visitor.client, probe)
        if probe.raw_path.endswith(b"/logout") and response.status_code < 400:
            visitor.sign_in_again()
        tally.check(probe, response)

    fuzz()
    assert tally.count >= REQUESTS_PER_TEST
    assert not tally.failures, tally.report()

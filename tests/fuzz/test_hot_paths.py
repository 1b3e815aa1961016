"""Zero 500s on the two hot paths, mostly answered below Flask's hooks (``FastRedirect``,
``FastPostback``): ``/l/<code>`` (with and without the seeds' ``?pid=``) and ``/aff/postback`` (GET, form,
JSON and signed JSON), with the real link code, network and secret most of the time so hostile input
gets past the first checks: huge amounts in 0-, 2-, 3- and 4-decimal currencies, replays, NUL bytes,
bytes that are not UTF-8, deep JSON."""

from __future__ import annotations

import hashlib
import hmac
import json

from hypothesis import given, seed
from hypothesis import strategies as st

from tests.fuzz import values
from tests.fuzz.conftest import FUZZ, NETWORK_SECRET, REQUESTS_PER_TEST
from tests.fuzz.probes import Probe, Tally, send

POSTBACK_FIELDS = {
    "network": st.sampled_from(("acme", "acme", "ACME", "other")) | values.text,
    "token": st.sampled_from((NETWORK_SECRET,) * 3 + ("wrong",)) | values.text,
    "txn_id": st.sampled_from(("T1", "T2", "T3")) | values.text,  # few ids: replays and status changes
    "amount": values.amounts | values.amounts | values.numbers,
    "currency": values.currencies,
    "status": st.sampled_from(("pending", "confirmed", "reversed", "approved", "")) | values.text,
}


def link_visits(code: str, asset_id: str, partner_id: str) -> st.SearchStrategy[Probe]:
    codes = values.dirty(st.sampled_from((code, code, asset_id)) | values.text)
    pids = values.dirty(st.sampled_from((partner_id, partner_id, "")) | values.text)
    agents = st.sampled_from(("Mozilla/5.0", "curl/8.0", "", "\u00e9" * 300))

    @st.composite
    def visit(draw) -> Probe:
        probe = Probe(draw(st.sampled_from(("GET", "GET", "HEAD", "POST"))), b"/l/" + draw(codes))
        if draw(st.booleans()):
            probe.query = values.url_encoded([(b"pid", draw(pids))])
        probe.headers["User-Agent"] = draw(agents)
        return probe

    return visit()


def postbacks(subid: str) -> st.SearchStrategy[Probe]:
    names = st.lists(st.sampled_from(sorted(POSTBACK_FIELDS)), max_size=6, unique=True)
    subids = st.sampled_from((subid, subid, "", "a:b:c")) | values.text

    @st.composite
    def postback(draw) -> Probe:
        fields = {name: draw(POSTBACK_FIELDS[name]) for name in draw(names)}
        fields["subid"] = draw(subids)
        pairs = [(name.encode(), draw(values.dirty(st.just(value)))) for name, value in fields.items()]
        kind = draw(st.sampled_from(("get", "get", "form", "json", "signed")))
        probe = Probe("GET" if kind == "get" else "POST", b"/aff/postback")
        if kind == "get":
            probe.query = values.url_encoded(pairs)
        elif kind == "form":
            probe.body = values.url_encoded(pairs).encode()
            probe.content_type = "application/x-www-form-urlencoded"
        else:
            is_object = draw(st.integers(0, 3)) > 0
            probe.body = json.dumps(fields).encode() if is_object else draw(values.json_bodies)
            probe.content_type = "application/json"
        if kind == "signed":
            digest = hmac.new(NETWORK_SECRET.encode(), probe.body or b"", hashlib.sha256).hexdigest()
            probe.headers["X-Signature"] = f"sha256={digest}"
        return probe

    return postback()


def test_hot_paths_answer_no_5xx_to_hostile_input(client, world, redis):
    probes = link_visits(world.link.code, world.asset.id, world.pat.id) | postbacks(world.subid)
    tally = Tally()

    @FUZZ
    @seed(13)  # the same inputs on every run
    @given(probe=probes)
    def fuzz(probe) -> None:
        tally.check(probe, send(client, probe))

    fuzz()
    assert tally.count >= REQUESTS_PER_TEST
    assert not tally.failures, tally.report()

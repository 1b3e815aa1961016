"""Fuzzed requests: what the app exposes (read from ``app.url_map`` and the views' modules), one
hypothesis strategy of requests per route, sending them as a server would, and the tally of answers."""

from __future__ import annotations

import inspect
import json
import re
import sys
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_from_bytes

from flask import Flask
from flask.testing import FlaskClient
from flask_wtf import FlaskForm
from hypothesis import strategies as st
from werkzeug.routing import AnyConverter, IntegerConverter, PathConverter, Rule
from wtforms.fields.core import UnboundField

from tests.fuzz import values

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: A method the route does not take is tried now and then (405).
OTHER_METHODS = ("POST", "GET", "DELETE")
#: Names a view reads from the request itself: ``request.args.get("q")``, ``payload.get("platforms")``.
READ_NAMES = re.compile(r"(?:args|form|values|payload)\.get(?:list)?\(\s*[\"']([A-Za-z_][\w-]*)[\"']")
#: Now and then the path goes off the map: a trailing slash, an extra segment.
PATH_SUFFIXES = st.sampled_from([b""] * 120 + [b"/", b"/x", b"/%00", b"/\xff", b"//"])
NUMBER_FIELDS = ("IntegerField", "DecimalField", "FloatField", "IntegerRangeField", "DecimalRangeField")
MONEY_WORDS = ("amount", "eur", "cpc", "rate", "pct", "max", "price")


@dataclass(frozen=True)
class InputField:
    """A form field, a query argument or a JSON key: its clean values, and on the wire (bytes that may
    not be text)."""

    name: str
    clean: st.SearchStrategy[str]
    is_file: bool = False

    def pairs(self, is_dirty: bool) -> st.SearchStrategy[tuple[bytes, bytes]]:
        wire = values.dirty(self.clean) if is_dirty else self.clean.map(str.encode)
        return st.tuples(st.just(self.name.encode()), wire)


@dataclass(frozen=True)
class Route:
    rule: Rule
    paths: dict[bool, st.SearchStrategy[bytes]]  # clean (False) and hostile (True)
    methods: tuple[str, ...]
    fields: tuple[InputField, ...]


def routes_of(app: Flask, pools: dict[str, list[str]]) -> list[Route]:
    """Every rule of the app: its methods, a strategy for its path, the fields its view may read.
    ``pools`` holds existing values by argument name, so requests also reach the real rows."""
    found = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda rule: (rule.rule, rule.endpoint)):
        parts = re.split(r"<(?:[^<>:]+:)?([^<>]+)>", rule.rule)
        paths = {}
        for is_dirty in (False, True):
            segments = [
                segment_values(part, rule._converters[part], pools, is_dirty)
                if index % 2
                else st.just(part.encode())
                for index, part in enumerate(parts)
            ]
            paths[is_dirty] = st.tuples(*segments, PATH_SUFFIXES).map(b"".join)
        module = sys.modules[app.view_functions[rule.endpoint].__module__]
        fields = tuple(fields_of_module(module, pools))
        found.append(Route(rule, paths, tuple(sorted(rule.methods or ())), fields))
    return found


def fields_of_module(module, pools: dict[str, list[str]]) -> list[InputField]:
    """The fields of the WTForms forms a view's module holds, and the names its code reads."""
    fields: dict[str, InputField] = {}
    forms = {v for v in vars(module).values() if inspect.isclass(v) and issubclass(v, FlaskForm)}
    for form in sorted(forms, key=lambda form: form.__name__):
        for name, unbound in inspect.getmembers(form, lambda v: isinstance(v, UnboundField)):
            fields[name] = field_for(name, unbound, pools)
    for name in READ_NAMES.findall(inspect.getsource(module)):
        fields.setdefault(name, field_for(name, None, pools))
    return [fields[name] for name in sorted(fields)]


def field_for(name: str, unbound: UnboundField | None, pools: dict[str, list[str]]) -> InputField:
    """Hostile text for any field, plus what its type and name call for."""
    kind = unbound.field_class.__name__ if unbound is not None else ""
    lowered = name.lower()
    if "File" in kind:
        return InputField(name, st.binary(max_size=64).map(lambda b: b.decode("latin-1")), is_file=True)
    strategies = [values.text]
    if kind in NUMBER_FIELDS or lowered.endswith(("id", "days", "count", "cap", "minutes")):
        strategies.append(values.numbers)
    if any(word in lowered for word in MONEY_WORDS):
        strategies.append(values.amounts)
    if "currency" in lowered:
        strategies.append(values.currencies)
    if "email" in lowered:
        strategies.append(st.emails())
    choices = (unbound.kwargs.get("choices") if unbound is not None else None) or ()
    if isinstance(choices, list | tuple) and choices:
        strategies.append(st.sampled_from([str(c[0] if isinstance(c, tuple) else c) for c in choices]))
    if kind == "BooleanField":
        strategies.append(st.sampled_from(("y", "on", "true", "")))
    if pools.get(name):
        strategies += [st.sampled_from(pools[name])] * 2
    return InputField(name, st.one_of(*strategies))


def segment_values(
    name: str, converter: Any, pools: dict[str, list[str]], is_dirty: bool
) -> st.SearchStrategy[bytes]:
    """What to put where the rule says ``<converter:name>``: existing values, and hostile ones."""
    known = list(pools.get(name, ()))
    if isinstance(converter, AnyConverter):
        known += sorted(converter.items)
    hostile = [values.text]
    if isinstance(converter, IntegerConverter):
        hostile.append(values.numbers)
    if isinstance(converter, PathConverter):
        hostile.append(st.sampled_from(("../app.py", "a/../../setup.cfg", "x" * 300, "css/")))
    clean = st.one_of(*([st.sampled_from(known)] * 6 if known else []), *hostile)
    return values.dirty(clean) if is_dirty else clean.map(str.encode)


# --- one request ---------------------------------------------------------------------------------------


@dataclass
class Probe:
    """One request: ``raw_path`` as the server decoded it (bytes), everything else as sent."""

    method: str
    raw_path: bytes
    query: str = ""
    body: bytes | None = None
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        query = f"?{self.query[:200]}" if self.query else ""
        body = f" {self.content_type} {self.body[:200]!r}" if self.body else ""
        return f"{self.method} {self.raw_path[:200]!r}{query}{body}"


def probes_for(route: Route, csrf_token: str) -> st.SearchStrategy[Probe]:
    """Requests to ``route``: any of its methods (now and then another), its path, a query string of
    its fields, for a body a form (url-encoded or multipart), JSON or raw bytes; htmx or JSON clients.
    One request in three carries bytes no text can hold; the CSRF token is right three times in four."""
    fields = route.fields
    pairs, stray = {}, {}
    for is_dirty in (False, True):
        text = values.dirty_text if is_dirty else values.text.map(str.encode)
        pairs[is_dirty] = st.one_of(*(f.pairs(is_dirty) for f in fields)) if fields else st.tuples(text, text)
        stray[is_dirty] = st.lists(st.tuples(text, text), max_size=1)
    methods = st.sampled_from(weighted_methods(route.methods))
    tokens = st.sampled_from((csrf_token, csrf_token, csrf_token, "", "x" * 20))
    named = [st.tuples(st.just(f.name), st.one_of(f.clean, values.json_values)) for f in fields]
    json_objects = st.lists(st.one_of(*named), max_size=6).map(dict) if named else st.just({})
    filenames = st.sampled_from(("clip.mp4", "a.txt", "", "../x.mp4"))
    file_names = {f.name.encode() for f in fields if f.is_file}

    @st.composite
    def probe(draw) -> Probe:
        is_dirty = draw(st.integers(0, 2)) == 0
        sent = Probe(draw(methods), draw(route.paths[is_dirty]))
        sent.query = values.url_encoded(draw(st.lists(pairs[is_dirty], max_size=3)) + draw(stray[is_dirty]))
        if draw(st.integers(0, 3)) == 0:
            sent.headers.update({"HX-Request": "true", "X-CSRFToken": csrf_token})
            if draw(st.booleans()):
                sent.headers["HX-Boosted"] = "true"
        if draw(st.integers(0, 5)) == 0:
            sent.headers["Accept"] = "application/json"
        if sent.method not in BODY_METHODS and draw(st.integers(0, 20)) > 0:
            return sent
        kind = draw(st.sampled_from(("form", "form", "form", "multipart", "json", "raw", "none")))
        token = draw(tokens).encode()
        if kind == "form":
            chosen = [*draw(st.lists(pairs[is_dirty], max_size=6)), (b"csrf_token", token)]
            sent.body = values.url_encoded(chosen + draw(stray[is_dirty])).encode()
            sent.content_type = "application/x-www-form-urlencoded"
        elif kind == "multipart":
            parts = [(b"csrf_token", token, None)]
            for name, value in draw(st.lists(pairs[is_dirty], max_size=6)):
                filename = draw(values.dirty(filenames)) if name in file_names else None
                parts.append((name, value, filename))
            sent.body, sent.content_type = values.multipart(parts)
        elif kind == "json":
            is_object = draw(st.booleans())
            sent.body = json.dumps(draw(json_objects)).encode() if is_object else draw(values.json_bodies)
            sent.content_type = "application/json"
            sent.headers["X-CSRFToken"] = token.decode()
        elif kind == "raw":
            sent.body = draw(st.binary(max_size=200))
            sent.content_type = draw(st.sampled_from(("text/plain", "application/octet-stream", "a/b")))
        return sent

    return probe()


def weighted_methods(methods: tuple[str, ...]) -> list[str]:
    """The route's own methods mostly, HEAD and OPTIONS (answered by Flask) and others now and then."""
    own = [method for method in methods if method not in ("HEAD", "OPTIONS")]
    others = [method for method in OTHER_METHODS if method not in methods][:1]
    return own * 16 + [method for method in methods if method not in own] + others


def send(client: FlaskClient, probe: Probe):
    """``probe`` as a server hands it over: ``PATH_INFO`` holds the raw bytes as latin-1 (the test
    client alone would decode them with replacement characters)."""
    return client.open(
        quote_from_bytes(probe.raw_path, safe="/"),
        method=probe.method,
        query_string=probe.query,
        data=probe.body,
        content_type=probe.content_type,
        headers=probe.headers,
        environ_overrides={"PATH_INFO": probe.raw_path.decode("latin-1")},
    )


@dataclass
class Tally:
    """Requests sent, and those answered 5xx or 4xx with nothing to read, for one report at the end."""

    count: int = 0
    failures: list[str] = field(default_factory=list)

    def check(self, probe: Probe, response) -> None:
        self.count += 1
        status = response.status_code
        if status >= 500:
            self.failures.append(f"{status} {probe.describe()}")
        elif status >= 400 and probe.method != "HEAD" and not response.get_data().strip():
            self.failures.append(f"{status} with an empty body: {probe.describe()}")
        response.close()

    def report(self) -> str:
        shown = "\n".join(sorted(set(self.failures))[:40])
        return f"{len(self.failures)} of {self.count} requests failed:\n{shown}"

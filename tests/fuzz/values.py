"""Hostile values: text with NUL bytes and bytes that are not UTF-8, odd and huge numbers, ids beyond 64
bits, amounts as people and networks type them, currencies with 0 to 4 decimals, deep JSON; and how they
travel (percent-encoded pairs, multipart bodies)."""

from __future__ import annotations

import json
from urllib.parse import quote_from_bytes

from hypothesis import strategies as st

#: Bytes no text field can hold: NUL, not UTF-8 (bad start byte, truncated sequence, overlong form,
#: beyond U+10FFFF, lone continuation) and an encoded lone surrogate.
NASTY_BYTES = (
    b"\x00",
    b"\xff",
    b"\xc3(",
    b"\xe2\x82",
    b"\xc0\xaf",
    b"\xf4\x90\x80\x80",
    b"\x80",
    b"\xed\xa0\x80",
)
BOUNDARY_NUMBERS = (
    0,
    -1,
    1,
    2**31 - 1,
    2**31,
    2**53 + 1,
    2**63 - 1,  # the largest BIGINT
    2**63,
    2**64,
    -(2**63) - 1,
    10**30,
    -(10**30),
    2**128,
)
ODD_TEXT = (
    "",
    " ",
    "0",
    "-0",
    "-1",
    "1e309",
    "-1e309",
    "NaN",
    "Infinity",
    "0x10",
    "1_000",
    "\u0661\u0662\u0663",  # Arabic-Indic digits
    "\uff11\uff12",  # full-width digits
    "9" * 30,
    "9" * 5_000,  # past Python's 4,300-digit int() limit
    "a" * 10_000,
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "{{ 7 * 7 }}",
    "%s%n%x",
    "\u202eevil",
    "\ufeff",
    "null",
    "[]",
    "true",
)
#: No decimals (JPY), two (EUR, USD), three (BHD, KWD), four (CLF); no rate (GBP); not currencies.
CURRENCIES = ("EUR", "JPY", "BHD", "KWD", "CLF", "USD", "GBP", "XXX", "eur", "", "EU", "EURO", "\u20ac")
JSON_DEPTHS = (33, 200, 999, 5_000, 100_000)
BROKEN_JSON = (b'{"a": "\xff"}', b'{"a": ', b"\x00", b"{{{", b"", b"[1, 2", b'{"a": 1e999999}')

#: What a form expects, so that some requests get past validation to the code behind it.
PLAUSIBLE_TEXT = (
    "Acme 2",
    "hello",
    "pat@example.com",
    "https://example.org/video.mp4",
    "https://acme.example.net/go?sub={subid}",
    "s3cret-s3cret-s3cret-2",
    "12.50",
    "40",
    "youtube",
    "10.0.0.0/8",
    "#ad #video",
    "FR7630006000011234567890189",
)
text = st.one_of(
    st.text(max_size=30),
    st.text(st.characters(max_codepoint=0x7F), max_size=12),
    st.sampled_from(ODD_TEXT),
    st.sampled_from(PLAUSIBLE_TEXT),
)
numbers = st.one_of(st.integers(min_value=-(2**70), max_value=2**70), st.sampled_from(BOUNDARY_NUMBERS)).map(
    str
)
currencies = st.sampled_from(CURRENCIES)


@st.composite
def _amounts(draw) -> str:
    if draw(st.integers(0, 5)) == 0:
        return draw(st.sampled_from(("1e30", "1E-30", "-0", ".", ",5", "1 000,50", "1.000.000", "NaN")))
    sign = draw(st.sampled_from(("", "", "-", "+")))
    whole = draw(st.sampled_from(("0", "1", "12", "999999999", "9223372036854775807", "9" * 19, "1" * 30)))
    decimals = draw(st.sampled_from(("", "5", "50", "505", "5050", "123456789")))
    point = draw(st.sampled_from((".", ",")))
    return f"{sign}{whole}{point}{decimals}" if decimals else f"{sign}{whole}"


#: Amounts: huge (past BIGINT once in minor units), negative, 0 to 9 decimals, odd separators.
amounts = _amounts()
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats()
    | text
    | st.sampled_from(("\ud800", "x\udfffy")),  # lone surrogates: valid JSON escapes, not storable
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=12,
)


def deep_json(depth: int) -> bytes:
    """``[[[...]]]`` nested ``depth`` levels."""
    return b"[" * depth + b"]" * depth


json_bodies = st.one_of(
    json_values.map(lambda value: json.dumps(value).encode()),
    st.sampled_from(JSON_DEPTHS).map(deep_json),
    st.sampled_from(BROKEN_JSON),
)


def dirty(clean: st.SearchStrategy[str]) -> st.SearchStrategy[bytes]:
    """``clean`` values as UTF-8, and one time in four with bytes no text can hold spliced in."""
    encoded = clean.map(str.encode)
    spliced = st.tuples(encoded, st.sampled_from(NASTY_BYTES), encoded).map(b"".join)
    return st.one_of(encoded, encoded, encoded, spliced)


dirty_text = dirty(text)


def url_encoded(pairs: list[tuple[bytes, bytes]]) -> str:
    """``k=v&...`` with every byte that needs it percent-encoded (a query string or a form body)."""
    return "&".join(f"{quote_from_bytes(k, safe='')}={quote_from_bytes(v, safe='')}" for k, v in pairs)


def multipart(parts: list[tuple[bytes, bytes, bytes | None]]) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body of (name, value, filename or None) parts, bytes kept as they are;
    the body and its content type."""
    boundary = b"fuzz-boundary-7d1f"
    body = b""
    for name, value, filename in parts:
        disposition = b'form-data; name="' + name.replace(b'"', b"") + b'"'
        if filename is not None:
            disposition += b'; filename="' + filename.replace(b'"', b"") + b'"'
        body += b"--" + boundary + b"\r\nContent-Disposition: " + disposition + b"\r\n\r\n" + value + b"\r\n"
    body += b"--" + boundary + b"--\r\n"
    return body, f"multipart/form-data; boundary={boundary.decode()}"

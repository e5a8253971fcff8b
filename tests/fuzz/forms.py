"""Hypothesis strategies for HTML form fields, and posting them as a browser would (or worse).

A field's value is text with whatever a paste can bring (NUL, lone surrogates, RTL marks, emoji,
CJK), digits that are not 0-9 (“²”, “٣”, “５”, “Ⅻ”), signs and thousands of digits, raw bytes that
are not UTF-8, nothing at all, or huge; a field can also be missing.
Bodies go out urlencoded (what browsers send) or as multipart/form-data.
"""

import json
import re
from typing import Any
from urllib.parse import quote_plus

from fastapi.testclient import TestClient
from httpx import Response
from hypothesis import strategies as st
from sqlalchemy import Engine

from tests.dbstate import dump

# What pastes and tricky keyboards bring: NUL, lone surrogates, bidi controls, a BOM, zero-width
# joiners, emoji, CJK, combining marks, markup and the form encoding's own delimiters.
TRICKY = [
    "\x00",
    "\ud800",
    "\udfff",
    "\u202e",
    "\u200f",
    "\u2066",
    "\ufeff",
    "\u200d",
    "🧠",
    "👩🏽‍⚕️",
    "中文",
    "\u0301",
    "\r\n",
    "<script>",
    "&amp;",
    "=",
    "%",
    "+",
    " ",
]
PART_LIMIT = 64_000  # app.web.forms: max_part_size
BODY_LIMIT = 1_000_000  # settings.max_body_bytes

Value = str | bytes

tricky_text = st.lists(st.one_of(st.sampled_from(TRICKY), st.text(max_size=6)), max_size=8).map(
    "".join
)
# What passes str.isdigit() or float() but is no plain number: Unicode's digits (Nd), other
# numbers (No: "²", "½") and letter numbers (Nl: "Ⅻ"), signs, decimals, and more digits than int()
# reads (4,300).
NUMBER_TRAPS = ["²", "٣", "５", "Ⅻ", "½", "--5", "+5", "−5", "7.0", "1e3"]
NUMBER_TRAPS += ["9" * 5_000, "-" + "0" * 4_301]
number_text = st.one_of(
    st.sampled_from(NUMBER_TRAPS),
    st.text(
        st.one_of(
            st.characters(categories=["Nd", "No", "Nl"]),
            st.sampled_from("0123456789-+−.,_ e"),
        ),
        min_size=1,
        max_size=8,
    ),
    st.builds(
        lambda sign, digit, size: sign + digit * size,
        st.sampled_from(["", "-", "--", "+"]),
        st.sampled_from(["9", "0", "²", "٣"]),
        st.sampled_from([12, 20, 4_301, 5_000]),
    ),
)
odd_value: st.SearchStrategy[Value] = st.one_of(
    st.just(""), st.text(max_size=30), tricky_text, number_text, st.binary(max_size=12)
)
huge_value = st.builds(
    lambda unit, size: unit * (size // len(unit.encode("utf-8", "surrogatepass"))),
    st.sampled_from(["x", "中", "🧠", "\x00", "\ud800"]),
    st.sampled_from([5_001, PART_LIMIT - 1_000, PART_LIMIT + 1_000, BODY_LIMIT - 10_000]),
)


def form(valid: dict[str, str], **alternatives: list[str]) -> st.SearchStrategy[dict[str, Value]]:
    """A valid form, with fields swapped for other expected values (a missing field is None),
    then a few of them made odd (arbitrary text or bytes, empty) or left out, and sometimes one of
    them huge."""
    names = sorted(valid.keys() | alternatives.keys())
    expected = st.fixed_dictionaries(
        {
            name: st.sampled_from([valid.get(name)] * 2 + alternatives.get(name, []))
            for name in names
        }
    )
    odd = st.lists(st.tuples(st.sampled_from(names), st.one_of(st.none(), odd_value)), max_size=3)
    huge = st.one_of(st.none(), st.none(), st.none(), st.tuples(st.sampled_from(names), huge_value))

    def build(
        base: dict[str, str | None],
        changes: list[tuple[str, Value | None]],
        big: tuple[str, Value] | None,
    ) -> dict[str, Value]:
        drawn: dict[str, Value | None] = dict(base)
        for name, value in [*changes, *([big] if big else [])]:
            drawn[name] = value
        return {name: value for name, value in drawn.items() if value is not None}

    return st.builds(build, expected, odd, huge)


def _bytes(value: Value) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")


BOUNDARY = b"fuzz-7MA4YWxkTrZu0gW"


def encode(form: dict[str, Value], how: str) -> tuple[bytes, str]:
    """The body and its content type: urlencoded as browsers send it, or multipart."""
    if how == "urlencoded":
        query = "&".join(
            f"{quote_plus(_bytes(k))}={quote_plus(_bytes(v))}" for k, v in form.items()
        )
        return query.encode("ascii"), "application/x-www-form-urlencoded"
    parts = [
        b"--" + BOUNDARY + b"\r\n"
        b'Content-Disposition: form-data; name="' + _bytes(name).replace(b'"', b"%22") + b'"'
        b"\r\n\r\n" + _bytes(value).replace(BOUNDARY, b"") + b"\r\n"
        for name, value in form.items()
    ]
    body = b"".join(parts) + b"--" + BOUNDARY + b"--\r\n"
    return body, f"multipart/form-data; boundary={BOUNDARY.decode()}"


encodings = st.sampled_from(["urlencoded", "multipart"])

# Refusals that happen before any page renders: a sentence in JSON `detail`, or a bare page.
BEFORE_THE_PAGE = {400, 413}


def explains(response: Response) -> bool:
    """A refusal says why: an alert or message on the page, or a sentence in JSON."""
    if response.headers.get("content-type", "").startswith("application/json"):
        detail = json.loads(response.content).get("detail")
        return bool(detail)
    return bool(re.search(r'role="alert"|class="card message"|<h1>Not sent</h1>', response.text))


def post_form(
    web: TestClient, engine: Engine, url: str, form: dict[str, Value], how: str
) -> Response:
    """Post the form; never a 5xx, and a refusal explains itself and changes nothing."""
    before = _state(engine)
    body, content_type = encode(form, how)
    response = web.post(url, content=body, headers={"content-type": content_type})
    return _judged(response, engine, before)


def post_file(
    web: TestClient, engine: Engine, url: str, fields: dict[str, str], name: str, content: bytes
) -> Response:
    """Upload a file as the import form does; judged as post_form judges a form."""
    before = _state(engine)
    response = web.post(url, data=fields, files={"file": (name, content, "text/plain")})
    return _judged(response, engine, before)


def _judged(response: Response, engine: Engine, before: dict[str, Any]) -> Response:
    assert response.status_code < 500, (response.status_code, response.text[:500])
    if response.status_code >= 400:
        assert explains(response), (response.status_code, response.text[:500])
        assert _state(engine) == before, f"a {response.status_code} changed the database"
    return response


def _state(engine: Engine) -> dict[str, Any]:
    """Every row, but the signed-in session's last-seen time (touched once a minute by reads)."""
    rows = dump(engine)
    rows.pop("user_sessions", None)
    return rows


def csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "the page has no CSRF token"
    return found.group(1)

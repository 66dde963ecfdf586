"""Secrets in JSON written inside JSON strings (Docker's json-file lines, a structured logger's
request body, a journal holding a probe's output) are masked at every depth, and the masked text
still parses at every depth.

The oracle builds nested documents itself: secret fields at one to four depths of JSON-in-a-JSON-
string, keys spelled at random from the secret words (case, a prefix, '-', '_' or '.' between
letters), values with quotes, backslashes, control characters and any Unicode (or a number, a
boolean, null, or arrays and objects of them, nested, their strings holding brackets), the inner
documents dumped with random separators, indentation and ASCII escaping. After ``mask_text``
of the outermost text, each depth must parse and equal the document with every secret value
replaced by its masked form, so no secret value survives and nothing else changed.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sloctl.masking import _BRACKET_SCAN_LIMIT, SECRET, mask_text

#: The words whose key=value the masker promises to mask in free text (docs/security.md), apart
#: from the two with a grammar of their own.
PLAIN_WORDS = (
    "password",
    "passwd",
    "passphrase",
    "pwd",
    "secret",
    "token",
    "apikey",
    "accesskey",
    "privatekey",
    "routingkey",
    "credential",
    "credentials",
)
KEY_PREFIXES = ("", "x-", "client_", "db.", "PG", "Proxy-", "session_")
KEY_SEPARATORS = ("", "", "", "-", "_", ".")
#: Authorization schemes the masker keeps in front of the credential.
SCHEMES = ("", "Bearer ", "Basic ", "Token ", "Digest ", "ApiKey ")
SCHEME = re.compile(r"(?i)(?:bearer|basic|digest|token|negotiate|apikey)?\s")
#: Set-Cookie attributes, which survive (docs/security.md).
ATTRIBUTES = (
    "Path=/",
    "HttpOnly",
    "Secure",
    "Max-Age=3600",
    "SameSite=Lax",
    "Expires=Wed, 21 Oct 2026 07:28:00 GMT",
)
#: Fields beside the secrets, which must come back unchanged; no key ends with a secret word.
CLEAN_FIELDS = {
    "user": "bob",
    "port": 5432,
    "level": "info",
    "ok": True,
    "ratio": 0.25,
    "path": "/v1/projects",
}
NESTED_KEY = "log"
Depth = dict[str, tuple[object, object]]
"""One depth's fields: key → (value as written, value as masked)."""
EXAMPLES = 500
"""Documents per run (about 3 s). Each of the five defects tried on purpose (the key's escaped
quote not read, a value closed at the first escaped quote or by the first depth's rule, a
cookie's or an unquoted credential's value cutting an escape) fails within the first 300, and so
does each of three in an array or object value (read as the scalar before it, its strings'
brackets counted, its strings' quotes read at the first depth); the documents are whole, so
values left unclosed or cut are the exact cases' below."""
#: How json.dumps writes an inner document: compact, spaced, indented (its newlines escaped
#: one level up), ASCII-escaped or not.
DUMPS = (
    {"separators": (",", ":")},
    {"separators": (", ", ": ")},
    {"indent": 2},
    {"ensure_ascii": False},
    {"separators": (",", ":"), "ensure_ascii": False},
)

special = st.sampled_from("\"\\'{}[],:;= \n\t/\x00\x1f\u00e9\u20ac\u2028\U0001f600")
anything = st.text(st.one_of(special, st.characters(exclude_categories=["Cs"])), max_size=16)
# A cookie value holds anything but a space and the header's separators (';', ',').
cookie_value = st.text(
    st.one_of(special, st.characters(exclude_categories=["Cs", "Zs", "Zl", "Zp", "Cc"])).filter(
        lambda ch: ch not in ";, \n\t\x00\x1f\u2028"
    ),
    max_size=12,
)
# JSON's other scalars: masked into a string, so that the document still parses.
scalars = st.none() | st.booleans() | st.integers() | st.floats()
# Any JSON value: arrays and objects of those, nested, their strings (keys too) holding brackets,
# quotes and backslashes; masked whole into a string.
json_values = st.recursive(
    anything | scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(anything, inner, max_size=3),
    max_leaves=8,
)
token = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~", min_size=1, max_size=12)
cookie_name = st.text(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", min_size=1, max_size=8
)


@st.composite
def spelled(draw: st.DrawFn, word: str, prefixes: tuple[str, ...] = KEY_PREFIXES, inner: bool = True) -> str:
    """``word`` as a key: a prefix, each letter in either case, separators between letters."""
    letters = [draw(st.sampled_from((ch.lower(), ch.upper()))) for ch in word]
    gaps = [draw(st.sampled_from(KEY_SEPARATORS)) if inner else "" for _ in letters[1:]] + [""]
    return draw(st.sampled_from(prefixes)) + "".join(a + b for a, b in zip(letters, gaps, strict=True))


@st.composite
def secret_fields(draw: st.DrawFn) -> tuple[str, object, str]:
    """A secret field: (key, value, the value as masked)."""
    kind = draw(st.sampled_from(("plain", "authorization", "cookie", "set-cookie", "line")))
    if kind == "line":
        return draw(log_lines())
    if kind == "plain":
        return draw(spelled(draw(st.sampled_from(PLAIN_WORDS)))), draw(json_values), SECRET
    if kind == "authorization":
        # the scheme word and its space stay, the rest is the credential (which therefore
        # does not start with a space or with a scheme word and a space of its own)
        scheme, cred = draw(st.sampled_from(SCHEMES)), draw(anything.filter(lambda c: not SCHEME.match(c)))
        return draw(spelled("authorization")), scheme + cred, scheme + SECRET
    names = draw(
        st.lists(
            cookie_name.filter(lambda n: n.lower() not in ("secure", "httponly")), min_size=1, max_size=3
        )
    )
    values = [draw(cookie_value.map(lambda v: f'"{v}"') | cookie_value) for _ in names]
    attributes = draw(st.lists(st.sampled_from(ATTRIBUTES), max_size=2)) if kind == "set-cookie" else []
    key = (
        draw(spelled("cookie", ("", "x-", "session_")))
        if kind == "cookie"
        else draw(spelled("set-cookie", ("",), inner=False))
    )
    value = "; ".join([f"{n}={v}" for n, v in zip(names, values, strict=True)] + attributes)
    return key, value, "; ".join([f"{n}={SECRET}" for n in names] + attributes)


#: Where a credential sits in a log line: alone, between words, in quotes of its own (escaped one
#: level deeper than the field holding the line), before a newline (escaped as \n).
CONTEXTS = (("", ""), ("sent ", " upstream"), ('sent "', '" upstream'), ("", "\nnext"))


@st.composite
def log_lines(draw: st.DrawFn) -> tuple[str, str, str]:
    """A field holding a log line with a credential of each free-text form in it, each in a
    context of :data:`CONTEXTS`, in any order: ("message", line, line as masked). An unquoted
    value ends at a space, a quote or a backslash, so that its end never cuts an escape."""
    word, one, two = draw(st.sampled_from(PLAIN_WORDS)), draw(token), draw(token)
    # a bare scheme word as the whole credential ("authorization=BEARER | ...") reads as a scheme
    # and its space, as in secret_fields
    bare = draw(token.filter(lambda t: not SCHEME.match(t + " ")))
    forms = [
        (f"Authorization: Bearer {one}", f"Authorization: Bearer {SECRET}"),
        (f"authorization={bare}", f"authorization={SECRET}"),
        (f"Cookie: a={one}; b={two}", f"Cookie: a={SECRET}; b={SECRET}"),
        (f"{word}={one}", f"{word}={SECRET}"),
        (f'{word}: "{one} {two}"', f'{word}: "{SECRET}"'),
    ]
    pieces = [(draw(st.sampled_from(CONTEXTS)), form) for form in draw(st.permutations(forms))]
    line = " | ".join(before + text + after for (before, after), (text, _) in pieces)
    masked = " | ".join(before + text + after for (before, after), (_, text) in pieces)
    return "message", line, masked


@st.composite
def depths(draw: st.DrawFn) -> list[Depth]:
    """One to four depths, outermost first: each maps keys to (value, value as masked)."""
    out: list[Depth] = []
    for _ in range(draw(st.integers(1, 4))):
        fields: Depth = {
            key: (value, masked) for key, value, masked in draw(st.lists(secret_fields(), max_size=2))
        }
        clean = draw(st.lists(st.sampled_from(sorted(CLEAN_FIELDS)), max_size=2, unique=True))
        fields.update({key: (CLEAN_FIELDS[key], CLEAN_FIELDS[key]) for key in clean})
        out.append(fields)
    return out


def build(fields: list[Depth], dumps: list[dict[str, Any]], masked: bool) -> Any:
    """The document, each depth below the first a JSON string under :data:`NESTED_KEY`; its
    secret values as written or as masked."""
    inner: Any = None
    for depth, level in reversed(list(enumerate(fields))):
        document = {key: pair[1] if masked else pair[0] for key, pair in level.items()}
        if inner is not None:
            document[NESTED_KEY] = inner if masked else json.dumps(inner, **dumps[depth])
        inner = document
    return inner


def unnest(document: Any) -> Any:
    """The document with every :data:`NESTED_KEY` string parsed, depth by depth (a depth that
    does not parse fails the test with its text)."""
    if isinstance(document, dict) and isinstance(document.get(NESTED_KEY), str):
        try:
            return {**document, NESTED_KEY: unnest(json.loads(document[NESTED_KEY]))}
        except json.JSONDecodeError as error:
            pytest.fail(f"{error}: {document[NESTED_KEY]!r}")
    return document


@settings(
    max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(depths(), st.lists(st.sampled_from(DUMPS), min_size=4, max_size=4), st.sampled_from(DUMPS))
def test_secrets_at_every_depth_of_json_in_json_are_masked_and_every_depth_still_parses(
    fields: list[Depth], dumps: list[dict[str, Any]], outer: dict[str, Any]
) -> None:
    text = json.dumps(build(fields, dumps, masked=False), **outer)
    masked = mask_text(text)
    assert unnest(json.loads(masked)) == build(fields, dumps, masked=True), masked


@pytest.mark.parametrize(
    ("document", "masked"),
    [
        # the defect as found: a Docker json-file line holding a structured logger's line
        (
            {"log": json.dumps({"password": "hunter2", "token": "abc"})},
            {"log": json.dumps({"password": SECRET, "token": SECRET})},
        ),
        # a secret field holding a number or null: a string once masked, at its key's depth
        (
            {"log": json.dumps({"password": None, "token": 123, "user": "bob"})},
            {"log": json.dumps({"password": SECRET, "token": SECRET, "user": "bob"})},
        ),
        # twice escaped (\\\"), the value holding an escaped quote and a backslash of its own
        (
            {"log": json.dumps({"body": json.dumps({"client_secret": 'a"b\\c', "user": "bob"})})},
            {"log": json.dumps({"body": json.dumps({"client_secret": SECRET, "user": "bob"})})},
        ),
        (
            {"log": json.dumps({"Authorization": "Token 9f8e 7d6c", "Cookie": 'sid="s1"; theme=dark'})},
            {
                "log": json.dumps(
                    {"Authorization": f"Token {SECRET}", "Cookie": f"sid={SECRET}; theme={SECRET}"}
                )
            },
        ),
        (
            {"log": json.dumps({"set-cookie": "sid=abc; Path=/; HttpOnly"})},
            {"log": json.dumps({"set-cookie": f"sid={SECRET}; Path=/; HttpOnly"})},
        ),
        # a header line inside a JSON string: its value ends before the backslash of \"
        (
            {"msg": 'sent "Cookie: sid=abc" and "Authorization: Bearer abc" upstream'},
            {"msg": f'sent "Cookie: sid={SECRET}" and "Authorization: Bearer {SECRET}" upstream'},
        ),
        # an array or an object under a secret key: masked whole into a string, at every depth,
        # brackets, quotes and backslashes in its strings read as characters
        ({"secret": ["abc", "def"]}, {"secret": SECRET}),
        ({"token": {"value": "abc"}}, {"token": SECRET}),
        ({"api_key": [1, 2]}, {"api_key": SECRET}),
        ({"log": json.dumps({"secret": ["abc", "def"]})}, {"log": json.dumps({"secret": SECRET})}),
        (
            {"password": ["a]b", '}"{', "c\\", {"[": [[]]}], "user": "bob"},
            {"password": SECRET, "user": "bob"},
        ),
        (
            {"log": json.dumps({"body": json.dumps({"token": {"k": ['x"]\\', "]}"]}, "user": "bob"})})},
            {"log": json.dumps({"body": json.dumps({"token": SECRET, "user": "bob"})})},
        ),
        ({"msg": "password=[a, b] sent"}, {"msg": f"password={SECRET} sent"}),
        # ... under a header's key too (a logger's headers object: Node's set-cookie is a list)
        ({"set-cookie": ["sid=abc; Path=/", "csrf=x1"]}, {"set-cookie": SECRET}),
        ({"cookie": ["sid=abc"], "user": "bob"}, {"cookie": SECRET, "user": "bob"}),
        ({"Authorization": ["Bearer abcdefghijk"]}, {"Authorization": SECRET}),
        ({"authorization": {"scheme": "Bearer", "token": "zzz"}}, {"authorization": SECRET}),
        (
            {"log": json.dumps({"headers": {"Set-Cookie": ["a=b", "c=d"], "Accept": "*/*"}})},
            {"log": json.dumps({"headers": {"Set-Cookie": SECRET, "Accept": "*/*"}})},
        ),
        # ... and a quoted cookie value in it, its quotes escaped
        (
            {"msg": 'Cookie: sid="abc"; theme=dark'},
            {"msg": f"Cookie: sid={SECRET}; theme={SECRET}"},
        ),
    ],
)
def test_escaped_json_masks_as_written(document: dict[str, str], masked: dict[str, str]) -> None:
    assert mask_text(json.dumps(document)) == json.dumps(masked)


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        # an escaped quote that no escaped quote closes before its string does: the value is
        # read unquoted, and the next field (its own escaped quotes) is not swallowed
        (
            json.dumps({"msg": 'password: "cut', "note": 'say "hi"'}),
            json.dumps({"msg": f'password: "{SECRET}', "note": 'say "hi"'}),
        ),
        (
            json.dumps({"log": json.dumps({"msg": 'password: "cut', "note": 'say "hi"'})}),
            json.dumps({"log": json.dumps({"msg": f'password: "{SECRET}', "note": 'say "hi"'})}),
        ),
        # a line cut at its size limit inside a quoted value: masked to the end
        ('{"log":"{\\"password\\": \\"hunter 2', f'{{"log":"{{\\"password\\": \\"{SECRET}'),
        (
            '{"log":"{\\"authorization\\": \\"Bearer ab cd',
            f'{{"log":"{{\\"authorization\\": \\"Bearer {SECRET}',
        ),
        # ... inside an array: masked to the end
        ('{"secret": ["abc", "d]e', f'{{"secret": "{SECRET}"'),
        ('{"log":"{\\"token\\": [1, {\\"a\\": \\"b', f'{{"log":"{{\\"token\\": \\"{SECRET}\\"'),
        # an inner document cut inside an array, its string closed: masked to the end of that
        # string, which still parses
        (
            json.dumps({"log": '{"secret": ["abc", "de', "user": "bob"}),
            json.dumps({"log": f'{{"secret": "{SECRET}"', "user": "bob"}),
        ),
    ],
)
def test_an_unclosed_escaped_value_is_masked_and_nothing_after_it_swallowed(text: str, masked: str) -> None:
    assert mask_text(text) == masked


#: Personal data and credentials the masker promises to mask in text wherever they stand
#: (docs/security.md), each as it is written, with a piece of it that must not survive the masking
DATA = (
    ("4111 1111 1111 1111", "1111 1111"),  # a Visa test card
    ("4111111111111111", "41111111"),
    ("123-45-6789", "45-6789"),  # a US SSN
    ("jane.doe@example.com", "doe@example"),
    ("+1 415-555-0100", "555-0100"),  # E.164
    ("+44 20 7946 0958", "7946"),
    ("(415) 555-0100", "555-0100"),  # NANP
    ("020 7946 0958", "7946 0958"),  # a UK national number
    ("Bearer abcdefgh12345678", "abcdefgh"),
    ("Basic dXNlcjpwYXNz", "dXNlcjpw"),
    ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", "eyJzdWIiOiIxIn0"),  # a JWT
)
#: What a JSON writer puts right before the datum: a line break, a tab, a carriage return, a
#: form feed or backspace, a non-ASCII letter written as ``\\uXXXX``, a quote
AFTER = ("\n", "\t", "\r", "\f", "\b", "é", '"', "\u2028")


@pytest.mark.parametrize(("datum", "piece"), DATA)
@pytest.mark.parametrize("before", AFTER)
def test_data_right_after_a_json_escape_is_masked_and_the_text_still_parses(
    datum: str, piece: str, before: str
) -> None:
    """A JSON string's escape (``\\n``, ``\\t``, ``\\u00e9``) ends in a letter or digits: read
    as text, that letter glued the datum to a word, so a card number, an SSN, a bearer token or
    a JWT after a line break of a JSON log line was left whole, and an email's mask swallowed the
    escape's letter (``\\[email]``), which no JSON parser reads."""
    message = f"user{before}{datum} signed in"
    texts = [json.dumps({"msg": message})]
    if not before.isalpha():  # written as itself, a letter glues the datum to a word: not data
        texts.append(json.dumps({"msg": message}, ensure_ascii=False))
    for text in texts:
        masked = mask_text(text)
        assert piece not in masked, (text, masked)
        assert json.loads(masked)["msg"].startswith(f"user{before}"), (text, masked)


@pytest.mark.parametrize(
    ("length", "closed"), [(_BRACKET_SCAN_LIMIT - 3, True), (_BRACKET_SCAN_LIMIT - 2, False)]
)
def test_an_array_longer_than_the_scan_limit_is_masked_to_the_end_of_the_text(
    length: int, closed: bool
) -> None:
    """The scan reads at most :data:`_BRACKET_SCAN_LIMIT` characters after a value's opening
    bracket (here a string of ``length`` characters, its quotes and the closing bracket): a value
    it closes within them is masked to its bracket, a longer one to the end of the text, unread,
    as an unclosed one is. Words, not one long run of letters, which the URL step reads in
    quadratic time."""
    text = json.dumps({"secret": [("ab " * length)[:length]], "user": "bob"})
    masked = mask_text(text)
    expected = json.dumps({"secret": SECRET, "user": "bob"}) if closed else f'{{"secret": "{SECRET}"'
    assert masked == expected, masked[:100]

"""Masking of secrets and personal data, shared by the collector's logs, the testbed's audit
log and every journal and report sloctl writes.

The platform's audit-log plan forbids emails, national identity numbers, card numbers and phone
numbers in logs, and credentials anywhere outside a secret store. Driver errors can echo any of
them (a failing ``INSERT`` repeats its values, a refused connection its connection string), so
whatever leaves through a log line, a debug page or a report goes through :class:`Masker`:

- exact secret values the caller knows (passwords resolved from the environment);
- passwords in URLs and connection strings (``postgresql://u:pw@h``, ``redis://:pw@h``,
  ``password=pw`` in a libpq DSN), ``Authorization`` / ``Bearer`` / ``Basic`` credentials and
  JWTs;
- ``password``/``secret``/``token``/``api_key``/``cookie``… fields, in ``key=value`` text
  (``pass_word=``, ``db.password:``, ``"client_secret": "…"``: the key ends with the word,
  ``-``, ``_`` or ``.`` anywhere in it) and, in structured data (:meth:`Masker.data`), at any
  depth and whatever the value's type (there, a field holding the word anywhere is masked);
- in text, these keys, ``Authorization`` and cookies also in JSON written inside JSON strings,
  at any depth (``{\\"password\\": \\"…\\"}`` in a Docker json-file line, ``\\\\\\"`` one
  level deeper): a quoted value masked whole up to its own closing quote, the escaping around
  it left valid, and a JSON number, ``true``, ``false``, ``null``, array or object (read to
  the bracket that closes it, brackets in its strings skipped) made the string ``"[secret]"``
  so that the document still parses;
- cookies: every pair of a ``Cookie:`` header up to the end of its value (``sid=[secret];
  theme=[secret]``); a ``Set-Cookie:`` header keeps the cookie's name and its attributes
  (``Path``, ``Expires``, ``Max-Age``, ``Domain``, ``Secure``, ``HttpOnly``, ``SameSite``…),
  which say where and how long it is sent, not what it is;
- emails, US social security numbers, card numbers (issuer prefix, length and Luhn checked, so
  that epoch milliseconds and counters survive) and phone numbers (E.164 and national forms).

What must survive unmasked, because operators need it: durations, ports and port lists, pids,
trace and span ids, UUIDs, timestamps, addresses (tests/security/masking_corpus.py holds the
corpus that pins both sides).

>>> Masker(["hunter2"])("login hunter2 for jane@example.com at redis://:pw@127.0.0.1:6379/0")
'login [secret] for [email] at redis://:[secret]@127.0.0.1:6379/0'
>>> Masker().data({"db": {"password": ["a", "b"]}, "port": 5432})
{'db': {'password': '[secret]'}, 'port': 5432}
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from urllib.parse import unquote, urlsplit

__all__ = ["SECRET", "Masker", "is_secret_key", "mask_text", "url_secrets"]

SECRET = "[secret]"
EMAIL = "[email]"
SSN = "[ssn]"
CARD = "[card]"
PHONE = "[phone]"

# The two words whose free text is a header with a step of its own (below).
_AUTHORIZATION, _COOKIE = "authorization", "cookie"
# Field names whose values are credentials, compared without case, '-', '_' or '.'. Substrings,
# so that PGPASSWORD, client_secret and X-Api-Key match; "key" alone is not one (cache keys, sort
# keys and dictionary keys are everywhere and are not secrets). The one declaration: the field
# check (is_secret_key) and the free-text key patterns below are both made from it.
_SECRET_WORDS = (
    "password",
    "passwd",
    "passphrase",
    "pwd",
    "secret",
    "token",
    "apikey",
    "accesskey",
    "privatekey",
    "routingkey",  # a PagerDuty Events API routing key lets anyone page the team
    _AUTHORIZATION,
    "credential",
    "credentials",  # what free text writes, and a text key must end with the word (below)
    _COOKIE,  # a session cookie logs in whoever holds it
)
# Words that free text writes as HTTP headers, with a grammar of their own: a scheme before the
# credential (``Authorization: Bearer …``), cookie pairs and attributes (``Set-Cookie: a=b;
# Path=/``). Their own steps mask them; the generic key=value step would mask only the scheme
# word or the first pair.
_HEADER_WORDS = (_AUTHORIZATION, _COOKIE)
_KEY_SEPARATORS = "-_."
"""What :func:`is_secret_key` drops before comparing, and what a free-text key may hold between
the letters of a word (``pass_word``, ``api-key``, ``access.key``)."""


def _text_key(words: Iterable[str]) -> str:
    """A free-text key's last part: one of ``words``, its letters apart by any
    :data:`_KEY_SEPARATORS` (``pass_word``, ``api-key``). Whatever comes before it in the key
    (``PG`` of ``PGPASSWORD``, ``client_`` of ``client_secret``) is left out of the match and
    thus kept as written. A key must end with the word, where a field only has to hold it:
    ``token_ttl=300`` is a duration, not a token, and ``api_keys: 3 loaded`` a count (fields of
    those names are masked whole)."""
    between = f"[{re.escape(_KEY_SEPARATORS)}]*"
    alternatives = "|".join(between.join(map(re.escape, word)) for word in words)
    return f"(?:{alternatives})"


# A quote in free text, at any depth of JSON written inside JSON strings (Docker's json-file
# lines, a structured logger's request body, a journal holding a probe's JSON output): '"' as
# is, '\"' once escaped, '\\\"' twice; 2**n - 1 backslashes at depth n.
_KEY_QUOTE = r"""(?:\\*"|')?"""
# A value's opening quote. A double quote's backslashes (esc) say its depth, and the value is
# then read to the quote that closes it (_QUOTED_BODY); key=value reads a single-quoted value to
# the next "'" (single); otherwise, or where a double-quoted value does not close before the
# string around it does, the step reads the value as unquoted.
_OPENING_QUOTE = r"""(?:(?P<esc>\\*)"|(?P<single>')|\\*["'])?"""
# At depth n a backslash of the value is written 2**n backslashes (esc and one more), an escaped
# one twice that: so a run of backslashes then '"' closes the value when it is the opening's
# esc after whole escaped backslashes, and is a character of the value (an escaped quote of a
# deeper level) when it is longer; a shorter run (a bare '"' ending the outer string) ends the
# body unclosed, and the step reads the value unquoted instead. A value the end of the text cuts
# (a log line split at its size limit) runs to the end. Runs are taken whole (possessive), so a
# masked value never ends inside an escape and the text around it stays valid at every level.
_ESCAPED_BACKSLASHES = r"(?:(?P=esc)\\(?P=esc)\\)*+"
_QUOTED_BODY = (
    rf"""(?:[^\\"]++|\\++(?!")|(?!{_ESCAPED_BACKSLASHES}(?P=esc)")(?=(?P=esc)\\)\\++")*+"""
    rf"""{_ESCAPED_BACKSLASHES}(?=(?P=esc)"|\Z)"""
)

# A single-quoted value runs to the quote that closes it: a quote after backslashes is one of
# the value's (libpq's conninfo escapes a quote as \', and inside a JSON string that is \\'), and a
# value the end of the text cuts runs to the end, as a double-quoted one does. A value that ends
# in an escaped backslash (libpq's 'a\\') reads on to the next quote: more masked, never less.
_SINGLE_QUOTED_BODY = r"""(?:[^'\\]++|\\++'?)*+(?='|\Z)"""

# key=value, key: value, "key": "value" (at any depth) in free text; an unquoted value ends at a
# separator or a backslash (an escape of the string the text sits in: \n, \"). A value an
# earlier step masked (a known secret, a cookie's) is one piece: its ']' ends nothing, so it is
# not masked again into "[secret]]". An unquoted value that opens with '[' or '{' (a JSON array
# or object) is one too: the group bracket holds its opening, and the step reads it to the
# bracket that closes it (_bracket_end), which no regular expression can find. A header's key
# (Authorization, Cookie) is this step's only for such a value (a logger's headers object, where
# Set-Cookie is a list): its other values have a grammar of their own, the header steps' below.
_MASKED = re.escape(SECRET)
_KV_KEY = _text_key(word for word in _SECRET_WORDS if word not in _HEADER_WORDS)
_BRACKET_VALUE = rf"""(?<!["'])(?!{_MASKED})[\[{{]"""
_KV_SECRET = re.compile(
    rf"""(?ix)
    (?:{_text_key(_HEADER_WORDS)}(?P<header>)|{_KV_KEY})
    (?P<key_quote>{_KEY_QUOTE})\s*(?P<separator>[=:])\s*(?P<opening>{_OPENING_QUOTE})
    (?(header)(?={_BRACKET_VALUE}))
    (?P<cred>(?(esc){_QUOTED_BODY}|(?(single){_SINGLE_QUOTED_BODY}
    |(?:(?={_BRACKET_VALUE})(?P<bracket>.)|(?:{_MASKED}|[^\s,;&}}\])"'\\])+))))
    """
)
# What moves the bracket depth of an array or object value: a bracket, or a run of backslashes
# and the quote after it (the value's strings, at its own depth, are skipped whole; see
# _bracket_end). Inside a string only the quote runs count.
_BRACKET_TOKEN = re.compile(r'\\*"|[\[\]{}]')
_QUOTE_RUN = re.compile(r'\\*"')
_BRACKET_SCAN_LIMIT = 65_536
"""The most characters :func:`_bracket_end` reads of one array or object value. The scan walks
the text in Python, a token at a time: bounded, so that an opening bracket never closed in a
multi-megabyte text (a report, a journal read whole) is not walked to its end. Longer than any
line the collectors and Docker keep whole (Docker's json-file splits a line at 16 KiB, journald's
LineMax is 48 KiB); a value it does not close is masked to the end of the text, as an unclosed
one is."""
# JSON's scalars other than strings, as json.dumps writes them (NaN and Infinity included): a
# key=value step masks one into a string (_kv).
_JSON_SCALAR = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null|NaN|-?Infinity")
# A quoted Authorization value is a credential to its closing quote (after the scheme word); an
# unquoted one to a space, a quote, a separator or a backslash.
_AUTH_HEADER = re.compile(
    rf"""(?ix)
    (?P<head>{_text_key((_AUTHORIZATION,))}{_KEY_QUOTE}\s*[:=]\s*{_OPENING_QUOTE})(?!{_BRACKET_VALUE})
    (?P<scheme>(?:bearer|basic|digest|token|negotiate|apikey)\s+)?
    (?P<cred>(?(esc){_QUOTED_BODY}|[^\s"',;\\]+))
    """
)
# Set-Cookie attributes (RFC 6265 §5.2; SameSite from RFC 6265bis, Partitioned from CHIPS,
# Priority from Chromium): where and how long a cookie is sent, not a secret, so they survive a
# Set-Cookie header. In a Cookie header every pair is a cookie, whatever its name.
_COOKIE_ATTRIBUTES = frozenset(
    {"expires", "max-age", "domain", "path", "secure", "httponly", "samesite", "partitioned", "priority"}
)
# One cookie pair (its value plain or double-quoted, RFC 6265's cookie-value, its quotes maybe
# escaped), a bare value, or an attribute; an Expires date holds a comma and spaces ("Wed, 21
# Oct 2026 07:28:00 GMT"). No backslash outside the quotes: it escapes the string the header
# sits in.
_COOKIE_ITEM = (
    r"""(?:expires=[A-Za-z]{3,9},[^;,\r\n"'\\]*"""
    r"""|[^\s;,="'\\]+(?:=(?:\\*"[^"\r\n\\]*\\*"|[^\s;,"'\\]*))?)"""
)
# Pairs are apart by ';', and by ',' followed by name= where a client joined repeated Set-Cookie
# headers into one line.
_COOKIE_SEPARATOR = r"""\s*;\s*|\s*,\s*(?=[^\s;,="'\\]+=)"""
_COOKIE_SPLIT = re.compile(rf"({_COOKIE_SEPARATOR})")
# A cookie's name as written: kept, where anything else in an item is masked.
_COOKIE_NAME = re.compile(r"""[^\s;,="'\\]+""")
# Set-Cookie rather than Cookie: "set" (and one separator) right before the cookie word.
_SET_COOKIE = rf"(?<=set{_COOKIE})|(?<=set[{re.escape(_KEY_SEPARATORS)}]{_COOKIE})"
# Cookie: / Set-Cookie: / "cookie": "..." / session_cookie=...; the value is every pair up to
# the end of the header value: its closing quote (at any depth), else the end of the line, a
# quote, a backslash or a space that ends no pair.
_COOKIE_HEADER = re.compile(
    rf"""(?ix)
    (?P<head>{_text_key((_COOKIE,))}(?P<setting>{_SET_COOKIE})?{_KEY_QUOTE}\s*[=:]\s*{_OPENING_QUOTE})
    (?!{_BRACKET_VALUE})
    (?P<value>(?(esc){_QUOTED_BODY}|{_COOKIE_ITEM}(?:(?:{_COOKIE_SEPARATOR}){_COOKIE_ITEM})*))
    """
)
# A JSON string's escapes end in a letter or hex digits (\n, \t, \u00e9): in JSON text read
# as text, what follows one starts a word, as it would after the character it stands for; without
# this, a card number or an SSN after a line break of a JSON log line was glued to the 'n' and
# left whole, and an email's mask swallowed that 'n' ("\[email]", which no JSON parser reads).


def _first(glue: str) -> str:
    """Put right after a pattern's first character: the datum starts there when the character
    before it is not of the class ``glue`` (which makes it part of a longer word or number) or
    ends a JSON escape. Checked after that character, not before it, so that the search moves
    on at once from every place where the datum's first character is not (as fast as no check)."""
    return rf"(?:(?<![{glue}].)|(?<=\\[bfnrt].)|(?<=\\u[0-9A-Fa-f]{{4}}.))"


_WORD = _first(r"\w")
_BEARER = re.compile(r"(?i)(?P<scheme>b" + _WORD + r"earer\s+)(?P<cred>[A-Za-z0-9\-._~+/]{8,}=*)")
_BASIC = re.compile(r"(?P<scheme>B" + _WORD + r"asic\s+)(?P<cred>[A-Za-z0-9+/]{6,}={0,2})(?![A-Za-z0-9+/=])")
_JWT = re.compile(r"e" + _WORD + r"yJ[A-Za-z0-9_-]{2,}\.eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*")
# scheme://authority: the userinfo is everything before the last '@' of the authority.
# The scheme is read back at most 32 characters from its "://" (a longer one is matched by its
# end, the userinfo masked the same): unbounded, every letter of a long run of letters started a
# scan to the run's end, 2.3 s for a line of 65,000 letters, a line any client can make a probe
# or a report echo.
_URL_AUTHORITY = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]{0,31}://)(?P<authority>[^/?#\s\"'<>]*@)")
_EMAIL = re.compile(
    r"[A-Za-z0-9._%+-]" + _first(r"A-Za-z0-9._%+\-") + r"(?<!\\[bfnrtu])(?<!//.)[A-Za-z0-9._%+-]*@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}\b"
)
# US SSN with separators: area 001-899 but 666, group 01-99, serial 0001-9999 (SSA rules).
_SSN = re.compile(
    r"[0-8]" + _first(r"\w-") + r"(?!(?<=0)00|(?<=6)66)\d{2}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\w-])"
)
_CARD_CANDIDATE = re.compile(r"\d" + _first(r"\w.-") + r"(?:[ -]?\d){12,18}(?![\w-])")
# E.164: '+', country code, then 7 to 14 more digits in groups (spaces, dots, dashes, brackets).
_E164 = re.compile(r"\+" + _first(r"\w+") + r"[1-9](?:[ .-]?\(?\d\)?){7,14}(?![\w])")
# National forms: NANP (415) 555-0100, 415-555-0100, 415.555.0100, 415 555 0100; trunk-prefix
# forms with a leading 0 (020 7946 0958, 07700 900123, 06 12 34 56 78, 030-12345678).
_NANP = re.compile(
    r"(?:\("
    + _first(r"\w.:/-")
    + r"\d{3}\)\s?|\d"
    + _first(r"\w.:/-")
    + r"\d{2}[-. ])\d{3}[-. ]\d{4}(?![\w.-])"
)
_TRUNK = re.compile(
    r"0" + _first(r"\w.:/-") + r"(?:"
    r"[1-9](?:[ .-]\d{2}){4}"  # France: 06 12 34 56 78
    r"|\d{2,4}[ -]?\d{3,4}[ -]\d{3,4}"  # United Kingdom: 020 7946 0958, 0161 496 0000
    r"|\d{2,4}[ -]\d{6}"  # United Kingdom: 07700 900123
    r"|\d{2,4}[ /-]\d{5,8}"  # Germany: 030 12345678, 089-1234567
    r")(?![\w.:-])"
)


_DROP_SEPARATORS = str.maketrans("", "", _KEY_SEPARATORS)


def _normal_key(key: str) -> str:
    return key.lower().translate(_DROP_SEPARATORS)


def is_secret_key(key: str) -> bool:
    """Whether a field of this name holds a credential (``password``, ``X-Api-Key``, ...)."""
    normal = _normal_key(key)
    return any(word in normal for word in _SECRET_WORDS)


def _luhn(digits: str) -> bool:
    total, parity = 0, len(digits) % 2
    for i, ch in enumerate(digits):
        d = int(ch)
        if i % 2 == parity:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


# Issuer identification numbers and lengths (ISO/IEC 7812 as the networks publish them). A
# 13-digit Visa and the one-digit UATP prefix are left out on purpose: they would turn epoch
# milliseconds and large counters into "cards".
_CARD_BRANDS: tuple[tuple[tuple[int, int], int, tuple[int, ...]], ...] = (
    ((4, 4), 1, (16, 19)),  # Visa
    ((51, 55), 2, (16,)),  # Mastercard
    ((2221, 2720), 4, (16,)),  # Mastercard 2-series
    ((34, 34), 2, (15,)),  # American Express
    ((37, 37), 2, (15,)),
    ((6011, 6011), 4, (16, 17, 18, 19)),  # Discover
    ((644, 649), 3, (16, 17, 18, 19)),
    ((65, 65), 2, (16, 17, 18, 19)),
    ((3528, 3589), 4, (16, 17, 18, 19)),  # JCB
    ((300, 305), 3, (14, 15, 16, 17, 18, 19)),  # Diners Club
    ((36, 36), 2, (14, 15, 16, 17, 18, 19)),
    ((38, 39), 2, (16, 17, 18, 19)),
    ((62, 62), 2, (16, 17, 18, 19)),  # UnionPay
)


def _is_card(digits: str) -> bool:
    for (low, high), width, lengths in _CARD_BRANDS:
        if len(digits) in lengths and low <= int(digits[:width]) <= high:
            return _luhn(digits)
    return False


def _card(match: re.Match[str]) -> str:
    return CARD if _is_card(re.sub(r"\D", "", match.group(0))) else match.group(0)


def _phone_digits(text: str, low: int, high: int) -> bool:
    return low <= sum(ch.isdigit() for ch in text) <= high


def _e164(match: re.Match[str]) -> str:
    return PHONE if _phone_digits(match.group(0), 8, 15) else match.group(0)


def _trunk(match: re.Match[str]) -> str:
    return PHONE if _phone_digits(match.group(0), 9, 12) else match.group(0)


def _basic(match: re.Match[str]) -> str:
    """``Basic <base64 of user:password>`` only: "Basic authentication" stays readable."""
    cred = match.group("cred")
    try:
        decoded = base64.b64decode(cred + "=" * (-len(cred) % 4), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return match.group(0)
    return match.group("scheme") + SECRET if ":" in decoded else match.group(0)


def _userinfo(match: re.Match[str]) -> str:
    # The pattern is greedy: the group ends at the authority's last '@', so a password that
    # itself holds an '@' is masked whole.
    user, colon, _password = match.group("authority")[:-1].partition(":")
    if not colon:
        return match.group(0)
    return f"{match.group('scheme')}{user}:{SECRET}@"


def _credential(match: re.Match[str]) -> str:
    """What comes before the ``cred`` group (a key, a header name, a scheme, an opening quote)
    kept, the credential masked; its closing quote is no part of the match and stays."""
    return match.group(0)[: match.start("cred") - match.start()] + SECRET


def _kv(match: re.Match[str]) -> str:
    """The key and its separator kept, the value masked. A JSON number, ``true``, ``false``,
    ``null``, array or object after a double-quoted key and ':' becomes a string quoted as the
    key is, at the key's depth, so that the document around it still parses."""
    head = match.group(0)[: match.start("cred") - match.start()]
    key_quote = match.group("key_quote")
    json_value = (
        match.group("separator") == ":"
        and key_quote.endswith('"')
        and not match.group("opening")
        and (match.group("bracket") is not None or _JSON_SCALAR.fullmatch(match.group("cred")) is not None)
    )
    quote = key_quote if json_value else ""
    return f"{head}{quote}{SECRET}{quote}"


def _bracket_end(text: str, match: re.Match[str]) -> int:
    """Where the array or object value that ``match`` opens ends: after the bracket that closes
    its opening one, brackets inside its strings skipped. Its strings are quoted at the key's
    depth, and a run of backslashes before a quote is read as in :data:`_QUOTED_BODY`: the
    value's own quote when it is the key quote's backslashes after whole escaped backslashes, a
    character of a deeper level when longer, the end of the string the value sits in when
    shorter (the value, cut there, ends before it, and the text around it stays valid). A value
    the end of the text or :data:`_BRACKET_SCAN_LIMIT` cuts runs to the end of the text."""
    key_quote = match.group("key_quote")
    esc = len(key_quote) - 1 if key_quote.endswith('"') else 0
    depth, in_string, position = 1, False, match.end()
    limit = min(len(text), position + _BRACKET_SCAN_LIMIT)
    while token := (_QUOTE_RUN if in_string else _BRACKET_TOKEN).search(text, position, limit):
        position = token.end()
        if token.group() in "[{":
            depth += 1
        elif token.group() in "]}":
            depth -= 1
            if depth == 0:
                return position
        elif (run := len(token.group()) - 1) < esc:
            return token.start()
        elif (run - esc) % (2 * esc + 2) == 0:
            in_string = not in_string
    return len(text)


def _mask_kv(text: str) -> str:
    """The key=value step: :func:`_kv` on each :data:`_KV_SECRET` match, an array or object
    value taken to its end (:func:`_bracket_end`), and the search resumed after it, so that
    nothing inside a masked value is read again."""
    pieces: list[str] = []
    done = 0
    while match := _KV_SECRET.search(text, done):
        end = match.end() if match.group("bracket") is None else _bracket_end(text, match)
        pieces += (text[done : match.start()], _kv(match))
        done = end
    return "".join(pieces) + text[done:] if pieces else text


def _cookie(match: re.Match[str]) -> str:
    """Every cookie's value masked, its name kept; a Set-Cookie header's attributes kept whole.
    An item whose name is no cookie name (a quote, a backslash in it) is masked whole."""
    kept = _COOKIE_ATTRIBUTES if match.group("setting") is not None else frozenset()

    def item(text: str) -> str:
        name, equals, _value = text.partition("=")
        if not text or name.lower() in kept:
            return text
        if equals and _COOKIE_NAME.fullmatch(name):
            return f"{name}={SECRET}"
        return SECRET

    parts = _COOKIE_SPLIT.split(match.group("value"))
    return match.group("head") + "".join(part if i % 2 else item(part) for i, part in enumerate(parts))


def url_secrets(text: str) -> list[str]:
    """Passwords written in the URLs and ``password=`` pairs of ``text``, as written and
    percent-decoded: the exact values a :class:`Masker` should also hide where they turn up
    without their context (a driver's error message, a command line)."""
    found: list[str] = []
    for match in _URL_AUTHORITY.finditer(text):
        try:
            password = urlsplit(match.group(0) + "x").password
        except ValueError:
            password = None
        if password:
            found += [password, unquote(password)]
    found += [match.group("cred") for match in _KV_SECRET.finditer(text)]
    return sorted({s for s in found if len(s) >= 3})


# The steps of Masker, in order (after the known secrets, which go first so that no pattern cuts
# one apart), each text to text: a pattern's substitution, or the key=value step, which reads an
# array or object value past its match (_mask_kv). The order matters where two patterns can
# claim the same characters: URL userinfo before emails and the digit patterns
# (``rediss://u:pw@cache.test:6380`` would read as the address ``pw@cache.test`` and lose its
# host), key=value before the personal-data patterns (a credential's value is masked whole as a
# secret, ``token=abc@example.com``, not piecemeal), E.164 before the national phone forms (``+1
# 415-555-0100`` would keep its ``+1``). Swapping any other two steps changes no output on the
# corpus.
_STEPS: tuple[Callable[[str], str], ...] = (
    partial(_JWT.sub, SECRET),
    partial(_URL_AUTHORITY.sub, _userinfo),
    partial(_AUTH_HEADER.sub, _credential),
    partial(_BEARER.sub, _credential),
    partial(_BASIC.sub, _basic),
    partial(_COOKIE_HEADER.sub, _cookie),
    _mask_kv,
    partial(_EMAIL.sub, EMAIL),
    partial(_SSN.sub, SSN),
    partial(_CARD_CANDIDATE.sub, _card),
    partial(_E164.sub, _e164),
    partial(_NANP.sub, PHONE),
    partial(_TRUNK.sub, _trunk),
)


class Masker:
    """Masks ``secrets`` (exact values, longest first) and everything the module docstring
    lists. Call it on text; :meth:`data` walks dicts, lists and tuples."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first so that a password containing another password is masked whole. Values
        # shorter than 3 characters would mask digits and words everywhere: they are too weak
        # to be secrets worth a log line anyway.
        self._secrets = sorted({s for s in secrets if len(s) >= 3}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for s in self._secrets:
            text = text.replace(s, SECRET)
        for step in _STEPS:
            text = step(text)
        return text

    def data(self, value: object) -> object:
        """``value`` with every string masked and every secret-named field replaced whole,
        at any depth (dict keys are kept; tuples come back as lists, as JSON has them)."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, Mapping):
            return {
                key: SECRET if isinstance(key, str) and is_secret_key(key) else self.data(item)
                for key, item in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.data(item) for item in value]
        return value


_DEFAULT = Masker()


def mask_text(text: str) -> str:
    """:class:`Masker` without exact secrets, on text."""
    return _DEFAULT(text)

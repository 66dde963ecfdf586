"""Pagination cursors: opaque, signed, and refused when changed (pure, no server)."""

from __future__ import annotations

import base64

import pytest

from testbed.cursors import decode_cursor, encode_cursor

KEY = b"k" * 32


def test_a_cursor_round_trips_both_directions() -> None:
    assert decode_cursor(encode_cursor("after", 42, KEY), KEY) == ("after", 42)
    assert decode_cursor(encode_cursor("before", 2**63 - 1, KEY), KEY) == ("before", 2**63 - 1)


def test_every_position_round_trips_whatever_bytes_its_signature_holds() -> None:
    # a MAC byte equal to the separator '.' must not split the cursor in the wrong place
    assert all(decode_cursor(encode_cursor("after", n, KEY), KEY) == ("after", n) for n in range(2000))


def test_a_cursor_does_not_show_the_id_in_clear() -> None:
    assert "12345" not in encode_cursor("after", 12345, KEY)


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!",
        base64.urlsafe_b64encode(b"a:5").decode(),  # unsigned, the old format's shape
        encode_cursor("after", 5, b"another key" * 3),  # signed by someone else
    ],
)
def test_a_cursor_this_api_did_not_give_is_refused(cursor: str) -> None:
    with pytest.raises(ValueError, match="cursor is not valid"):
        decode_cursor(cursor, KEY)


def test_changing_the_position_inside_a_cursor_breaks_its_signature() -> None:
    raw = base64.urlsafe_b64decode(encode_cursor("after", 5, KEY) + "==")
    forged = base64.urlsafe_b64encode(raw.replace(b"a:5", b"a:9", 1)).decode().rstrip("=")
    with pytest.raises(ValueError):
        decode_cursor(forged, KEY)

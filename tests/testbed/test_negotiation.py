"""The API's ``Accept`` parsing (:func:`testbed.negotiation.acceptable`), pure: media ranges,
their parameters and weights, case, quoting and malformed elements; a Hypothesis property that
an offered type listed with a weight above 0 among any others is taken, and that no header
makes it raise."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from testbed.negotiation import acceptable

JSON = ("application/json", "application/problem+json")


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, "application/json"),
        ("", "application/json"),
        ("*/*", "application/json"),
        ("application/*", "application/json"),
        ("APPLICATION/JSON", "application/json"),
        ("application/problem+json", "application/problem+json"),
        ("application/xml, application/json;q=0.5", "application/json"),
        ("application/json;q=0.2, application/problem+json;q=0.3", "application/problem+json"),
        ('application/json;profile="a,b;c";q=0.4', "application/json"),  # quoted , and ;
        ("application/json;q=0, */*", "application/problem+json"),  # the exact range wins
        ("*/*;q=0, application/problem+json;q=0.001", "application/problem+json"),
        ("application/*;q=0, application/json;q=1.000", "application/json"),
        ("application/xml", None),
        ("application/json;q=0", None),
        ("application/json;q=0.000, application/problem+json;q=0", None),
        ("*/*;q=0", None),
        ("application/*;q=0, */*", None),  # the more specific range decides
        ("text/*", None),
        ("json", None),  # not a media range: skipped, nothing left
        ("*/json", None),
        ("application/json;q=2", None),  # a weight past 1: skipped
        ("application/json;q=0.5000", None),  # four decimals
        ("application/json;q=", None),
        ("application/json;q=1.5", None),
        (",,", None),
    ],
)
def test_accept_is_read_as_media_ranges_with_weights(accept: str | None, chosen: str | None) -> None:
    assert acceptable(accept, JSON) == chosen


_token = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789+-.", min_size=1, max_size=12)
_qvalue = st.one_of(
    st.just(""),
    st.integers(min_value=1, max_value=1000).map(lambda n: f";q={n / 1000:.3f}"),
)
_other = st.tuples(st.sampled_from(["text", "image", "application"]), _token, _qvalue).map(
    lambda t: f"{t[0]}/x-{t[1]}{t[2]}"  # x- : never one of the offered types
)


@given(others=st.lists(_other, max_size=6), q=_qvalue, at=st.integers(min_value=0, max_value=6))
def test_an_offered_type_with_a_weight_above_0_among_others_is_taken(
    others: list[str], q: str, at: int
) -> None:
    ranges = [*others]
    ranges.insert(min(at, len(ranges)), "application/json" + q)
    assert acceptable(", ".join(ranges), JSON) == "application/json"


@given(others=st.lists(_other, min_size=1, max_size=6))
def test_a_header_of_other_types_only_takes_nothing(others: list[str]) -> None:
    assert acceptable(", ".join(others), JSON) is None


@given(others=st.lists(_other, max_size=6), wildcards=st.permutations(["*/*", "application/*"]))
def test_an_exact_range_at_weight_0_excludes_its_type_whatever_wildcards_say(
    others: list[str], wildcards: list[str]
) -> None:
    header = ", ".join([*wildcards, *others, "application/json;q=0"])
    assert acceptable(header, JSON[:1]) is None
    assert acceptable(header, JSON) == "application/problem+json"


@given(st.text(max_size=200))
def test_no_header_makes_it_raise(accept: str) -> None:
    assert acceptable(accept, JSON) in (*JSON, None)

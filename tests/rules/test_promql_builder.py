"""PromQL is built in one module, and any label value survives the trip: quoted by the builder,
read back by a PromQL parser, it is the same string."""

from __future__ import annotations

import promql_parser
from hypothesis import given
from hypothesis import strategies as st

from sloctl import contract
from sloctl.render.promql import matchers, quote, selector

_LABEL = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,15}", fullmatch=True)


@given(st.dictionaries(_LABEL, st.text(), min_size=1, max_size=4))
def test_any_unicode_label_value_is_read_back_unchanged_by_promql_parser(labels: dict[str, str]) -> None:
    parsed = promql_parser.parse(selector(contract.API_REQUESTS, labels))
    assert isinstance(parsed, promql_parser.VectorSelector)
    assert parsed.name == contract.API_REQUESTS.name
    assert {m.name: m.value for m in parsed.matchers.matchers} == labels


@given(st.text())
def test_a_quoted_value_reads_back_with_another_operator_inside_an_expression(value: str) -> None:
    parsed = promql_parser.parse(f"sum(rate(up{matchers({'a': value}, '!=')}[5m]))")
    assert isinstance(parsed, promql_parser.AggregateExpr) and isinstance(parsed.expr, promql_parser.Call)
    (matcher,) = parsed.expr.args[0].vector_selector.matchers.matchers
    assert (matcher.value, matcher.op) == (value, promql_parser.MatchOp.NotEqual)


def test_quoting_escapes_only_what_promql_needs() -> None:
    assert quote('a"b\\c\nd\x01é😀') == '"a\\"b\\\\c\\nd\\x01é😀"'
    assert selector("up") == "up"
    assert selector(contract.PROBE_UP, target="db") == contract.PROBE_UP.name + '{target="db"}'

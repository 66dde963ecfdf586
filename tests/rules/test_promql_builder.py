"""PromQL is built in one module, and any label value survives the trip: quoted by the builder,
read back by a PromQL parser, it is the same string."""

from __future__ import annotations

import promql_parser
from hypothesis import given
from hypothesis import strategies as st

from sloctl import contract
from sloctl.render import promsim
from sloctl.render.promql import labelled_union, matchers, quote, selector, tiled_sum

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


def _walk(node: object) -> list[object]:
    out = [node]
    for name in ("expr", "lhs", "rhs"):
        if (child := getattr(node, name, None)) is not None:
            out.extend(_walk(child))
    for arg in getattr(node, "args", None) or []:
        out.extend(_walk(arg))
    return out


def test_a_tiled_sum_reads_one_series_at_every_tile_of_the_window_and_nothing_else() -> None:
    series = selector("rate5m", {"id": 'a"b'})
    tree = promql_parser.parse(tiled_sum(series, 3600, 300))
    selectors = [n for n in _walk(tree) if isinstance(n, promql_parser.VectorSelector)]
    offsets = [int(n.offset.total_seconds()) if n.offset else 0 for n in selectors]
    # 12 tiles edge to edge, each read once; no fallback inside the sum (the rule has one)
    assert sorted(offsets) == list(range(0, 3600, 300))
    assert {n.name for n in selectors} == {"rate5m"}
    assert {m.value for n in selectors for m in n.matchers.matchers} == {'a"b'}
    ops = {str(n.op) for n in _walk(tree) if isinstance(n, promql_parser.BinaryExpr)}
    assert ops == {"+"}


def test_a_labelled_union_gives_each_expression_its_label_value() -> None:
    tree = promql_parser.parse(labelled_union("tier", {"page_quick": "vector(14.4)", 'odd"one': "vector(1)"}))
    calls = [n for n in _walk(tree) if isinstance(n, promql_parser.Call) and n.func.name == "label_replace"]
    assert [(str(c.args[1].val), str(c.args[2].val)) for c in calls] == [
        ("tier", "page_quick"),
        ("tier", 'odd"one'),
    ]


def test_an_instant_selector_finds_the_sample_on_its_lookback_edge_on_prometheus_2_only() -> None:
    """The tiles of a tiled window at coarse evaluation steps depend on it (promsim models it)."""
    edge = promsim.LOOKBACK
    assert promsim.latest([0, 300], 300 + edge, promsim.PROMETHEUS_2) == 1
    assert promsim.latest([0, 300], 300 + edge, promsim.PROMETHEUS_3) is None
    assert promsim.latest([0, 300], 299 + edge, promsim.PROMETHEUS_3) == 1
    assert promsim.latest([], 0, promsim.PROMETHEUS_2) is None

"""An SLO page for an id Prometheus does not know is a 404 said after one read at most (none
when a fresh overview is kept, else the page's own query, sent with the overview's first reads),
counted at a stub Prometheus: its range queries are never sent. The page names the id, links to
the overview, and says when a served file has the SLO that its rules are not loaded. Odd ids (an
emoji, a NUL, 20,000 characters) are a 404 from a real Prometheus too, not a 502 or a 500."""

from __future__ import annotations

import html
import urllib.parse

import pytest

from sloctl import naming
from sloctl.prometheus import Prometheus
from sloctl.serve import App, ServeConfig
from sloctl.serve.app import SHOWN_VALUE, slo_href
from sloctl.spec import load_text
from tests.fixtures.one_slo_prometheus import SLO_ID, SPEC, answer
from tests.fixtures.slow_prometheus import slow_prometheus
from tests.fixtures.stub_http import StubRequest, serve

from .conftest import Stack


def _kinds(requests: list[StubRequest]) -> list[str]:
    """The SLO page's reads among ``requests``: its details query and its range queries."""
    out = []
    for r in requests:
        if r.path.endswith("/query_range"):
            out.append("range")
        elif naming.LABEL_WINDOW in r.query.get("query", ""):
            out.append("details")
    return out


@pytest.mark.parametrize("query", [{"range": ["1h"]}, {}])
def test_an_unknown_id_with_the_overview_kept_is_a_404_without_a_read(query: dict[str, list[str]]) -> None:
    with serve(answer) as stub, Prometheus.connect(stub.url) as prom:
        app = App(ServeConfig(), prom)
        assert app.handle("/", {}).status == 200
        before = len(stub.requests)
        page = app.handle("/slo/no-such-slo", query)
        app.close()  # every read sent beside the page has ended
        sent = stub.requests[before:]
    assert page.status == 404
    assert sent == []


def test_an_unknown_id_read_cold_is_a_404_after_its_one_query_and_no_range_query() -> None:
    with slow_prometheus() as slow, Prometheus.connect(slow.url) as prom:
        app = App(ServeConfig(cache_seconds=0), prom)
        page = app.handle("/slo/no-such-slo", {"range": ["1h"]})
        steps = slow.answered_step
        app.close()
    assert page.status == 404
    # answered after the first step (the overview's first reads and the page's query), before
    # the overview's rule groups were answered: the overview goes on being read for the next page
    assert steps == 1


def test_an_unknown_id_sends_no_range_query_and_one_details_query() -> None:
    with serve(answer) as stub, Prometheus.connect(stub.url) as prom:
        app = App(ServeConfig(cache_seconds=0), prom)
        page = app.handle("/slo/no-such-slo", {"range": ["1h"]})
        app.close()
        kinds = _kinds(stub.requests)
    assert page.status == 404
    assert kinds == ["details"]


def test_the_404_names_the_id_links_to_the_overview_and_says_when_rules_are_not_loaded() -> None:
    spec = load_text(SPEC.replace("name: avail", "name: latency")).slos[0]
    with serve(answer) as stub, Prometheus.connect(stub.url) as prom:
        app = App(ServeConfig(specs=(spec,)), prom)
        typo = html.unescape(app.handle("/slo/svc-avial", {}).body.decode())
        served = html.unescape(app.handle("/slo/" + spec.id, {}).body.decode())
        known = app.handle("/slo/" + SLO_ID, {})
        app.close()
    assert "Prometheus knows no SLO 'svc-avial', and no SLO file given to sloctl serve has it" in typo
    assert '<a href="/">Back to the overview</a>' in typo
    assert f"SLO '{spec.id}' ({spec.source.file}:{spec.source.line}) has no series in Prometheus" in served
    assert "its generated rules are not loaded" in served
    assert known.status == 200


#: Ids no SLO has, that a client may type or paste: an emoji (a character past U+FFFF, which
#: JSON escapes as two surrogates that PromQL refuses: this was a 502), a NUL, and ids too long
#: for a query string (a 20,000-character id made a 500 and a traceback on the terminal).
ODD_IDS = ("😀", "platform-api-😀-availability", "a\x00b", "a" * 20_000, "é" * 10_000)


@pytest.mark.parametrize("slo_id", ODD_IDS, ids=["emoji", "emoji-inside", "nul", "20k", "10k-accented"])
def test_an_odd_unknown_id_is_a_404_from_a_real_prometheus(serve_stack: Stack, slo_id: str) -> None:
    """Read cold (no overview kept), so that the page's own query carries the id to Prometheus."""
    with Prometheus.connect(serve_stack.url) as prom:
        app = App(ServeConfig(cache_seconds=0), prom, now=serve_stack.at)
        page = app.handle(slo_href(slo_id), {})
        app.close()
    assert page.status == 404, page.body.decode()[-600:]
    assert html.escape(repr(slo_id)[1:-1][:40]) in page.body.decode(), page.body.decode()[-600:]


#: Markup, and longer than an error page quotes.
LONG_ID = "<b>" + "x" * 100


@pytest.mark.parametrize(
    ("path", "query", "named"),
    [
        ("/slo/" + urllib.parse.quote(LONG_ID, safe=""), {}, LONG_ID),
        ("/slo", {"id": [LONG_ID]}, LONG_ID),
        ("/report", {"run": [LONG_ID]}, LONG_ID),
        ("/" + LONG_ID, {}, "/" + LONG_ID),
    ],
    ids=["slo-path", "slo-id", "run", "page"],
)
def test_a_404_quotes_what_it_did_not_find_to_the_shown_length_escaped(
    path: str, query: dict[str, list[str]], named: str
) -> None:
    """The unknown SLO's 404 quoted its id whole however long (the no-page and no-run 404s their
    path and key): now its first :data:`SHOWN_VALUE` characters and an ellipsis, as a refused
    query value is quoted, escaped."""
    with serve(answer) as stub, Prometheus.connect(stub.url) as prom:
        app = App(ServeConfig(), prom)
        page = app.handle(path, query)
        app.close()
    body = page.body.decode()
    assert page.status == 404
    assert "<b>" not in body and repr(named[:SHOWN_VALUE] + "…") in html.unescape(body), body
    assert named[: SHOWN_VALUE + 1] not in html.unescape(body), body

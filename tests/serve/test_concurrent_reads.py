"""A page's reads of Prometheus that need no other's answer go out together: through a Prometheus
that takes ``DELAY`` seconds over every answer, an uncached page takes about one ``DELAY`` per
step of reads that must wait for another's answer, not one per request. Those steps: the rule
groups (which SLOs, from the queries, held by which groups, from the info rules), sent with the
overview's details query (the rows of the page, sorted and filtered, as the queries' answers say
them; once more after the groups when a failing rule changes them), and the SLO page's range queries,
which wait for its details query (Prometheus knows the SLO; its period, when its spec is not
served) and go out with the rule groups."""

from __future__ import annotations

import json
import re
import time

import pytest

from sloctl import naming
from sloctl.prometheus import Prometheus
from sloctl.serve import App, ServeConfig
from sloctl.spec import load_text
from tests.fixtures.one_slo_prometheus import SLO_ID, SPEC, answer
from tests.fixtures.slow_prometheus import DELAY, slow_prometheus
from tests.fixtures.stub_http import Answer, StubRequest, prometheus_answer, serve


@pytest.mark.parametrize(
    ("path", "query", "spec", "steps", "requests"),
    [
        # the queries and the info rules together; the groups and the details of the page's rows
        # (the rows as the queries say them: the rules' health changes them only when one fails)
        ("/", {}, True, 2, 11),
        ("/", {"sort": ["state"]}, True, 2, 11),
        # and a label filter's info series beside the queries
        ("/", {"label": ["team"]}, True, 2, 12),
        # the queries, the info rules and the details together; the groups and the range
        # queries (the SLO known, by the details' info series, and its period when not served)
        ("/slo/" + SLO_ID, {"range": ["1h"]}, False, 2, 15),
        ("/slo/" + SLO_ID, {}, True, 2, 15),
        ("/slo/" + SLO_ID, {}, False, 2, 15),
    ],
)
def test_an_uncached_page_takes_a_delay_per_dependent_step_of_reads_not_per_request(
    path: str, query: dict[str, list[str]], spec: bool, steps: int, requests: int
) -> None:
    specs = tuple(load_text(SPEC).slos) if spec else ()
    with slow_prometheus() as slow, Prometheus.connect(slow.url) as prom:
        app = App(ServeConfig(specs=specs, cache_seconds=0), prom)
        started = time.perf_counter()
        page = app.handle(path, query)
        took = time.perf_counter() - started
    assert page.status == 200, page.body.decode()[:500]
    assert slow.answered == requests  # one after another, they took requests × DELAY
    # counted by the stub, not timed: a busy machine's scheduling adds time, never steps
    assert slow.steps == steps, (slow.steps, took)
    assert took >= steps * DELAY
    # bounded: a page's first step (the overview's queries, the info rules, and the details query
    # or a label filter's info series), and the SLO page's range queries sent once its details
    # query is answered, while the others of the first step may still be under way
    assert slow.most_in_flight <= 14


def _kind(request: StubRequest) -> str:
    """Which of the SLO page's reads ``request`` is, in the order they were once read."""
    if request.path.endswith("/rules"):
        return "rules"
    if request.path.endswith("/query_range"):
        return "range"
    return "details" if naming.LABEL_WINDOW in request.query["query"] else "queries"


@pytest.mark.parametrize(
    "failing",
    [
        ("range",),
        ("details", "range"),
        ("rules", "details", "range"),
        ("queries", "rules", "details", "range"),
    ],
)
def test_of_reads_sent_together_that_fail_the_page_says_the_error_of_the_first_in_their_old_order(
    failing: tuple[str, ...],
) -> None:
    def refusing(request: StubRequest) -> Answer:
        kind = _kind(request)
        if kind in failing:
            error = {"status": "error", "errorType": "bad_data", "error": f"{kind} refused"}
            return Answer(json.dumps(error).encode(), status=400)
        return answer(request)

    with serve(refusing) as stub, Prometheus.connect(stub.url) as prom:
        page = App(ServeConfig(cache_seconds=0), prom).handle("/slo/" + SLO_ID, {"range": ["1h"]})
    assert page.status == 502
    said = re.findall(r"(\w+) refused", page.body.decode())
    assert said == [failing[0]]


def test_the_overview_counts_its_own_requests_not_those_sent_beside_it() -> None:
    with serve(answer) as stub, Prometheus.connect(stub.url) as prom:
        app = App(ServeConfig(), prom)  # the SLO page's overview is the overview page's, cached
        assert app.handle("/slo/" + SLO_ID, {"range": ["1h"]}).status == 200
        slo_page = len(stub.requests)
        page = app.handle("/", {})
    # The overview's 8 queries and 2 requests to the rules API, read for the SLO page while its
    # own query and its 4 range queries were sent, and the query for the rows of this page (the
    # same one SLO: the SLO page's, cached).
    assert (slo_page, len(stub.requests)) == (15, 15)
    assert "1 SLOs read from Prometheus at" in page.body.decode()
    assert "in 11 queries" in page.body.decode()


def _failing_rules(request: StubRequest) -> Answer:
    """:func:`answer`, the SLO's info rule failing at its last evaluation (a ``rule_error``)."""
    if request.path.endswith("/rules"):
        labels = {naming.LABEL_ID: SLO_ID}
        rule = {"name": naming.SLO_INFO, "labels": labels, "health": "err", "lastError": "boom"}
        return prometheus_answer({"groups": [{"name": "g", "rules": [rule]}]})
    return answer(request)


@pytest.mark.parametrize(
    ("query", "steps", "shown"),
    [
        # the rule error does not change the rows of the page: its details go with the groups
        ({}, 2, True),
        # it does: the rows in rule_error are known once the groups are read, their details after
        ({"state": ["rule_error"]}, 3, True),
        ({"state": ["ok"]}, 2, False),
    ],
)
def test_a_failing_rule_that_changes_the_rows_of_the_overview_page_has_their_details_read_after(
    query: dict[str, list[str]], steps: int, shown: bool
) -> None:
    with slow_prometheus(_failing_rules) as slow, Prometheus.connect(slow.url) as prom:
        app = App(ServeConfig(cache_seconds=0), prom)
        page = app.handle("/", query)
        app.close()
    body = page.body.decode()
    assert page.status == 200, body[:500]
    assert slow.steps == steps
    assert (f'data-slo="{SLO_ID}"' in body) == shown
    assert ("boom" in body) == shown

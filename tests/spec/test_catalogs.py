"""Burn-rate catalogs for short and odd periods: no tier of a built-in catalog fires below 1× burn
(a ticket while the SLO is met), a period without a catalog is an error naming the catalogs,
and ``--compat sloth`` keeps Sloth's own catalogs and rescaling."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from sloctl.errors import Location
from sloctl.model import SLO
from sloctl.render.rules import render_rule_file
from sloctl.spec import load_documents, load_text
from sloctl.spec.catalog import BUILTIN, Catalogs
from sloctl.spec.reader import Reader
from tests.fixtures.specs import alert_windows, shop_slo

DAY = 86400
ERRORS = 'sum(rate(req_total{code=~"5.."}[{{.window}}]))'
TOTAL = "sum(rate(req_total[{{.window}}]))"


def spec(*, period: str | None = None, extra: str = "") -> str:
    """The service ``api`` with one events SLO, its ``period`` on line 8."""
    return shop_slo(service="api", errors=ERRORS, total=TOTAL, period=period, extra=extra)


#: a burn-rate alert's comparison: the ratio over the budget (0.001, the 99.9 of shop_slo) above its factor
THRESHOLD = re.compile(r"/ 0\.001 > ([0-9.]+)")


def burn_thresholds(slo: SLO) -> list[float]:
    """The burn factors the rendered alert rules compare against, read back from the rule text."""
    text = render_rule_file([slo], ["f.yaml"], "test")
    return [float(m) for m in THRESHOLD.findall(text)]


def load_one(window: str) -> SLO:
    """The SLO with ``window`` (``period: …`` or ``calendar: …``)."""
    result = load_text(spec(extra=window), "f.yaml")
    assert result.ok, [str(e) for e in result.errors]
    (slo,) = result.slos
    return slo


@pytest.mark.parametrize(
    ("window", "period"),
    [
        ("period: 7d", 7),
        ("period: 1w", 7),
        ("period: 14d", 14),
        ("period: 2w", 14),
        ("period: 28d", 28),
        ("period: 4w", 28),
        ("period: 30d", 30),
        ("period: 90d", 90),
        ("calendar: {unit: week}", 7),
        ("calendar: {unit: month}", 30),
        ("calendar: {unit: quarter}", 90),
    ],
)
def test_every_short_and_odd_period_gets_a_catalog_whose_rendered_tiers_all_fire_at_or_above_1x_burn(
    window: str, period: int
) -> None:
    slo = load_one(window)
    assert slo.windows.period == period * DAY
    factors = [t.window.burn_factor(slo.period) for t in slo.alerting.tiers]
    assert min(factors) >= 1, factors
    assert factors == sorted(factors, reverse=True), "page tiers must need faster burns than tickets"
    if slo.calendar is None:
        # The rules themselves, not only the model: every threshold written is at least 1×.
        found = burn_thresholds(slo)
        assert len(found) >= 8 and min(found) >= 1, found


def test_the_rendered_threshold_check_catches_the_sub_1x_tickets_of_a_rescaled_30d_catalog() -> None:
    """The check above would have caught the old behaviour: the 30d catalog rescaled to 7d and
    2w periods (what Sloth still does) writes tickets at 0.23× and 0.47×."""
    reader = Reader("f.yaml")
    for days, low in ((7, 0.23), (14, 0.47)):
        rescaled = Catalogs(sloth=True).resolve(days * DAY, reader, Location("f.yaml", 1, 1), "period")
        slo = load_one(f"period: {days}d")
        tiers = tuple(replace(t, window=w) for t, w in zip(slo.alerting.tiers, rescaled.windows, strict=True))
        old = replace(slo, windows=rescaled, alerting=replace(slo.alerting, tiers=tiers))
        assert round(min(burn_thresholds(old)), 2) == low
    assert reader.errors == []


def test_every_built_in_catalog_has_factors_of_at_least_1x_for_its_own_period() -> None:
    assert sorted(BUILTIN) == [7 * DAY, 14 * DAY, 28 * DAY, 30 * DAY, 90 * DAY]
    for period, catalog in BUILTIN.items():
        factors = {w.tier: w.burn_factor(period) for w in catalog.windows}
        assert min(factors.values()) >= 1, (period, factors)
        assert factors["page_quick"] > factors["page_slow"] > factors["ticket_quick"] > factors["ticket_slow"]


@pytest.mark.parametrize(
    ("period", "named"),
    [("10d", "10d"), ("6w", "42d (6w)"), ("1d", "1d"), ("365d", "365d (1y)"), ("36h", "1d12h")],
)
def test_a_period_without_a_catalog_is_an_error_that_lists_the_catalogs_there_are(
    period: str, named: str
) -> None:
    result = load_text(spec(period=period), "f.yaml")
    assert not result.slos
    (error,) = [str(e) for e in result.errors if "no burn-rate windows catalog" in str(e)]
    # In days, as periods are written, with Prometheus' spelling beside where it differs (a 365d
    # period was named only "1y").
    assert f"no burn-rate windows catalog for a {named} period" in error
    assert "there are catalogs for 7d (1w), 14d (2w), 28d (4w), 30d, 90d" in error
    assert "f.yaml:8" in error and "period" in error


def test_a_users_alertwindows_document_gives_an_odd_period_its_catalog() -> None:
    catalog = "---\n" + alert_windows(
        "10d", page=((5, "5m", "1h"), (10, "30m", "6h")), ticket=((20, "2h", "1d"), (30, "6h", "3d"))
    )
    result = load_text(spec(period="10d") + catalog, "f.yaml")
    assert result.ok, [str(e) for e in result.errors]
    assert result.slos[0].windows.source == "f.yaml:14"


_TWO_DAYS_PAGE = ((2, "5m", "1h"), (5, "30m", "6h"))
_UNUSABLE = {
    # a 3d window longer than its 2d period
    "window": (
        alert_windows("2d", page=_TWO_DAYS_PAGE, ticket=((10, "2h", "1d"), (10, "6h", "3d"))),
        "windows.yaml:10:11",
        "spec.ticket.slow.longWindow: 3d is longer than the period 2d",
    ),
    # an unknown field: its windows were used by the SLOs of its period as if it had read
    "unknown field": (
        alert_windows("2d", page=_TWO_DAYS_PAGE, ticket=((10, "2h", "1d"), (10, "6h", "2d"))).replace(
            "spec:\n", "spec:\n  sloperiod: 2d\n"
        ),
        "windows.yaml:4:3",
        "spec.sloperiod: unknown field (did you mean 'sloPeriod'?)",
    ),
}


@pytest.mark.parametrize(("catalog", "place", "why"), _UNUSABLE.values(), ids=_UNUSABLE)
def test_a_users_catalog_that_cannot_be_used_is_named_as_the_reason_not_a_missing_catalog(
    catalog: str, place: str, why: str
) -> None:
    """A 2d catalog with an error, beside a 2d SLO (in the same folder: another file): the SLO is
    told the catalog exists and why it cannot be used, once; neither "no catalog … add an
    AlertWindows document" nor the 30d catalog's windows it fell back to."""
    result = load_documents([("slo.yaml", spec(period="2d")), ("windows.yaml", catalog)])
    said = sorted(str(e) for e in result.errors)
    assert said == [
        "slo.yaml:8:15: spec.slos[0].period: the AlertWindows for a 2d period cannot be used:"
        f" {why} ({place}); fix it there",
        f"{place}: {why}",
    ], said


def test_under_compat_sloth_the_catalogs_are_sloths_own_so_the_output_stays_sloths() -> None:
    reader = Reader("f.yaml")
    here = Location("f.yaml", 1, 1)
    sloth = Catalogs(sloth=True)
    sloth_28d = sloth.resolve(28 * DAY, reader, here, "period")
    assert round(sloth_28d.window("ticket", "slow").burn_factor(28 * DAY), 2) == 0.93
    assert [round(w.burn_factor(7 * DAY), 2) for w in sloth.resolve(7 * DAY, reader, here, "p").windows] == [
        3.36,
        1.4,
        0.7,
        0.23,
    ]
    assert reader.errors == []


SUB_BASE_WINDOW = """\
apiVersion: sloctl/v1
kind: Service
metadata: {name: api}
spec:
  slos:
    - name: availability
      objective: 99.9
      sli: {raw: {errorRatioQuery: '1 - avg(avg_over_time(up[{{.window}}]))'}}
---
""" + alert_windows(  # the quick page's short window, 1m, is shorter than the recorded 5m rates
    "30d", page=((2, "1m", "1h"), (5, "30m", "6h")), ticket=((10, "2h", "1d"), (10, "6h", "3d"))
)


def test_a_users_window_shorter_than_the_recorded_5m_rates_is_an_error_naming_it() -> None:
    # sloctl's rules read every window but the quick page's long one from the 5m recordings:
    # a 1m short window rendered as sum_over_time(…rate5m[1m]), the 5m ratio under a 1m label.
    result = load_text(SUB_BASE_WINDOW, "f.yaml")
    assert not result.slos
    (error,) = [str(e) for e in result.errors]
    assert "f.yaml:10" in error and "spec.page.quick.shortWindow 1m" in error
    assert "shorter than the 5m rates the rules record" in error
    # Sloth's layout reads each window raw: the same catalog is Sloth's to take.
    sloth = load_documents([("f.yaml", SUB_BASE_WINDOW)], compat="sloth")
    assert sloth.ok, [str(e) for e in sloth.errors]


def test_an_error_budget_percent_out_of_range_is_reported_at_its_value() -> None:
    text = alert_windows("30d", ((150, "5m", "1h"), (5, "30m", "6h")), ((10, "2h", "1d"), (10, "6h", "3d")))
    result = load_text(text, "w.yaml")
    (error,) = [e for e in result.errors if "errorBudgetPercent" in e.path]
    assert error.message == "150 is outside (0, 100]"
    # line 6 (page quick), at the number, not the tier's first key
    assert (error.location.line, error.location.column) == (6, text.splitlines()[5].index("150") + 1)


CATALOG_30D = alert_windows("30d", ((2, "5m", "1h"), (5, "30m", "6h")), ((10, "2h", "1d"), (10, "6h", "3d")))


@pytest.mark.parametrize(
    ("written", "field"),
    [
        ("sloPeriod: 30d", "spec.sloPeriod"),
        ("shortWindow: 5m", "spec.page.quick.shortWindow"),
        ("longWindow: 1h", "spec.page.quick.longWindow"),
    ],
)
def test_an_empty_duration_in_a_catalog_is_an_error_at_it_not_the_default(written: str, field: str) -> None:
    """``''`` read as the default (30d, 5m, 1h); Sloth refuses it too ("empty duration string")."""
    key = written.split(":")[0]
    text = CATALOG_30D.replace(written, f"{key}: ''", 1)
    result = load_text(text, "w.yaml")
    line = next(i for i, t in enumerate(text.splitlines(), 1) if f"{key}: ''" in t)
    assert [(e.location.line, e.path, e.message) for e in result.errors] == [
        (line, field, "'' is not a Prometheus duration such as 500ms, 10s, 5m, 1h30m or 30d")
    ]


def test_a_catalogs_metadata_is_a_mapping_when_it_is_given() -> None:
    """As the JSON Schema says; any value was taken (Sloth ignores the field)."""
    named = CATALOG_30D.replace("spec:", "metadata: {name: thirty}\nspec:", 1)
    assert not load_text(named, "w.yaml").errors
    result = load_text(CATALOG_30D.replace("spec:", "metadata: thirty\nspec:", 1), "w.yaml")
    assert [str(e) for e in result.errors] == [
        "w.yaml:3:11: metadata: expected a mapping, found str 'thirty'"
    ]


def test_a_catalog_without_its_spec_or_a_severity_is_told_once_for_each() -> None:
    """Each was said twice ("required field is missing", "missing; expected a mapping"), and
    every window below it once more."""
    head = "apiVersion: sloctl/v1\nkind: AlertWindows\n"
    assert [str(e) for e in load_text(head, "w.yaml").errors] == [
        "w.yaml:1:1: spec: required field is missing"
    ]
    lines = CATALOG_30D.splitlines(keepends=True)
    no_page = "".join(lines[:4] + lines[7:])  # without lines 5-7: page, its quick and slow
    result = load_text(no_page, "w.yaml")
    assert [str(e) for e in result.errors] == ["w.yaml:4:3: spec.page: required field is missing"]


def test_a_window_without_its_long_window_is_told_that_not_compared_with_a_default() -> None:
    """The missing longWindow read as 1h, so the 2h short window was "not shorter" than it too."""
    result = load_text(CATALOG_30D.replace(", longWindow: 1d", "", 1), "w.yaml")
    assert [str(e) for e in result.errors] == [
        "w.yaml:9:12: spec.ticket.quick.longWindow: required field is missing"
    ]

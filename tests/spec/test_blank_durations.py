"""A duration written blank (``key:``, ``null``, ``''``) where its format requires one is an error
at that field, as the tool that defines the format refuses it, not read as a default: Sloth v0.16
("slo period is required", "short window is required", "only days based time windows are
supported"), Pyrra v0.9.5 ("failed to parse objective window: empty duration string"), OpenSLO's
validator (oslo 0.13 on go-sdk 0.6.2: "property is required but was empty" for ``duration``,
``lookbackWindow`` and ``timeSliceWindow``, and for an ``alertAfter`` of ``''``), and the native
``timeslices.slice``, which has no default. An optional duration written as nothing keeps its
default, as it does to those tools (``alertAfter:``) and as the native format documents
(``period:``). Sloth and Pyrra themselves are run where the tool shelf has them."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from sloctl.shelf import find
from sloctl.spec import load_text
from tests.fixtures.sloth import sloth_spec
from tests.fixtures.specs import alert_windows, openslo_sli, openslo_slo, pyrra_slo, rate, shop_slo

BLANK = "expected a duration such as 5m, 1h or 30d, found nothing (null)"
EMPTY = "'' is not a Prometheus duration such as 500ms, 10s, 5m, 1h30m or 30d"

CATALOG = alert_windows("30d", ((2, "5m", "1h"), (5, "30m", "6h")), ((10, "2h", "1d"), (10, "6h", "3d")))
SLOTH_CATALOG = CATALOG.replace("apiVersion: sloctl/v1", "apiVersion: sloth.slok.dev/v1")

PYRRA = pyrra_slo(
    "ratio:\n"
    '  errors: {metric: \'http_requests_total{job="api",code=~"5.."}\'}\n'
    "  total: {metric: 'http_requests_total{job=\"api\"}'}",
    metadata="{name: api-errors, namespace: monitoring}",
    window="2w",
)

V1ALPHA = openslo_slo(
    "v1alpha",
    """\
  objectives:
    - ratioMetrics:
        good: {source: prometheus, queryType: promql, query: 'sum(rate(ok_total[{{.window}}]))'}
        total: {source: prometheus, queryType: promql, query: 'sum(rate(all_total[{{.window}}]))'}
      target: 0.999
  timeWindows:
    - count: 28
      unit: Day
""",
)

OPENSLO = openslo_slo(
    "v1",
    "  indicator:\n"
    + openslo_sli("api-ratio", good=rate("ok_total"), total=rate("all_total"), indent=4)
    + """\
  timeWindow:
    - duration: 30d
      isRolling: true
  objectives:
    - target: 0.999
      timeSliceTarget: 0.95
      timeSliceWindow: 5m
  alertPolicies:
    - kind: AlertPolicy
      metadata: {name: pages}
      spec:
        notificationTargets: []
        conditions:
          - kind: AlertCondition
            metadata: {name: fast-burn}
            spec:
              severity: page
              condition: {kind: burnrate, op: gt, threshold: 14.4, lookbackWindow: 1h, alertAfter: 2m}
""",
    budgeting="Timeslices",
)

NATIVE = shop_slo(extra="timeslices: {slice: 5m, target: 95}")


@dataclass(frozen=True)
class Blank:
    """``written`` replaced by ``blank`` in ``text``: the error sloctl gives at ``path``."""

    text: str
    written: str
    blank: str
    path: str
    message: str = BLANK

    @property
    def spec(self) -> str:
        assert self.text.count(self.written) == 1, self.written
        return self.text.replace(self.written, self.blank)


REFUSED = {
    "sloth catalog sloPeriod": Blank(SLOTH_CATALOG, "sloPeriod: 30d", "sloPeriod:", "spec.sloPeriod"),
    "sloth catalog shortWindow": Blank(
        SLOTH_CATALOG, "shortWindow: 5m,", "shortWindow: null,", "spec.page.quick.shortWindow"
    ),
    "sloth catalog longWindow": Blank(
        SLOTH_CATALOG, "longWindow: 3d", "longWindow: null", "spec.ticket.slow.longWindow"
    ),
    "native catalog sloPeriod": Blank(CATALOG, "sloPeriod: 30d", "sloPeriod: ~", "spec.sloPeriod"),
    "native slice": Blank(NATIVE, "slice: 5m", "slice: null", "spec.slos[0].timeslices.slice"),
    "pyrra window null": Blank(PYRRA, "window: 2w", "window:", "spec.window"),
    "pyrra window empty": Blank(PYRRA, "window: 2w", "window: ''", "spec.window", EMPTY),
    "v1alpha unit": Blank(
        V1ALPHA,
        "unit: Day",
        "unit:",
        "spec.timeWindows[0].unit",
        "unknown unit ''; openslo/v1alpha is read as Sloth reads it, whose time windows are in days only"
        " ('only days based time windows are supported'): write unit: Day",
    ),
    "openslo duration": Blank(
        OPENSLO,
        "duration: 30d",
        "duration:",
        "spec.timeWindow[0].duration",
        "expected a duration such as 30d or 1M, found nothing (null)",
    ),
    "openslo timeSliceWindow": Blank(
        OPENSLO, "timeSliceWindow: 5m", "timeSliceWindow:", "spec.objectives[0].timeSliceWindow"
    ),
    "openslo lookbackWindow": Blank(
        OPENSLO,
        "lookbackWindow: 1h",
        "lookbackWindow: null",
        "spec.alertPolicies[0].spec.conditions[0].spec.condition.lookbackWindow",
    ),
    "openslo lookbackWindow empty": Blank(
        OPENSLO,
        "lookbackWindow: 1h",
        "lookbackWindow: ''",
        "spec.alertPolicies[0].spec.conditions[0].spec.condition.lookbackWindow",
        EMPTY,
    ),
    "openslo alertAfter empty": Blank(
        OPENSLO,
        "alertAfter: 2m",
        "alertAfter: ''",
        "spec.alertPolicies[0].spec.conditions[0].spec.condition.alertAfter",
        EMPTY,
    ),
}


def _line(text: str, blank: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if blank in line)


@pytest.mark.parametrize("case", list(REFUSED.values()), ids=list(REFUSED))
def test_a_blank_required_duration_is_one_error_at_its_field_not_the_default(case: Blank) -> None:
    """Each was read as its default (30d, 5m, 1h, Day), or for a lookbackWindow as no tier at all:
    the page silently off."""
    result = load_text(case.spec, "blank.yaml")
    errors = [(e.location.line, e.path, e.message) for e in result.errors]
    assert errors[-1:] == [(_line(case.spec, case.blank), case.path, case.message)], errors
    assert not result.ok


@pytest.mark.parametrize(("written", "found"), [("true", "the boolean true"), ("{a: 1}", "a mapping")])
def test_a_duration_that_is_no_text_at_all_is_one_error_not_also_an_empty_one(
    written: str, found: str
) -> None:
    result = load_text(PYRRA.replace("window: 2w", f"window: {written}"), "p.yaml")
    assert [str(e) for e in result.errors] == [f"p.yaml:6:11: spec.window: expected a string, found {found}"]


def test_optional_durations_written_as_nothing_keep_their_defaults() -> None:
    native = load_text(shop_slo(period="30d").replace("period: 30d", "period:"), "n.yaml")
    assert native.ok and [s.period for s in native.slos] == [30 * 86400], native.errors
    openslo = load_text(OPENSLO.replace("alertAfter: 2m", "alertAfter: null"), "o.yaml")
    assert openslo.ok, openslo.errors
    (slo,) = openslo.slos
    assert slo.alerting is not None
    assert [(t.name, t.for_seconds) for t in slo.alerting.enabled_tiers] == [("page_quick", 0)]


SLOTH_BIN = find("sloth")
PYRRA_BIN = find("pyrra")


def _sloth_refuses(case: Blank, tmp_path: Path) -> str:
    """``sloth generate``'s error for ``case``: its spec, or a Sloth SLO with it as the catalog."""
    assert SLOTH_BIN is not None
    spec, windows = tmp_path / "slo.yaml", tmp_path / "windows"
    windows.mkdir()
    if "AlertWindows" in case.text:
        (windows / "w.yaml").write_text(case.spec)
        spec.write_text(sloth_spec({}))
    else:
        spec.write_text(case.spec)
    argv = [str(SLOTH_BIN), "generate", "--no-log", "-i", str(spec), "-o", str(tmp_path / "out.yaml")]
    argv += [f"--slo-period-windows-path={windows}"] * ("AlertWindows" in case.text)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode != 0, proc.stdout
    return proc.stderr


@pytest.mark.skipif(SLOTH_BIN is None, reason="sloth is not on the tool shelf: run scripts/tools.sh sloth")
@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("sloth catalog sloPeriod", "slo period is required"),
        ("sloth catalog shortWindow", "short window is required"),
        ("sloth catalog longWindow", "long window is required"),
        ("v1alpha unit", "only days based time windows are supported"),
    ],
)
def test_sloth_refuses_the_same_blanks(name: str, said: str, tmp_path: Path) -> None:
    assert said in _sloth_refuses(REFUSED[name], tmp_path)


@pytest.mark.skipif(PYRRA_BIN is None, reason="pyrra is not on the tool shelf: run scripts/tools.sh pyrra")
@pytest.mark.parametrize("name", ["pyrra window null", "pyrra window empty"])
def test_pyrra_refuses_the_same_blanks(name: str, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "slo.yaml").write_text(REFUSED[name].spec)
    proc = subprocess.run(
        [
            str(PYRRA_BIN),
            "generate",
            f"--config-files={tmp_path / 'in'}/*.yaml",
            f"--prometheus-folder={tmp_path / 'out'}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode != 0 and "failed to parse objective window: empty duration string" in proc.stderr

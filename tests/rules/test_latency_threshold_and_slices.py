"""The latency SLI's arithmetic at its edges, proved on every engine (promtool on Prometheus 2
and 3, vmalert's replay on VictoriaMetrics through ``tests.fixtures.victoria_unit``, the same
series and expectations): a threshold that is not a bucket bound leaves the errors unknown (never
zero, which read as a perfect SLO), one on a bucket counts them exactly; a timeslice whose good
share is exactly its target is good (the extrapolated rates of Prometheus 3 carry float noise
above the allowed error ratio).

Unknown is NaN on Prometheus and absent on VictoriaMetrics, whose MetricsQL drops NaN from every
result (docs/compat.md, "MetricsQL and vmalert"); every other expectation is the same text on all
three engines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from sloctl import naming
from sloctl.render.rules import render_rule_file
from sloctl.shelf import ENGINE_NAMES, ToolMissing, engine_named
from sloctl.spec import load_text
from tests.fixtures.promtool import assert_unit_test_passes
from tests.fixtures.specs import service_doc
from tests.fixtures.victoria_unit import VICTORIAMETRICS, assert_victoria_passes, require_vmalert

pytestmark = pytest.mark.promtool


@pytest.fixture(
    params=[*ENGINE_NAMES, pytest.param(VICTORIAMETRICS, marks=pytest.mark.xdist_group(VICTORIAMETRICS))]
)
def engine(request: pytest.FixtureRequest) -> str:
    """Each engine the rules are proven on; one that is not here is skipped, saying how to get it."""
    name = str(request.param)
    if name == VICTORIAMETRICS:
        require_vmalert()
    else:
        try:
            engine_named(name)
        except ToolMissing as exc:
            pytest.skip(f"{name} is not on this machine: {exc}")
    return name


def _assert_passes(
    engine: str,
    workdir: Path,
    rule_files: Mapping[str, str],
    input_series: Sequence[Mapping[str, str]],
    expectations: Sequence[Mapping[str, object]],
) -> None:
    if engine == VICTORIAMETRICS:
        assert_victoria_passes(workdir, rule_files, input_series, expectations)
    else:
        assert_unit_test_passes(
            workdir, rule_files, input_series, expectations, promtool=str(engine_named(engine).promtool)
        )


def _unknown(engine: str, expr: str, at: str) -> dict[str, object]:
    """``expr`` is unknown at ``at``: NaN on Prometheus (which only differs from itself), no
    sample on VictoriaMetrics (MetricsQL drops NaN). Never a number, 0 least of all."""
    if engine == VICTORIAMETRICS:
        return {"expr": f"count({expr})", "eval_time": at, "exp_samples": []}
    return {
        "expr": f"count({expr} != {expr})",
        "eval_time": at,
        "exp_samples": [{"labels": "{}", "value": 1}],
    }


BOUNDS = ("0.1", "0.2", "0.25", "0.5", "1", "+Inf")
MINUTES = 60


def _latency_slo(threshold: str, objective: str = "99", extra: str = "") -> str:
    return service_doc(
        "shop",
        [
            f"- name: latency\n  objective: {objective}\n{extra}"
            f"  sli:\n    latency: {{histogram: lat2_seconds, threshold: {threshold}}}"
        ],
    )


def _histogram(per_bucket: dict[str, int]) -> list[dict[str, str]]:
    """Counter series of ``lat2_seconds`` from the requests each minute at or below each bound
    (cumulative, as exporters write them), every minute for ``MINUTES`` minutes."""
    series = [
        {"series": f'lat2_seconds_bucket{{le="{le}"}}', "values": f"0+{per_bucket[le]}x{MINUTES}"}
        for le in BOUNDS
    ]
    return [*series, {"series": "lat2_seconds_count", "values": f"0+{per_bucket['+Inf']}x{MINUTES}"}]


# every minute 100 requests: 98 at or under 0.1 s, 2 in (0.5 s, 1 s]: 2 % errors over 0.5 s
TWO_PERCENT_SLOW = dict.fromkeys(BOUNDS[:4], 98) | {"1": 100, "+Inf": 100}
_SEL = '{sloctl_id="shop-latency"}'
_LABELS = '{sloctl_id="shop-latency", sloctl_service="shop", sloctl_slo="latency"}'
_ONE = [{"labels": "{}", "value": 1}]


def _rules(spec: str) -> dict[str, str]:
    (slo,) = load_text(spec, "shop.yaml").slos
    return {"rules.yml": render_rule_file([slo], ["shop.yaml"], "test")}


def test_a_threshold_between_bucket_bounds_leaves_the_errors_unknown_not_zero(
    engine: str, tmp_path: Path
) -> None:
    # 300ms is no bucket bound: the errors cannot be read, so they are unknown (NaN on Prometheus,
    # no sample on VictoriaMetrics), never 0 errors (a perfect SLO with 100 % of its budget
    # left); every alert window's ratio is unknown with them, and the budget (no sample of the
    # period known). The events are counted: this is not an SLI without traffic.
    end = f"{MINUTES}m"
    errors, ratio1h = f"{naming.errors_rate()}{_SEL}", f"{naming.error_ratio(3600)}{_SEL}"
    _assert_passes(
        engine,
        tmp_path,
        _rules(_latency_slo("300ms")),
        _histogram(TWO_PERCENT_SLOW),
        [
            {"expr": f"count({naming.events_rate()}{_SEL} > 0)", "eval_time": end, "exp_samples": _ONE},
            *(
                check
                for at in ("10m", "30m", end)
                for check in (
                    {"expr": f"count({errors} >= 0)", "eval_time": at, "exp_samples": []},
                    _unknown(engine, errors, at),
                    # Unknown: absent, as the budget of a period without events (no sample known).
                    {"expr": f"count({naming.BUDGET_REMAINING}{_SEL})", "eval_time": at, "exp_samples": []},
                    {"expr": f"count({ratio1h} >= 0)", "eval_time": at, "exp_samples": []},
                    _unknown(engine, ratio1h, at),
                )
            ),
        ],
    )


def test_a_threshold_on_a_bucket_bound_counts_the_errors_exactly(engine: str, tmp_path: Path) -> None:
    end = f"{MINUTES}m"
    _assert_passes(
        engine,
        tmp_path,
        _rules(_latency_slo("500ms")),
        _histogram(TWO_PERCENT_SLOW),
        [
            {
                "expr": f"abs({naming.error_ratio(300)}{_SEL} - 0.02) < bool 1e-12",
                "eval_time": end,
                "exp_samples": [{"labels": _LABELS[:-1] + ', sloctl_window="5m"}', "value": 1}],
            },
            # Every window, the tiled hour and the period too: every sample measured, the
            # windows' guard against unknown samples (a count of them) changes nothing.
            *(
                {
                    "expr": f"count(abs({naming.error_ratio(w)}{_SEL} - 0.02) < 1e-9)",
                    "eval_time": end,
                    "exp_samples": _ONE,
                }
                for w in (1800, 3600, 7200, 30 * 86400)
            ),
            {"expr": f"count({naming.NO_DATA}{_SEL} == 0)", "eval_time": end, "exp_samples": _ONE},
        ],
    )


# every minute 100 requests: 95 at or under 0.1 s, 5 in (0.2 s, 0.25 s]: exactly 95 % good
# at 200ms, every slice exactly on its target
EXACTLY_ON_TARGET = dict.fromkeys(BOUNDS[:2], 95) | dict.fromkeys(BOUNDS[2:], 100)


def test_a_slice_exactly_on_its_target_is_good_on_every_engine(engine: str, tmp_path: Path) -> None:
    # Prometheus 3 read the slice's extrapolated error ratio as 0.050000000000000086 > 0.05:
    # every slice bad, the budget gone, with every slice exactly as good as the target allows.
    spec = _latency_slo("200ms", extra="  timeslices: {slice: 5m, target: 95}\n")
    good = [{"labels": f'{{__name__="{naming.TIMESLICE_BAD}", {_LABELS[1:]}', "value": 0}]
    _assert_passes(
        engine,
        tmp_path,
        _rules(spec),
        _histogram(EXACTLY_ON_TARGET),
        [
            {"expr": f"{naming.TIMESLICE_BAD}{_SEL}", "eval_time": f"{m}m", "exp_samples": good}
            for m in (10, 23, 35, 59)
        ],
    )


#: TWO_PERCENT_SLOW with a bucket at 0.3 s (98 requests at or under it each minute)
WITH_300MS = TWO_PERCENT_SLOW | {"0.3": 98}


def _until_fixed(fixed_at: int) -> list[dict[str, str]]:
    """:data:`WITH_300MS`, whose 0.3 s bucket the exporter writes from minute ``fixed_at`` on (a
    bucket layout fixed by a deploy): until then the 300ms threshold is no bucket bound."""
    late = f"_x{fixed_at} {98 * fixed_at}+98x{MINUTES - fixed_at}"
    return [*_histogram(WITH_300MS), {"series": 'lat2_seconds_bucket{le="0.3"}', "values": late}]


def _no_data_ticket(spec: str) -> str:
    (slo,) = load_text(spec, "shop.yaml").slos
    return f'ALERTS{{alertname="{slo.no_data_alert_name}", alertstate="firing"}}'


def test_an_unmeasurable_latency_sli_is_no_data_and_its_ticket_fires(engine: str, tmp_path: Path) -> None:
    # Events keep coming, but 300ms is no bucket bound: nobody can tell good from bad, so the SLO
    # is in the no-data state (budget unknown, the policy's whenUnknown) and its ticket says so.
    spec = _latency_slo("300ms")
    flag = [{"labels": _LABELS, "value": 1}]
    _assert_passes(
        engine,
        tmp_path,
        _rules(spec),
        _histogram(TWO_PERCENT_SLOW),
        [
            {
                "expr": f"{naming.NO_DATA}{_SEL}",
                "eval_time": "10m",
                "exp_samples": [{"labels": f'{{__name__="{naming.NO_DATA}", {_LABELS[1:]}', "value": 1}],
            },
            {
                "expr": f"count({_no_data_ticket(spec)})",
                "eval_time": "59m",
                "exp_samples": [{"labels": "{}", "value": 1}],
            },
            {"expr": f"max without () ({naming.NO_DATA}{_SEL})", "eval_time": "59m", "exp_samples": flag},
        ],
    )


def test_once_the_bucket_layout_is_fixed_the_period_skips_the_unknown_samples(
    engine: str, tmp_path: Path
) -> None:
    # The 0.3 s bucket appears at minute 30: from then on the errors are known again, the no-data
    # state and ticket end, and the period's ratio is that of the measured samples (minutes 31
    # to 59: a rate needs two samples of the new bucket), not NaN for the rest of the period
    # because some of its samples were unknown, nor diluted as if the unknown minutes had had
    # events and no error. An alert window still holding an unknown sample is unknown (the hour
    # at minute 59), not the errors of its measured part over all of its events.
    spec = _latency_slo("300ms")
    period = f"{naming.error_ratio(30 * 86400)}{_SEL}"
    errors, events = f"{naming.errors_rate()}{_SEL}", f"{naming.events_rate()}{_SEL}"
    measured = f"sum_over_time({errors}[28m30s]) / sum_over_time({events}[28m30s])"
    ratio1h = f"{naming.error_ratio(3600)}{_SEL}"
    one = _ONE
    _assert_passes(
        engine,
        tmp_path,
        _rules(spec),
        _until_fixed(30),
        [
            {"expr": f"count({naming.NO_DATA}{_SEL} == 1)", "eval_time": "20m", "exp_samples": one},
            {"expr": f"count({naming.NO_DATA}{_SEL} == 0)", "eval_time": "59m", "exp_samples": one},
            {"expr": f"count({_no_data_ticket(spec)})", "eval_time": "59m", "exp_samples": []},
            {
                "expr": f"count(abs({period} - on() ({measured})) < 1e-12)",
                "eval_time": "59m",
                "exp_samples": one,
            },
            {
                "expr": f"count({naming.BUDGET_REMAINING}{_SEL} > -1e3)",
                "eval_time": "59m",
                "exp_samples": one,
            },
            {"expr": f"count({ratio1h} >= 0)", "eval_time": "59m", "exp_samples": []},
            _unknown(engine, ratio1h, "59m"),
        ],
    )


def test_a_slice_whose_errors_are_unknown_is_neither_good_nor_bad(engine: str, tmp_path: Path) -> None:
    # NaN > bool x is 0: the unknown slice read as a good one, a perfect SLO, which the NaN of
    # the errors is there to prevent. Unknown slices count neither way, as empty ones do.
    spec = _latency_slo("300ms", extra="  timeslices: {slice: 5m, target: 95}\n")
    _assert_passes(
        engine,
        tmp_path,
        _rules(spec),
        _histogram(TWO_PERCENT_SLOW),
        [
            {"expr": f"{naming.TIMESLICE_BAD}{_SEL}", "eval_time": t, "exp_samples": []}
            for t in ("10m", "59m")
        ],
    )

"""Counts of real history: the SLI's own 5m error and event rates, read from a Prometheus with
range queries at a 1m step and turned into per-step counts (a 5m moving average of the real
traffic), so that the same replay and ground truth apply as for synthetic scenarios."""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from sloctl import naming
from sloctl.egress import Egress
from sloctl.model import SLO
from sloctl.prometheus import Prometheus
from sloctl.render import promql

from .scenarios import Counts, Scenario

__all__ = ["history_counts", "history_scenario"]


def _series(prom: Prometheus, expr: str, start: int, end: int, step: int) -> dict[int, float]:
    out: dict[int, float] = {}
    for series in prom.query_range(expr, start, end, step):
        for ts, v in series["values"]:
            out[int(float(ts))] = out.get(int(float(ts)), 0.0) + float(v)
    return out


def history_scenario(slo: SLO, start: int, end: int, warmup: int) -> Scenario:
    return Scenario(slo.id.replace("-", "_"), f"history of {slo.id}", end - start, warmup=warmup)


def history_counts(
    base: str,
    slo: SLO,
    start: int,
    end: int,
    *,
    step: int = 60,
    transport: httpx.BaseTransport | None = None,
    allow: Sequence[str] = (),
    token: str | None = None,
) -> Counts:
    """Per-step counts of ``slo`` over ``[start, end]`` (Unix seconds, ``start`` included as
    the first, empty, step), read through ``transport`` or the egress guard (loopback plus
    ``allow``, the ``--allow-host`` networks)."""
    egress = Egress.of(allow, action="read history from Prometheus at", widen="--allow-host")
    with Prometheus.connect(base, egress=egress, transport=transport, timeout=120, token=token) as prom:
        return _counts(prom, slo, start, end, step)


def _counts(prom: Prometheus, slo: SLO, start: int, end: int, step: int) -> Counts:
    rates = promql.event_rates(slo.sli, naming.BASE_WINDOW)
    if rates is None:
        raise ValueError(f"{slo.id}: a raw SLI has no event counts to replay")
    errors = _series(prom, rates.errors, start, end, step)
    totals = _series(prom, rates.total, start, end, step)
    times = range(start, end + 1, step)
    req = [0.0] + [totals.get(t, 0.0) * step for t in times[1:]]
    err = [0.0] + [min(errors.get(t, 0.0) * step, r) for t, r in zip(times[1:], req[1:], strict=True)]
    n = len(req)
    return Counts(step, 0, tuple(req), tuple(err), (True,) * n, (False,) * n)

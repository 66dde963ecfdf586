"""Counts of real history: the SLI's own 5m error and event rates, read from a Prometheus with
range queries at a 1m step and turned into per-step counts (a 5m moving average of the real
traffic), so that the same replay and ground truth apply as for synthetic scenarios."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Sequence

from sloctl import naming
from sloctl.egress import Egress, get_json
from sloctl.model import SLO
from sloctl.render import promql

from .scenarios import Counts, Scenario

__all__ = ["history_counts", "history_scenario"]

Transport = Callable[[str], object]
MAX_POINTS = 10_000  # Prometheus refuses range queries of more than 11,000 points


def _series(base: str, expr: str, start: int, end: int, step: int, transport: Transport) -> dict[int, float]:
    out: dict[int, float] = {}
    t = start
    while t <= end:
        stop = min(end, t + step * (MAX_POINTS - 1))
        q = urllib.parse.urlencode({"query": expr, "start": t, "end": stop, "step": step})
        body = transport(f"{base}/api/v1/query_range?{q}")
        if not isinstance(body, dict) or body.get("status") != "success":
            raise RuntimeError(f"Prometheus did not answer {expr!r}: {body!r}"[:500])
        for series in body["data"]["result"]:
            for ts, v in series["values"]:
                out[int(float(ts))] = out.get(int(float(ts)), 0.0) + float(v)
        t = stop + step
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
    transport: Transport | None = None,
    allow: Sequence[str] = (),
) -> Counts:
    """Per-step counts of ``slo`` over ``[start, end]`` (Unix seconds, ``start`` included as
    the first, empty, step), read through ``transport`` or the egress guard (loopback plus
    ``allow``, the ``--allow-host`` networks)."""
    if transport is None:
        egress = Egress.of(allow, action="read history from Prometheus at", widen="--allow-host")
        egress.check_url(base, flag="--prometheus")
        with egress.http_client(timeout=120) as client:
            return history_counts(
                base, slo, start, end, step=step, transport=lambda url: get_json(client, url)
            )
    err_q = promql.error_rate(slo.sli, naming.BASE_WINDOW)
    tot_q = promql.total_rate(slo.sli, naming.BASE_WINDOW)
    if err_q is None or tot_q is None:
        raise ValueError(f"{slo.id}: a raw SLI has no event counts to replay")
    errors = _series(base.rstrip("/"), err_q, start, end, step, transport)
    totals = _series(base.rstrip("/"), tot_q, start, end, step, transport)
    times = range(start, end + 1, step)
    req = [0.0] + [totals.get(t, 0.0) * step for t in times[1:]]
    err = [0.0] + [min(errors.get(t, 0.0) * step, r) for t, r in zip(times[1:], req[1:], strict=True)]
    n = len(req)
    return Counts(step, 0, tuple(req), tuple(err), (True,) * n, (False,) * n)

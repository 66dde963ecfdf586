"""Latency thresholds against the histogram buckets Prometheus actually has.

A latency SLI counts the requests under its threshold from the bucket whose ``le`` is the
threshold. When no bucket has that bound, the generated rule selects no series and the SLO
cannot be measured at all (``histogram_quantile`` could only interpolate between neighbours):
``sloctl validate --prometheus URL`` asks Prometheus for the bounds of every latency SLO's
histogram (``count by (le)`` over its ``_bucket`` series, selector included) and warns.

HTTP goes through :class:`sloctl.prometheus.Prometheus` and its egress guard (loopback unless
``allow`` adds networks), or through an injected httpx transport in tests.

>>> for w in bucket_warnings(slos, "http://127.0.0.1:9090"):   # doctest: +SKIP
...     print(w.message)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from sloctl.egress import Egress
from sloctl.model import SLO, LatencySLI
from sloctl.prometheus import Prometheus

__all__ = ["BucketWarning", "bucket_warnings"]


@dataclass(frozen=True)
class BucketWarning:
    slo: str
    message: str


def _selector(sli: LatencySLI) -> str:
    inner = sli.selector.strip()
    return inner if inner.startswith("{") else f"{{{inner}}}"


def _bounds(prom: Prometheus, sli: LatencySLI) -> list[float]:
    rows = prom.query(f"count by (le) ({sli.histogram}_bucket{_selector(sli)})")
    out: list[float] = []
    for row in rows:
        metric = row.get("metric")
        if isinstance(metric, dict) and "le" in metric:
            try:
                out.append(float(str(metric["le"])))
            except ValueError:
                continue
    return sorted(b for b in out if math.isfinite(b))


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:g} ms"


def _check(prom: Prometheus, slos: Sequence[SLO]) -> list[BucketWarning]:
    out: list[BucketWarning] = []
    for slo in slos:
        sli = slo.sli
        if not isinstance(sli, LatencySLI):
            continue
        bounds = _bounds(prom, sli)
        if not bounds:
            out.append(
                BucketWarning(
                    slo.id,
                    f"{slo.id}: Prometheus has no {sli.histogram}_bucket series matching {_selector(sli)}:"
                    " its buckets cannot be checked (is the service scraped?)",
                )
            )
        elif not any(math.isclose(b, sli.threshold_seconds, rel_tol=1e-9) for b in bounds):
            out.append(
                BucketWarning(
                    slo.id,
                    f"{slo.id}: threshold {_ms(sli.threshold_seconds)} is not a bucket bound of"
                    f" {sli.histogram} (bounds: {', '.join(_ms(b) for b in bounds)}): the SLI"
                    " selects no bucket and cannot be measured; add a bucket at"
                    f" {sli.threshold_seconds:g} s to the histogram or use one of its bounds",
                )
            )
    return out


def bucket_warnings(
    slos: Sequence[SLO],
    url: str,
    *,
    allow: Sequence[str] = (),
    transport: httpx.BaseTransport | None = None,
    token: str | None = None,
) -> list[BucketWarning]:
    """One warning per latency SLO whose threshold is not a bucket bound of its histogram as
    Prometheus at ``url`` sees it (or whose histogram Prometheus does not have)."""
    egress = Egress.of(allow, action="query Prometheus at", widen="--allow-host")
    with Prometheus.connect(url, egress=egress, transport=transport, token=token) as prom:
        return _check(prom, slos)

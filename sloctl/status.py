"""``sloctl status``: every SLO's remaining budget, current burn rate and firing alerts, read
from a live Prometheus through the series that the generated rules record.

HTTP goes through the egress guard (:mod:`sloctl.egress`: loopback only unless ``allow=`` adds
networks, no redirect followed, no ``*_proxy`` variable honoured), or through an injected
``Transport`` (a callable from URL to parsed JSON), so tests can run without a server.

>>> rows = collect("http://127.0.0.1:9090")     # doctest: +SKIP
>>> print(render_table(rows))                    # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

from sloctl import naming
from sloctl.egress import Egress, get_json

__all__ = [
    "StatusError",
    "StatusRow",
    "Transport",
    "collect",
    "render_json",
    "render_table",
]

Transport = Callable[[str], object]
"""GET ``url`` and return the decoded JSON body."""


class StatusError(RuntimeError):
    pass


@dataclass(frozen=True)
class StatusRow:
    slo: str
    service: str
    name: str
    budget_remaining: float
    current_burn_rate: float
    period_burn_rate: float
    firing: tuple[str, ...] = field(default=())
    """Firing tiers (``sloctl_tier``), sorted."""


def _query(base: str, expr: str, transport: Transport, time: float | None) -> list[dict[str, object]]:
    params = {"query": expr} | ({"time": str(time)} if time is not None else {})
    body = transport(f"{base}/api/v1/query?{urllib.parse.urlencode(params)}")
    if not isinstance(body, dict) or body.get("status") != "success":
        raise StatusError(f"Prometheus did not answer {expr!r}: {body!r}"[:500])
    data = body["data"]
    assert isinstance(data, dict)
    result = data.get("result")
    return result if isinstance(result, list) else []


def _by_id(rows: list[dict[str, object]]) -> dict[str, tuple[dict[str, str], float]]:
    out: dict[str, tuple[dict[str, str], float]] = {}
    for r in rows:
        metric = r.get("metric")
        value = r.get("value")
        if isinstance(metric, dict) and isinstance(value, list) and naming.LABEL_ID in metric:
            out[str(metric[naming.LABEL_ID])] = ({str(k): str(v) for k, v in metric.items()}, float(value[1]))
    return out


def collect(
    url: str,
    *,
    transport: Transport | None = None,
    allow: Sequence[str] = (),
    time: float | None = None,
) -> list[StatusRow]:
    """One row per SLO known to the Prometheus at ``url`` (by ``sloctl_slo_info``); ``allow``
    adds networks to loopback (``--allow-host``)."""
    egress = Egress.of(allow, action="query Prometheus at", widen="--allow-host")
    egress.check_url(url, flag="--prometheus")
    if transport is not None:
        return _collect(url.rstrip("/"), transport, time)
    with egress.http_client(timeout=30) as client:
        return _collect(url.rstrip("/"), lambda u: get_json(client, u), time)


def _collect(base: str, transport: Transport, time: float | None) -> list[StatusRow]:
    by = f"max by ({', '.join(naming.SLO_LABELS)})"
    info = _by_id(_query(base, f"{by} ({naming.SLO_INFO})", transport, time))
    budget = _by_id(_query(base, f"{by} ({naming.BUDGET_REMAINING})", transport, time))
    current = _by_id(_query(base, f"{by} ({naming.CURRENT_BURN_RATE})", transport, time))
    period = _by_id(_query(base, f"{by} ({naming.PERIOD_BURN_RATE})", transport, time))
    firing: dict[str, set[str]] = {}
    for r in _query(base, 'ALERTS{alertstate="firing", sloctl_id!=""}', transport, time):
        metric = r.get("metric")
        if isinstance(metric, dict):
            firing.setdefault(str(metric[naming.LABEL_ID]), set()).add(
                str(metric.get(naming.LABEL_TIER, "?"))
            )
    rows = []
    for slo_id in sorted(set(info) | set(budget)):
        labels = (info.get(slo_id) or budget[slo_id])[0]
        rows.append(
            StatusRow(
                slo=slo_id,
                service=labels.get(naming.LABEL_SERVICE, ""),
                name=labels.get(naming.LABEL_SLO, ""),
                budget_remaining=budget.get(slo_id, ({}, math.nan))[1],
                current_burn_rate=current.get(slo_id, ({}, math.nan))[1],
                period_burn_rate=period.get(slo_id, ({}, math.nan))[1],
                firing=tuple(sorted(firing.get(slo_id, ()))),
            )
        )
    return rows


def render_table(rows: Sequence[StatusRow]) -> str:
    header = ("SLO", "BUDGET LEFT", "BURN NOW", "BURN PERIOD", "FIRING")
    body = [
        (
            r.slo,
            f"{r.budget_remaining * 100:.1f}%",
            f"{r.current_burn_rate:.2f}x",
            f"{r.period_burn_rate:.2f}x",
            ",".join(r.firing) or "-",
        )
        for r in rows
    ]
    widths = [max(len(str(c)) for c in col) for col in zip(header, *body, strict=False)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in (header, *body)
    ]
    return "\n".join(lines) + "\n"


def _finite(v: float) -> float | None:
    return v if math.isfinite(v) else None


def render_json(rows: Sequence[StatusRow]) -> str:
    out = []
    for r in rows:
        d = asdict(r)
        for k in ("budget_remaining", "current_burn_rate", "period_burn_rate"):
            d[k] = _finite(d[k])
        d["firing"] = list(r.firing)
        out.append(d)
    return json.dumps({"slos": out}, indent=2, sort_keys=True) + "\n"

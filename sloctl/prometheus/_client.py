"""The Prometheus HTTP API client (see the package docstring)."""

from __future__ import annotations

import ipaddress
import math
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx

from sloctl.egress import Egress, get_json
from sloctl.masking import mask_text

__all__ = ["MAX_POINTS", "TIMEOUT", "Prometheus", "PrometheusError", "Result", "by_label", "scalar"]

Result = list[dict[str, Any]]
"""Prometheus' ``data.result`` as it sends it: vector samples or matrix series."""

#: Instant queries :meth:`Prometheus.query_many` has in flight at once (Prometheus runs 20 at
#: most by default, ``--query.max-concurrency``).
PARALLEL = 8

#: Prometheus refuses a range query of more than 11,000 points per series; longer ranges are
#: read in chunks of this many.
MAX_POINTS = 10_000


TIMEOUT = 30.0
"""Seconds to wait for an answer unless told otherwise (``status`` and ``gate --timeout``)."""


class PrometheusError(RuntimeError):
    """Prometheus answered, but not with a result (a bad query, an overloaded server)."""


class Prometheus:
    """One Prometheus at ``url``: every request goes through ``egress`` (loopback by default;
    ``Egress.of(allow, …)`` for ``--allow-host``) or, in tests, through an injected httpx
    ``transport``. The URL is checked against the allow-list either way, before any request.

    ``requests`` counts the API calls made (the UI's benchmark and tests read it).
    """

    def __init__(
        self,
        url: str,
        *,
        egress: Egress | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = TIMEOUT,
        flag: str = "--prometheus",
        verify: bool = True,
    ) -> None:
        guard = egress or Egress(action="query Prometheus at", widen="--allow-host")
        endpoint = guard.check_url(url, flag=flag)
        self.url = url.rstrip("/")
        self._client = (
            httpx.Client(transport=transport, timeout=timeout, trust_env=False)
            if transport is not None
            # Plain HTTP on loopback needs no certificate store: callers that open many clients
            # (the backtest) pass verify=False to skip loading it each time.
            else guard.http_client(timeout=timeout, verify=verify)
        )
        if all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in endpoint.addresses):
            # Over loopback, compression saves no time and costs CPU on both ends: Prometheus
            # gzips every answer (a megabyte for an overview of 1,000 SLOs) and we gunzip it.
            self._client.headers["Accept-Encoding"] = "identity"
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self.requests = 0

    @classmethod
    @contextmanager
    def connect(cls, url: str, **kwargs: Any) -> Iterator[Prometheus]:
        """A :class:`Prometheus` closed on leaving the block."""
        prom = cls(url, **kwargs)
        try:
            yield prom
        finally:
            prom.close()

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        self._client.close()

    def __enter__(self) -> Prometheus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the API ----------------------------------------------------------------------------------
    def _get(self, endpoint: str, params: Mapping[str, str] | None = None, what: str = "") -> Any:
        url = str(httpx.URL(f"{self.url}/api/v1/{endpoint}", params=dict(params or {})))
        with self._lock:
            self.requests += 1
        body = get_json(self._client, url)
        if not isinstance(body, dict) or body.get("status") != "success":
            error = body.get("error", body) if isinstance(body, dict) else body
            raise PrometheusError(
                mask_text(f"Prometheus at {self.url} did not answer {what or endpoint}: {error}")[:500]
            )
        return body.get("data")

    def query(self, expr: str, time: float | None = None) -> Result:
        """An instant query, now or at ``time`` (Unix seconds)."""
        params = {"query": expr} | ({"time": _num(time)} if time is not None else {})
        return _result(self._get("query", params, repr(expr)))

    def query_many(self, exprs: Mapping[str, str], time: float | None = None) -> dict[str, Result]:
        """Several instant queries at one time, sent together (at most :data:`PARALLEL` at once):
        a page that needs a dozen waits for the slowest, not for their sum."""
        if len(exprs) <= 1:
            return {name: self.query(expr, time) for name, expr in exprs.items()}
        futures = {name: self._workers().submit(self.query, expr, time) for name, expr in exprs.items()}
        return {name: f.result() for name, f in futures.items()}

    def _workers(self) -> ThreadPoolExecutor:
        # One pool for the client's life: starting threads per call cost a busy machine tens of
        # milliseconds a page (each start waits for the new thread to be scheduled).
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=PARALLEL, thread_name_prefix="prometheus")
            return self._pool

    def query_range(self, expr: str, start: float, end: float, step: float) -> Result:
        """A range query over ``[start, end]``; a range of more than :data:`MAX_POINTS` steps is
        read in chunks and each series' points joined, so callers need not know the limit."""
        if step <= 0:
            raise ValueError(f"a range query needs a positive step, not {step}")
        merged: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
        t = start
        while t <= end:
            stop = min(end, t + step * (MAX_POINTS - 1))
            params = {"query": expr, "start": _num(t), "end": _num(stop), "step": _num(step)}
            for series in _result(self._get("query_range", params, repr(expr))):
                key = tuple(sorted(series.get("metric", {}).items()))
                if key in merged:
                    merged[key]["values"].extend(series.get("values", []))
                else:
                    merged[key] = {
                        "metric": series.get("metric", {}),
                        "values": list(series.get("values", [])),
                    }
            t = stop + step
        return list(merged.values())

    def rules(self, type_: str | None = None) -> list[dict[str, Any]]:
        """The rule groups Prometheus evaluates (``type_``: ``alert`` or ``record``)."""
        data = self._get("rules", {"type": type_} if type_ else None)
        groups = data.get("groups", []) if isinstance(data, dict) else []
        return list(groups)

    def alerts(self) -> list[dict[str, Any]]:
        """The active (pending or firing) alerts."""
        data = self._get("alerts")
        return list(data.get("alerts", [])) if isinstance(data, dict) else []

    def tsdb_status(self) -> dict[str, Any]:
        """Cardinality figures: head series, top metric names, label counts."""
        data = self._get("status/tsdb")
        return dict(data) if isinstance(data, dict) else {}


def _num(v: float) -> str:
    # Milliseconds, Prometheus' own resolution.
    return f"{v:.3f}"


def _result(data: Any) -> Result:
    result = data.get("result") if isinstance(data, dict) else None
    return result if isinstance(result, list) else []


def scalar(result: Result) -> float:
    """The value of a one-sample vector; NaN when it has none."""
    return float(result[0]["value"][1]) if result else math.nan


def by_label(result: Result, label: str) -> dict[str, tuple[dict[str, str], float]]:
    """Vector samples keyed by one label's value (samples without it are left out). The label
    sets are the decoded answer's own (Prometheus sends names and values as strings): a page
    over a thousand SLOs reads tens of thousands of them, so they are not copied."""
    out: dict[str, tuple[dict[str, str], float]] = {}
    for r in result:
        metric, value = r.get("metric"), r.get("value")
        if isinstance(metric, dict) and isinstance(value, list) and label in metric:
            out[str(metric[label])] = (metric, float(value[1]))
    return out

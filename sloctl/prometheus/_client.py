"""The Prometheus HTTP API client (see the package docstring, whose ``__all__`` is its public
face)."""

from __future__ import annotations

import ipaddress
import json
import math
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Literal, TypeVar
from urllib.parse import urlencode

import httpx

from sloctl.egress import Egress, EgressDenied, Endpoint, UnexpectedAnswer, get_json
from sloctl.files import json_kind
from sloctl.masking import mask_text

_T = TypeVar("_T")


class Result(list[dict[str, Any]]):
    """A list of an answer's ``data`` as Prometheus sends it (a query's ``result``: vector
    samples or matrix series; the rule groups; the alerts), with what the answer said besides
    the numbers: ``warnings``, that the result may be partial or wrong (a store or querier down,
    a limit hit: Prometheus, Thanos, Mimir), and ``infos``, Prometheus 3's notes on the query
    (such as a ``rate()`` of a metric not named like a counter). Both are empty when it said
    nothing; a reader that acts on the numbers must not take a warned answer for a whole one.

    >>> r = Result([{"metric": {}, "value": [0, "1"]}], warnings=["store down: partial response"])
    >>> r == [{"metric": {}, "value": [0, "1"]}], r.warnings, r.infos
    (True, ('store down: partial response',), ())
    """

    def __init__(
        self, items: Iterable[dict[str, Any]] = (), *, warnings: Iterable[str] = (), infos: Iterable[str] = ()
    ) -> None:
        super().__init__(items)
        self.warnings = tuple(warnings)
        self.infos = tuple(infos)


ResultType = Literal["vector", "matrix"]
"""The ``resultType`` of a query's answer that sloctl reads (never ``scalar`` or ``string``)."""

#: Requests a client has in flight at once on its pool (:meth:`Prometheus.submit`,
#: :meth:`Prometheus.query_many`): room for one page of ``sloctl serve`` to send every read it can
#: together (the SLO page: 8 instant queries, the rules API and 4 range queries); Prometheus runs
#: 20 queries at most at once by default (``--query.max-concurrency``) and queues the rest.
PARALLEL = 16

#: Prometheus refuses a range query of more than 11,000 points per series; longer ranges are
#: read in chunks of this many.
MAX_POINTS = 10_000


#: The longest query string sent in a GET; a longer one (a query naming a page of long SLO
#: ids, or an id a client typed) is POSTed form-encoded, as Prometheus' API (and VictoriaMetrics',
#: Thanos', Mimir's) takes it "for a large query that may breach server-side URL character
#: limits": nginx's default request-line buffer is 8 KiB (a 414 from a proxy in front), and httpx
#: refuses to build a URL whose query is over 64 KiB.
MAX_QUERY_STRING = 8000


TIMEOUT = 30.0
"""Seconds to wait for an answer unless told otherwise (``status`` and ``gate --timeout``)."""


class PrometheusError(RuntimeError):
    """Prometheus answered, but not with a result (a bad query, an overloaded server).
    ``status``: the HTTP status of that answer (None where the error is not one answer's)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class NotServed(PrometheusError):
    """The engine, or a proxy in front of it, serves no such API: it answered 404 (Mimir
    without its ruler, a query-only proxy, a gateway's JSON ``not_found``), 405 or 501, with
    whatever body. Said for the rules API, which not every Prometheus-compatible engine serves."""


#: The statuses of an API that is not served (rather than failing, as a 401 or 5xx is).
_NOT_SERVED = (404, 405, 501)


@dataclass(frozen=True)
class _Answer:
    """A successful answer: its ``data`` and its ``warnings`` and ``infos`` (masked)."""

    data: dict[str, Any]
    warnings: tuple[str, ...]
    infos: tuple[str, ...]

    def listed(self, key: str) -> Result:
        """``data[key]`` (its shape checked by :func:`_misshapen`) with the answer's notes."""
        return Result(self.data[key], warnings=self.warnings, infos=self.infos)


class Prometheus:
    """One Prometheus at ``url``: every request goes through ``egress`` (loopback by default;
    ``Egress.of(allow, …)`` for ``--allow-host``) or, in tests, through an injected httpx
    ``transport``. The URL is checked against the allow-list either way, before any request.
    ``token``: sent as ``Authorization: Bearer``; basic auth is the URL's ``user:password@``.

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
        token: str | None = None,
    ) -> None:
        guard = egress or Egress(action="query Prometheus at", widen="--allow-host")
        endpoint = check_url(url, guard, flag=flag)
        self.url = url.rstrip("/")
        self._flag = flag
        self.timeout = timeout
        """Seconds to wait for an answer."""
        self._client = (
            httpx.Client(transport=transport, timeout=timeout, trust_env=False)
            if transport is not None
            # Plain HTTP on loopback needs no certificate store: callers that open many clients
            # (the backtest) pass verify=False to skip loading it each time.
            else guard.http_client(timeout=timeout, verify=verify)
        )
        if token is not None:
            # A bearer token (``--prometheus-token-file``): for a Prometheus behind an
            # authenticating proxy, Mimir, Thanos or Cortex; never printed (the URL is, masked).
            self._client.headers["Authorization"] = f"Bearer {token}"
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
    def _get(
        self,
        endpoint: str,
        params: Mapping[str, str | Sequence[str]] | None = None,
        what: str = "",
        result_type: ResultType | None = None,
    ) -> _Answer:
        """A successful answer, its shape checked (:func:`_misshapen`, with the ``result_type``
        a query expects): a malformed answer is a :class:`PrometheusError`, never an empty
        result. The one place an answer's ``warnings`` and ``infos`` are read. Sent as a GET, or
        as a form POST past :data:`MAX_QUERY_STRING`."""
        where = f"{self.url}/api/v1/{endpoint}"
        args = dict(params or {})
        with self._lock:
            self.requests += 1
        if len(urlencode(args, doseq=True)) > MAX_QUERY_STRING:
            status, body = get_json(self._client, where, form=args)
        else:
            status, body = get_json(self._client, str(httpx.URL(where, params=args)))
        what = what or endpoint
        if not (isinstance(body, dict) and ("error" if status >= 400 else "status") in body):
            # JSON, but not Prometheus' error nor its answer: another service answers there (its
            # own 404, its own {"ok": true}).
            raise PrometheusError(_not_the_api(where, status, body, self._flag), status)
        if body.get("status") != "success" and "error" in body:
            raise PrometheusError(
                mask_text(f"Prometheus at {self.url} did not answer {what}: {body['error']}")[:500], status
            )
        wrong = _misshapen(endpoint, body, result_type)
        if wrong:
            raise PrometheusError(
                mask_text(f"Prometheus at {self.url}: the answer to {what} could not be read: {wrong}"),
                status,
            )
        return _Answer(
            body["data"],
            tuple(mask_text(w) for w in body.get("warnings") or ()),
            tuple(mask_text(i) for i in body.get("infos") or ()),
        )

    def query(
        self,
        expr: str,
        time: float | None = None,
        result_type: ResultType = "vector",
        *,
        extra: Mapping[str, str] | None = None,
    ) -> Result:
        """An instant query, now or at ``time`` (Unix seconds): a vector, or a matrix for a range
        selector (``x[5m]``, its raw samples) when ``result_type`` says so. ``extra``: parameters
        of a server's own beside the API's (VictoriaMetrics' ``latency_offset``)."""
        params = dict(extra or {}) | {"query": expr} | ({"time": _num(time)} if time is not None else {})
        return self._get("query", params, repr(expr), result_type).listed("result")

    def query_many(self, exprs: Mapping[str, str], time: float | None = None) -> dict[str, Result]:
        """Several instant queries at one time, sent together (at most :data:`PARALLEL` at once):
        a page that needs a dozen waits for the slowest, not for their sum."""
        if len(exprs) <= 1:
            return {name: self.query(expr, time) for name, expr in exprs.items()}
        futures = {name: self.submit(self.query, expr, time) for name, expr in exprs.items()}
        return {name: f.result() for name, f in futures.items()}

    def submit(self, read: Callable[..., _T], *args: Any) -> Future[_T]:
        """``read(*args)``, a read of this client (one request, or a few in turn), sent on the
        client's pool (:data:`PARALLEL` at once) while the caller goes on: a caller sends its
        independent reads together and waits for the slowest, not for their sum. ``read`` must
        not wait on this pool itself (no :meth:`query_many` in it): a pool full of reads waiting
        for queued ones would wait for ever."""
        return self._workers().submit(read, *args)

    def _workers(self) -> ThreadPoolExecutor:
        # One pool for the client's life: starting threads per call cost a busy machine tens of
        # milliseconds a page (each start waits for the new thread to be scheduled).
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=PARALLEL, thread_name_prefix="prometheus")
            return self._pool

    def query_range(self, expr: str, start: float, end: float, step: float) -> Result:
        """A range query over ``[start, end]``; a range of more than :data:`MAX_POINTS` steps is
        read in chunks and each series' points joined, so callers need not know the limit (and
        every chunk's warnings and infos kept, once each)."""
        if step <= 0:
            raise ValueError(f"a range query needs a positive step, not {step}")
        merged: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
        warnings: dict[str, None] = {}
        infos: dict[str, None] = {}
        t = start
        while t <= end:
            stop = min(end, t + step * (MAX_POINTS - 1))
            params = {"query": expr, "start": _num(t), "end": _num(stop), "step": _num(step)}
            answer = self._get("query_range", params, repr(expr), "matrix")
            warnings.update(dict.fromkeys(answer.warnings))
            infos.update(dict.fromkeys(answer.infos))
            for series in answer.data["result"]:
                key = tuple(sorted(series["metric"].items()))
                if key in merged:
                    merged[key]["values"].extend(series["values"])
                else:
                    merged[key] = {"metric": series["metric"], "values": list(series["values"])}
            t = stop + step
        return Result(merged.values(), warnings=warnings, infos=infos)

    def rules(
        self,
        type_: str | None = None,
        *,
        names: Sequence[str] = (),
        groups: Sequence[str] = (),
        exclude_alerts: bool = False,
    ) -> Result:
        """The rule groups Prometheus evaluates (``type_``: ``alert`` or ``record``), each rule
        with its ``health`` (``ok``, ``err``, ``unknown``) and ``lastError``; only the rules
        named ``names`` and the groups named ``groups`` when given, and without the alerting
        rules' active alerts with ``exclude_alerts``. Prometheus 2.42 honours ``type`` alone
        and ignores the rest (the whole answer, which the caller must expect); 3.x honours
        all of them. :class:`NotServed` when there is no rules API there."""
        params: dict[str, str | Sequence[str]] = {"type": type_} if type_ else {}
        if names:
            params["rule_name[]"] = list(names)
        if groups:
            params["rule_group[]"] = list(groups)
        if exclude_alerts:
            params["exclude_alerts"] = "true"
        try:
            return self._get("rules", params).listed("groups")
        except (UnexpectedAnswer, PrometheusError) as exc:
            # The status decides, not the body: a gateway or a query frontend answers its 404
            # in JSON ({"status": "error", "errorType": "not_found", …}) as often as in text.
            if exc.status in _NOT_SERVED:
                raise NotServed(
                    mask_text(
                        f"{self.url}/api/v1/rules answered {exc.status}: no rules API there (an engine"
                        " without one, such as Mimir without its ruler, or a proxy that passes queries alone)"
                    ),
                    exc.status,
                ) from None
            raise

    def alerts(self) -> Result:
        """The active (pending or firing) alerts."""
        return self._get("alerts").listed("alerts")

    def tsdb_status(self) -> dict[str, Any]:
        """Cardinality figures: head series, top metric names, label counts."""
        return self._get("status/tsdb").data


def check_url(url: str, egress: Egress, *, flag: str = "--prometheus") -> Endpoint:
    """The endpoint of Prometheus' base URL ``url`` given with ``flag``, checked against
    ``egress``; :class:`~sloctl.egress.EgressDenied` for a URL with a query string or fragment,
    which ``/api/v1/…`` cannot follow (a path prefix such as ``/prometheus``, behind a reverse
    proxy, can)."""
    endpoint = egress.check_url(url, flag=flag)
    if "?" in url or "#" in url:  # neither can be in the host or the path: they start a query, a fragment
        raise EgressDenied(
            f"{flag} must be Prometheus' base URL, such as http://127.0.0.1:9090 or, behind a reverse"
            " proxy, http://127.0.0.1:8080/prometheus, without a query string or fragment;"
            f" not {mask_text(url)!r}"
        )
    return endpoint


def _not_the_api(url: str, status: int, body: object, flag: str) -> str:
    """What to say of a JSON answer that is not Prometheus' (of an error status, its error:
    ``status``, ``errorType``, ``error``; of any other, an object with a ``status``): some other
    service's answer, such as an application's own 404 problem document, a gateway's error or a
    health check's ``{"ok": true}``, rather than "its status is None, not 'success'"."""
    try:
        phrase = f" {HTTPStatus(status).phrase}"
    except ValueError:
        phrase = ""
    said = f"{mask_text(url)} answered {status}{phrase} with JSON that is not Prometheus' API answer"
    if status < 400:
        what = (
            "no status field" if isinstance(body, dict) else f"{json_kind(body)}, not an object with a status"
        )
        return (
            f"{said} ({what}): check that {flag} is the server's base URL, such as http://127.0.0.1:9090,"
            " with its path prefix if it answers under one (--web.route-prefix, a reverse proxy's)"
        )
    if status == 404:
        return (
            f"{said}: no Prometheus API at that path; check that the URL is Prometheus' (its port), with"
            " its path prefix if it answers under one (--web.route-prefix, a reverse proxy's)"
        )
    if status in (401, 403):
        return f"{said}: the request was refused; check the credentials (the URL's, --prometheus-token-file)"
    if status >= 500:
        return f"{said}: the server, or a proxy in front of it, failed"
    return f"{said}: check that the URL is Prometheus'"


def _num(v: float) -> str:
    # Milliseconds, Prometheus' own resolution.
    return f"{v:.3f}"


#: The list in ``data`` and the keys of its items: of a query's answer by its resultType, of the
#: other endpoints' by endpoint.
_SHAPES: dict[str, tuple[str, tuple[str, ...]]] = {
    "vector": ("result", ("metric", "value")),
    "matrix": ("result", ("metric", "values")),
    "rules": ("groups", ("name", "rules")),
    "alerts": ("alerts", ("labels", "state")),
}


def _misshapen(endpoint: str, body: dict[str, Any], result_type: ResultType | None = None) -> str | None:
    """What is wrong with the shape of ``body``, a decoded answer of ``/api/v1/{endpoint}``
    with a ``status`` (a query's of ``result_type``), None when nothing is: the one check of every
    answer, so that callers read the samples as Prometheus sends them (``[time, "value"]``) and a
    malformed answer is never taken for an empty result ("Prometheus knows no SLO")."""
    if body.get("status") != "success":
        return f"its status is {body.get('status')!r}, not 'success', and it gives no error"
    data = body.get("data")
    if not isinstance(data, dict):
        return f"its data is {json_kind(data)}, not an object"
    for notes in ("warnings", "infos"):
        said = body.get(notes)
        if said is not None and not (type(said) is list and all(type(n) is str for n in said)):
            return f"its {notes} are {json_kind(said)}, not a list of strings"
    if result_type is not None and data.get("resultType") != result_type:
        return f"its resultType is {data.get('resultType')!r}, not {result_type!r}"
    if (result_type or endpoint) not in _SHAPES:
        return None
    key, fields = _SHAPES[result_type or endpoint]
    items = data.get(key)
    if not isinstance(items, list):
        return f"its data.{key} is {json_kind(items)}, not a list"
    for i, item in enumerate(items):
        wrong = _item(item, fields, result_type)
        if wrong:
            return f"data.{key}[{i}]: {wrong}"
    return None


def _item(item: object, fields: tuple[str, ...], result_type: ResultType | None) -> str | None:
    """What is wrong with one vector sample, matrix series, rule group or alert."""
    if type(item) is not dict:
        return f"it is {json_kind(item)}, not an object"
    for field in fields:
        if field not in item:
            return f"it has no {field}"
    if result_type is None:
        return None
    if type(item["metric"]) is not dict:
        return f"its metric is {json_kind(item['metric'])}, not an object"
    if result_type == "vector":
        return _sample(item["value"])
    values = item["values"]
    if type(values) is not list:
        return f"its values are {json_kind(values)}, not a list"
    for point in values:
        wrong = _sample(point)
        if wrong:
            return wrong
    return None


def _sample(point: object) -> str | None:
    """What is wrong with one ``[time, "value"]`` sample (None when nothing is)."""
    try:
        if type(point) is list and len(point) == 2 and type(point[1]) is str:
            float(point[0]), float(point[1])
            return None
    except (TypeError, ValueError):
        pass
    return f'a sample is {mask_text(json.dumps(point))[:40]}, not [time, "value"] with numbers'


def scalar(result: Sequence[dict[str, Any]]) -> float:
    """The value of a one-sample vector; NaN when it has none."""
    return float(result[0]["value"][1]) if result else math.nan


def by_label(result: Sequence[dict[str, Any]], label: str) -> dict[str, tuple[dict[str, str], float]]:
    """Vector samples keyed by one label's value (samples without it are left out). The label
    sets are the decoded answer's own (Prometheus sends names and values as strings): a page
    over a thousand SLOs reads tens of thousands of them, so they are not copied."""
    out: dict[str, tuple[dict[str, str], float]] = {}
    for r in result:
        metric = r["metric"]
        if label in metric:
            out[str(metric[label])] = (metric, float(r["value"][1]))
    return out

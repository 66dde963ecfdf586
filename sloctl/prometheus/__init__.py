"""The one way sloctl talks to a Prometheus (or a Prometheus-compatible engine's HTTP API):
instant and range queries, rules, alerts and TSDB status, through the egress guard.

``sloctl status``, ``sloctl gate``, the backtest (the replay's own server and ``--prometheus``
history), the game days' probes and ``sloctl serve`` all read through :class:`Prometheus`:

>>> with Prometheus.connect("http://127.0.0.1:9090") as prom:   # doctest: +SKIP
...     prom.query("up")
[{'metric': {'__name__': 'up', ...}, 'value': [1700000000.0, '1']}]

Results keep Prometheus' JSON shape (``{"metric": {...}, "value": [t, "v"]}`` for a vector,
``"values"`` for a matrix), which every caller already reads; :func:`scalar` and :func:`by_label`
are the two small readers several of them share. Every answer's shape is checked on arrival, in
one place: one that is not the API's is a :class:`PrometheusError` naming the query and what is
wrong, never an empty result. The URL is Prometheus' base URL (:func:`check_url`): a path prefix
is kept, a query string or fragment refused.
"""

from ._client import (
    MAX_POINTS,
    MAX_QUERY_STRING,
    TIMEOUT,
    NotServed,
    Prometheus,
    PrometheusError,
    Result,
    ResultType,
    by_label,
    check_url,
    scalar,
)

__all__ = [
    "MAX_POINTS",
    "MAX_QUERY_STRING",
    "TIMEOUT",
    "NotServed",
    "Prometheus",
    "PrometheusError",
    "Result",
    "ResultType",
    "by_label",
    "check_url",
    "scalar",
]

"""``sloctl serve``: the SLO web UI (overview, SLO pages, game days, load tests and backtests),
read-only, over a live Prometheus through the one access layer (:mod:`sloctl.prometheus`).

>>> with Prometheus.connect("http://127.0.0.1:9090") as prom:       # doctest: +SKIP
...     listener = start(App(ServeConfig(), prom), "127.0.0.1:0")
"""

from .app import App, Page, ServeConfig
from .server import Listener, ListenError, start

__all__ = ["App", "ListenError", "Listener", "Page", "ServeConfig", "start"]

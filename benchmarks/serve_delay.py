"""``sloctl serve``'s uncached pages through a Prometheus that takes ``--delay`` seconds over
every answer (a far or busy one): what a page costs when its reads wait for each other. The
stub answers one SLO whose rules' groups are listed (so every read a page makes is made); each
page is rendered ``--pages`` times with the cache off (``App.handle``), and the median printed
with the requests it made and the delays it took (median ÷ delay).

Usage (``PYTHONPATH`` first names the sloctl measured; another checkout for a baseline, e.g.
``git archive REV sloctl | tar -x -C DIR`` and ``PYTHONPATH=DIR:.``)::

    PYTHONPATH=. .venv/bin/python benchmarks/serve_delay.py [--delay 0.5] [--pages 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from collections.abc import Callable

from sloctl.prometheus import Prometheus
from sloctl.serve import App, ServeConfig
from sloctl.spec import load_text
from tests.fixtures.one_slo_prometheus import SLO_ID, SPEC, answer
from tests.fixtures.stub_http import Answer, StubRequest, serve

#: (name, path, query, whether the SLO's file is served)
PAGES = (
    ("overview", "/", {}, True),
    ("overview, label filter", "/", {"label": ["team"]}, True),
    ("SLO page, range 1h", f"/slo/{SLO_ID}", {"range": ["1h"]}, True),
    ("SLO page, period of an SLO not served", f"/slo/{SLO_ID}", {}, False),
)


def answer_after(delay: float) -> Callable[[StubRequest], Answer]:
    def answered(request: StubRequest) -> Answer:
        threading.Event().wait(delay)  # the Prometheus measured: every answer takes `delay`
        return answer(request)

    return answered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=0.5)
    parser.add_argument("--pages", type=int, default=5)
    args = parser.parse_args()
    load = os.getloadavg()
    specs = tuple(load_text(SPEC).slos)
    loads = " ".join(f"{x:.1f}" for x in load)
    print(f"delay {args.delay:g} s, {args.pages} pages each, load average {loads}")
    with serve(answer_after(args.delay)) as stub, Prometheus.connect(stub.url) as prom:
        for name, path, query, served in PAGES:
            app = App(ServeConfig(specs=specs if served else (), cache_seconds=0), prom)
            times, requests = [], 0
            for _ in range(args.pages):
                before = len(stub.requests)
                t0 = time.perf_counter()
                page = app.handle(path, query)
                times.append(time.perf_counter() - t0)
                requests = len(stub.requests) - before
                assert page.status == 200, page.body[:300]
            median = statistics.median(times)
            print(f"{name}: {median:.2f} s ({median / args.delay:.1f} delays), {requests} requests")


if __name__ == "__main__":
    main()

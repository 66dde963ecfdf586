"""sloctl's own servers on loopback are reached directly, never through a ``*_proxy`` variable
of the environment: the backtest's VictoriaMetrics calls went through ``urllib``'s default
opener, which sends every request to ``HTTP_PROXY`` (a proxy elsewhere, whose name DNS
resolves, carrying the history being replayed). The proxy here is a stub on loopback that
records what reaches it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sloctl.backtest.victoria import export_series, post_import
from sloctl.servers.victoria import start_victoria_metrics
from tests.fixtures.stub_http import Answer, serve
from tests.fixtures.victoria_unit import victoriametrics_marks

pytestmark = victoriametrics_marks("victoria-metrics")


def test_the_backtest_s_victoriametrics_calls_ignore_http_proxy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    now = int(time.time())
    with serve(lambda _r: Answer(b"", "text/plain")) as proxy, start_victoria_metrics(tmp_path / "vm") as vm:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("http_proxy", proxy.url)
        post_import(vm.import_url, f"sloctl_test_up 1 {now * 1000}\n")
        vm.force_flush()
        exported = export_series(vm.url, "sloctl_test_up", now - 60, now + 60)
        served = vm.requests_served("/api/v1/export")
    # Before: every one of the four went to the proxy (the export read its empty answer).
    assert proxy.requests == [], [(r.method, r.path) for r in proxy.requests]
    assert [e["values"] for e in exported] == [[1]], exported
    assert served == 1

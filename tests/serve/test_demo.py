"""``serve --demo`` goes on live after its backfilled history: its rules' evaluations are taken
(nothing backfilled lies in the future, where Prometheus would refuse them), so ``ALERTS`` carries
the alerts firing and the UI shows them; the scenarios' traffic is served for Prometheus to
scrape, going on at its last rate past the scenarios' end."""

from __future__ import annotations

import signal
import socket
import struct
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from sloctl import naming
from sloctl.backtest.series import Sample
from sloctl.prometheus import Prometheus
from sloctl.serve import App, ServeConfig
from sloctl.serve import demo as demo_module
from sloctl.serve.demo import DemoError, LiveFeeds
from tests.fixtures import string_code_signal
from tests.fixtures.cli import sigint_as_in_a_terminal, start_sloctl
from tests.fixtures.stub_http import Answer, StubRequest, prometheus_answer, serve
from tests.paths import ROOT
from tests.waiting import wait_until

from .conftest import Stack

#: Bounds a failure only: the rules are evaluated every 5 s here (conftest.LIVE_INTERVAL), and
#: ``ALERTS`` is written from a group's third evaluation on.
LIVE_DEADLINE = 240.0
#: Bounds a failure only: the backfill's step under way (a promtool run) ends within seconds, and
#: the live wait's poll within one; the live wait itself lasts a minute (the rules' interval
#: there), which a signal only noted would wait out.
SIGNAL_DEADLINE = 30.0


def _alert_key(labels: dict[str, str], state: str) -> tuple[str, str, str, str]:
    return (labels["alertname"], labels.get(naming.LABEL_ID, ""), labels.get(naming.LABEL_TIER, ""), state)


@pytest.mark.slow
@pytest.mark.promtool
def test_the_demo_alerts_are_written_to_alerts_and_shown_firing(serve_stack: Stack) -> None:
    config = ServeConfig(specs=serve_stack.slos, cache_seconds=0)
    with Prometheus.connect(serve_stack.url) as prom:

        def agreed() -> set[tuple[str, str, str, str]] | None:
            active = {_alert_key(a["labels"], a["state"]) for a in prom.alerts()}
            written = {_alert_key(r["metric"], r["metric"]["alertstate"]) for r in prom.query("ALERTS")}
            firing = {a for a in active if a[3] == "firing"}
            return written if firing and written == active else None

        alerts = wait_until(agreed, timeout=LIVE_DEADLINE, what="ALERTS as /api/v1/alerts says")
        rows = App(config, prom).overview().rows  # now, not the backfill's end
    burning = {
        (slo, tier) for _, slo, tier, state in alerts if state == "firing" and naming.is_burn_rate_tier(tier)
    }
    shown = {(r.id, tier) for r in rows for tier in r.firing}
    assert burning and shown == burning
    assert {r.id for r in rows if r.state == "firing"} == {slo for slo, _ in burning}
    log = (serve_stack.workdir / "prometheus.log").read_text()
    assert "out of bounds" not in log and "discarded" not in log


def test_the_live_feeds_serve_each_series_latest_sample_then_go_on_at_its_last_rate() -> None:
    now = [0.0]
    feeds = LiveFeeds(
        [
            Sample("c_total", '{s="a"}', 10.0, 60),
            Sample("c_total", '{s="a"}', 16.0, 120),  # 0.1 a second
            Sample("c_total", '{s="a"}', 22.0, 180),
            Sample("c_total", '{s="gap"}', 5.0, 60),  # absent at the end: stays away
        ],
        after=60,
        clock=lambda: now[0],
    )
    now[0] = 100
    assert feeds.exposition() == ""  # the latest samples were backfilled (up to ``after``)
    now[0] = 150
    assert feeds.exposition() == 'c_total{s="a"} 16 120000\n'
    now[0] = 280
    assert feeds.exposition() == 'c_total{s="a"} 32 280000\n'


def _rule_groups(evaluated: dict[str, str]) -> Callable[[StubRequest], Answer]:
    """A Prometheus rules API whose groups last evaluated at the times ``evaluated`` says."""
    groups = [{"name": n, "lastEvaluation": t, "interval": 60, "rules": []} for n, t in evaluated.items()]
    return lambda _request: prometheus_answer({"groups": groups})


@pytest.mark.parametrize(
    ("evaluated", "live"),
    [
        ({"a": "1970-01-01T00:16:40.5Z", "b": "1970-01-01T00:16:41.25+00:00"}, True),
        ({"a": "1970-01-01T00:16:40.5Z", "b": "1970-01-01T00:16:39.75Z"}, False),  # b: before it
        ({"a": "1970-01-01T00:16:40.5Z", "b": "0001-01-01T00:00:00Z"}, False),  # b: not yet
    ],
    ids=["both-after-the-scrape", "one-before", "one-never"],
)
def test_the_demo_is_live_once_every_group_evaluated_after_the_first_scrape_however_late_it_looks(
    evaluated: dict[str, str], live: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first scrape at 1000 s; the groups evaluated already when the start-up looks (within
    its poll's step, or on a busy machine before it began to wait). It waited for each group to
    change after it had noticed the scrape: a whole interval more, a minute in ``serve --demo``
    (here, until its deadline)."""
    feeds = LiveFeeds([Sample("c_total", "{}", 1.0, 60)], after=0, clock=lambda: 1000.0)
    feeds.exposition()  # Prometheus' first scrape
    monkeypatch.setattr(demo_module, "LIVE_WAIT_SECONDS", 1.0)  # bounds the cases that wait it out
    with serve(_rule_groups(evaluated)) as prometheus:
        if live:
            demo_module._wait_live(prometheus.url, feeds)
        else:
            with pytest.raises(DemoError, match="rules were not evaluated within 1 s"):
                demo_module._wait_live(prometheus.url, feeds)
        assert len(prometheus.requests) >= 1


def _running_in(folder: Path) -> list[str]:
    """The command lines of the processes that name ``folder`` (the demo's Prometheus and
    promtool run with their data there)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone meanwhile, or not a process
            continue
        if proc.name.isdigit() and str(folder) in cmdline and "pytest" not in cmdline:
            found.append(cmdline)
    return found


@pytest.mark.slow
@pytest.mark.promtool
@pytest.mark.parametrize(
    "phase",
    ["demo: backfilling", "demo: waiting for the rules' first live evaluation"],
    ids=["backfill", "live-wait"],
)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_during_the_demo_start_stops_it_at_once_and_what_it_started(
    tmp_path: Path, sig: signal.Signals, phase: str
) -> None:
    """The backfill (a minute or two) went on after Ctrl-C or SIGTERM, then the demo announced
    itself serving and exited 0: the signal was only noted, to be read after the backfill. The
    signal goes to sloctl alone (``kill -INT PID``: promtool and Prometheus hear nothing), in
    either phase of the start: promtool's backfill, or the wait for the rules' first live
    evaluation (a minute, its Prometheus running; ``testbed up`` waited out its start so)."""
    workdir = tmp_path / "demo"
    err = tmp_path / "stderr.txt"
    with err.open("w") as sink:
        proc = start_sloctl(
            "serve", "--demo", str(ROOT / "slos"), "--listen", "127.0.0.1:0", "--workdir", str(workdir),
            stdout=subprocess.DEVNULL, stderr=sink,
        )  # fmt: skip
    try:
        wait_until(lambda: phase in err.read_text(), timeout=60, what=f"{phase!r} said")
        proc.send_signal(sig)
        code = proc.wait(timeout=SIGNAL_DEADLINE)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    said = err.read_text()
    assert code == 130 and "sloctl: interrupted" in said, (code, said)
    assert "Ctrl-C stops" not in said  # never announced as serving
    assert _running_in(workdir) == []


@pytest.mark.slow
@pytest.mark.promtool
@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_a_signal_that_lands_in_code_run_from_a_string_as_the_live_wait_starts_is_exit_130(
    tmp_path: Path, sig: str
) -> None:
    """The test above saw the demo die of SIGINT after it said ``sloctl: interrupted`` (8 runs
    in 95 of the live wait's case, both signals): its live wait starts by importing httpx's
    HTTP/1.1 stack, whose dataclasses make their methods with ``exec`` of text, and CPython
    recorded the KeyboardInterrupt raised in that code as unhandled, then ended the ``python -m``
    process with SIGINT at its exit. The signal comes at that instant here, every run
    (:mod:`tests.fixtures.string_code_signal`)."""
    workdir = tmp_path / "demo"
    proc = subprocess.run(
        [
            *string_code_signal.command(sig, demo_module._wait_live.__name__),
            "serve", "--demo", str(ROOT / "slos"), "--listen", "127.0.0.1:0", "--workdir", str(workdir),
            "--for", "1s",  # bounds a failure only: the instant never came, the demo served
        ],
        capture_output=True, text=True, timeout=LIVE_DEADLINE, preexec_fn=sigint_as_in_a_terminal,
        check=False,
    )  # fmt: skip
    said = proc.stderr.splitlines()
    assert (proc.returncode, said[-2:]) == (130, [string_code_signal.SAID, "sloctl: interrupted"]), (
        proc.stderr
    )
    assert _running_in(workdir) == []


def test_a_scrape_given_up_mid_answer_is_no_traceback_on_the_terminal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The demo's Prometheus stopped (or a scrape past its timeout) while the feeds were being
    written: ``BrokenPipeError`` and its traceback went to stderr, from a thread that outlives
    the demo (the CI saw it land in a later test's output)."""
    series = 200_000  # some 10 MB: more than the two sockets' buffers hold, so the write is cut
    points = [Sample("c_total", f'{{shard="{i}"}}', 1.0, 60) for i in range(series)]
    feeds = LiveFeeds(points, after=0, clock=lambda: 1000.0)
    others = set(_handlers())  # another server's, of an earlier test in this process
    with demo_module._serving(feeds) as target:
        host, port = target.split(":")
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(10)
        s.connect((host, int(port)))
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(64).startswith(b"HTTP/1.0 200")  # the answer under way
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        wait_until(lambda: not set(_handlers()) - others, timeout=10, what="the scrape's handler to end")
    assert capsys.readouterr().err == ""


def _handlers() -> list[threading.Thread]:
    """The threads of the standard library's threaded server handling a request now."""
    return [t for t in threading.enumerate() if "process_request_thread" in t.name]

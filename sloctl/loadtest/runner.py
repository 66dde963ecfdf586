"""Run a Locust scenario headless in a child process and read its final statistics.

Locust runs as ``python -m locust`` would (through :mod:`._locust_main`, which loads sloctl's
hooks first, whatever the scenario imports) so that ``--processes N`` (distributed mode: one
master and N forked workers on this machine) works unchanged; the hooks (:mod:`.locustlib`)
write the runner's final stats to a JSON file when the master quits.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from sloctl.durations import DAY, format_duration
from sloctl.egress import LOOPBACK, Egress, Endpoint, parse_networks
from sloctl.masking import mask_text
from sloctl.servers import signal_group
from sloctl.servers._lifeline import LIFELINE, start_time

from .results import STEP_FAILURE_ALPHA, Breakpoint, RouteStats, RunStats, Sample
from .thresholds import Threshold

__all__ = [
    "SCENARIOS",
    "HostUnreachable",
    "LoadShape",
    "LoadtestError",
    "LoadtestInterrupted",
    "RunOptions",
    "locust_command",
    "preflight",
    "resolve_scenario",
    "run_scenario",
]

SCENARIOS = ("steady", "constant", "spike", "soak", "breakpoint")
#: a run may not exceed this, whatever --duration says (bounded by design)
MAX_DURATION = float(DAY)
#: The highest rate a load flag takes, per second: far above what Locust sends from one machine
#: (thousands a core); ``1e308`` made every user a busy loop.
MAX_RATE = 1e6
#: The most users ``--users`` starts (per step of a breakpoint search). Each is a greenlet with
#: its own connection that provisions a project (a PostgreSQL schema and table, 180 ms p95) before
#: its first request; on the 2-core machine class 20 users already fill the API (376 req/s for the
#: full route mix, docs/benchmarks.md, Testbed), and 1,000 at the default 5 req/s offer 5,000 req/s
#: (a spike 5× that). A billion were accepted and started against the testbed.
MAX_USERS = 1000
#: The highest ``--max-requests``: what the highest rate sends in the longest run (MAX_RATE for
#: MAX_DURATION), beyond which a limit never stops a run. Locust's process reads the limit as a
#: float (``SLOCTL_LOADTEST_MAX_REQUESTS``), exact up to 2**53 only; a limit of 400 digits (taken
#: before) is infinity there, and ``int()`` of it an OverflowError in that process.
MAX_REQUESTS = int(MAX_RATE * MAX_DURATION)
#: a breakpoint search's step by default (seconds, ``--breakpoint-step``; each step adds
#: ``--users`` users), the shortest one (Locust asks a shape for its users once a second: a
#: shorter step would be measured over the same second as the next) and its most steps
BREAKPOINT_STEP_SECONDS = 5.0
BREAKPOINT_MIN_STEP_SECONDS = 1.0
BREAKPOINT_MAX_STEPS = 20


class LoadtestError(RuntimeError):
    """The run could not be made or read; the message says why (no traceback for users)."""


class LoadtestInterrupted(LoadtestError):
    """The run was stopped (``stop`` set: Ctrl-C, SIGTERM) before Locust wrote any results."""


@dataclass(frozen=True, kw_only=True)
class LoadShape:
    """How much load a run offers: the knobs the user sets (``sloctl loadtest`` flags)."""

    users: int = 10
    spawn_rate: float = 10.0
    user_rps: float = 5.0
    max_requests: int = 0
    processes: int = 0
    #: requests/s of the ``constant`` (open-model) scenario; 0: users × user_rps
    rate: float = 0.0


@dataclass(frozen=True, kw_only=True)
class RunOptions(LoadShape):
    host: str
    duration: float
    #: networks the host may resolve to: loopback plus ``--allow-host``
    allow: tuple[str, ...] = tuple(str(n) for n in LOOPBACK)
    breakpoint_gates: tuple[Threshold, ...] = ()
    #: the significance the breakpoint search judges ``failure_ratio`` gates at
    breakpoint_alpha: float = STEP_FAILURE_ALPHA
    #: seconds each step of a breakpoint search lasts
    breakpoint_step: float = BREAKPOINT_STEP_SECONDS

    # Long but flat: one row per load flag (its bound and what to give), nothing else.
    def __post_init__(self) -> None:
        cores = os.cpu_count() or 1
        # (the sloctl loadtest flag, its value as given, whether it is in bounds, what to give):
        # every mistake at once, each named as the flag that sets it.
        checks = (
            (
                "--duration",
                format_duration(int(self.duration))
                if self.duration == int(self.duration) > 0
                else f"{self.duration:g}s",
                0 < self.duration <= MAX_DURATION,
                f"more than 0 and at most {format_duration(int(MAX_DURATION))}",
            ),
            (
                "--users",
                f"{self.users}",
                1 <= self.users <= MAX_USERS,
                f"1 to {MAX_USERS:,} (what one machine's Locust drives; beyond, run Locust distributed"
                " on several machines)",
            ),
            (
                "--spawn-rate",
                f"{self.spawn_rate:g}",
                0 < self.spawn_rate <= MAX_RATE,
                f"a number above 0 and at most {MAX_RATE:,.0f}",
            ),
            (
                "--user-rps",
                f"{self.user_rps:g}",
                0 < self.user_rps <= MAX_RATE,
                f"a number above 0 and at most {MAX_RATE:,.0f}",
            ),
            (
                "--rate",
                f"{self.rate:g}",
                0 <= self.rate <= MAX_RATE,
                f"a number from 0 to {MAX_RATE:,.0f} (0: users × user-rps)",
            ),
            (
                "--max-requests",
                f"{self.max_requests}",
                0 <= self.max_requests <= MAX_REQUESTS,
                f"0 to {MAX_REQUESTS:,} (0: no limit; the most a run sends at {MAX_RATE:,.0f} req/s for"
                f" {format_duration(int(MAX_DURATION))})",
            ),
            (
                "--breakpoint-step",
                f"{self.breakpoint_step:g}s",
                BREAKPOINT_MIN_STEP_SECONDS <= self.breakpoint_step <= MAX_DURATION,
                f"{BREAKPOINT_MIN_STEP_SECONDS:g}s to {format_duration(int(MAX_DURATION))} (Locust sets a"
                " search's users once a second; a run lasts a day at most)",
            ),
            # Each Locust worker is one process on one core: more of them than cores only adds
            # start-up time and contention (99 workers on 2 cores sent no request in 30 s).
            (
                "--processes",
                f"{self.processes}",
                0 <= self.processes <= cores,
                f"0 to {cores}, this machine's CPU cores (0: one process)",
            ),
        )
        wrong = [f"{flag} {shown}: give {expected}" for flag, shown, ok, expected in checks if not ok]
        if wrong:
            raise LoadtestError("; ".join(wrong))


def _repo_loadtests() -> list[Path]:
    return [Path.cwd() / "loadtests", Path(__file__).resolve().parents[2] / "loadtests"]


def resolve_scenario(name: str) -> Path:
    """A scenario name (``steady``) from ``loadtests/``, or a path to a Locust file; one that
    does not compile raises :class:`LoadtestError` at its ``file:line:column``."""
    candidate = Path(name)
    if candidate.suffix == ".py":
        if candidate.is_file():
            return _compiled(candidate.resolve(), name)
        raise LoadtestError(f"no such Locust file: {name}")
    for directory in _repo_loadtests():
        path = directory / f"{name}.py"
        if path.is_file():
            return _compiled(path.resolve(), str(path))
    raise LoadtestError(f"unknown scenario {name!r}; choose one of {', '.join(SCENARIOS)} or give a .py file")


def _compiled(path: Path, shown: str) -> Path:
    """``path`` once Python compiles it (not run): a syntax error is the user's to fix, said at
    its line before any load, rather than Locust's traceback after it started."""
    try:
        compile(path.read_bytes(), shown, "exec", dont_inherit=True)
    except SyntaxError as exc:
        where = f"{shown}:{exc.lineno or 0}:{exc.offset or 0}"
        raise LoadtestError(f"{where}: {exc.msg}; fix the Locust file") from None
    except (OSError, ValueError) as exc:  # unreadable, or a null byte
        raise LoadtestError(f"{shown}: cannot read the Locust file: {exc}") from None
    return path


def scenario_default_duration(path: Path) -> str | None:
    """``DEFAULT_DURATION = "10m"`` in a scenario file, read without importing it."""
    for line in path.read_text().splitlines():
        if line.startswith("DEFAULT_DURATION"):
            return line.split("=", 1)[1].strip().strip("\"'")
    return None


def _gate_json(t: Threshold) -> dict[str, object]:
    """A gate as the breakpoint shape reads it back (``Threshold(**gate)``)."""
    return asdict(t)


def check_host(host: str, allow: tuple[str, ...]) -> Endpoint:
    """``--host`` resolved once, every address inside ``allow`` (loopback plus ``--allow-host``)."""
    egress = Egress(allow=parse_networks(allow), action="load-test", widen="--allow-host")
    return egress.check_url(host, flag="--host", example="http://127.0.0.1:8000")


#: seconds the pre-flight request to ``--host`` may take, connection and answer
PREFLIGHT_TIMEOUT = 5.0


class HostUnreachable(LoadtestError):
    """Nothing answers at ``--host``: found before any load (:func:`preflight`)."""


def preflight(host: str, allow: tuple[str, ...], timeout: float | None = None) -> None:
    """One GET of ``--host`` through the egress guard (its addresses inside ``allow``), before any
    load: any answer, whatever its status, means something listens. Raises
    :class:`HostUnreachable` when the connection is refused or nothing answers within
    ``timeout`` (:data:`PREFLIGHT_TIMEOUT`; a whole run of failed connections proves nothing
    about the API), and :class:`~sloctl.egress.EgressDenied` when the host is outside ``allow``."""
    import httpx

    timeout = PREFLIGHT_TIMEOUT if timeout is None else timeout
    egress = Egress(allow=parse_networks(allow), action="load-test", widen="--allow-host")
    egress.check_url(host, flag="--host", example="http://127.0.0.1:8000")
    shown = mask_text(host)  # a password in the URL is never printed
    try:
        with egress.http_client(timeout=timeout) as client:
            client.get(host)
    except httpx.ConnectError as exc:
        raise HostUnreachable(
            f"--host {shown}: nothing listens there ({mask_text(str(exc)) or 'connection refused'});"
            " start the API (sloctl testbed up) or give the URL it listens on"
        ) from None
    except httpx.TimeoutException:
        raise HostUnreachable(
            f"--host {shown}: no answer within {timeout:g} s; is it the API, and is it up?"
        ) from None
    except httpx.HTTPError as exc:
        raise HostUnreachable(
            f"--host {shown}: {type(exc).__name__}: {mask_text(str(exc))}; check the URL"
        ) from None


#: seconds between two progress lines while Locust runs
PROGRESS_EVERY = 10.0
#: how often the run looks at its ``stop`` event (a Ctrl-C is heard within this)
POLL_SECONDS = 0.2
#: after SIGTERM, how long Locust has to stop its users (``--stop-timeout``), run their
#: ``on_stop`` (deprovisioning) and write its results, before it is killed
STOP_GRACE_SECONDS = 60.0
#: Locust's ``--stop-timeout``: how long a stopping user may finish its task
LOCUST_STOP_TIMEOUT = 5


def run_scenario(
    scenario: Path,
    options: RunOptions,
    *,
    workdir: Path | None = None,
    progress: Callable[[str], None] | None = None,
    stop: threading.Event | None = None,
) -> RunStats:
    """Run ``scenario`` headless and return the final stats (raises :class:`LoadtestError`, or
    :class:`~sloctl.egress.EgressDenied` when ``options.host`` is outside the allow-list);
    ``progress`` hears the time run every :data:`PROGRESS_EVERY` seconds.

    When ``stop`` is set (the CLI sets it on SIGINT and SIGTERM), Locust is asked to stop as its
    own SIGTERM handler does it: its users stop and run ``on_stop`` (deprovisioning what they
    provisioned) and the statistics so far are written; it is killed only after
    :data:`STOP_GRACE_SECONDS`. The stats come back with ``stopped_by="interrupted"``, or
    :class:`LoadtestInterrupted` is raised when Locust wrote none."""
    check_host(options.host, options.allow)
    # Absolute before Locust starts: it runs in the scenario's folder, where a relative report
    # folder would name another place than the one the user meant.
    workdir = (workdir or Path(tempfile.mkdtemp(prefix="sloctl-loadtest-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / "locust-final.json"
    out.unlink(missing_ok=True)
    env = _locust_environment(options, out)
    cmd = locust_command(scenario, options)
    log = workdir / "locust.log"
    limit = options.duration + 120
    stop = stop or threading.Event()
    if stop.is_set():
        raise LoadtestInterrupted("interrupted before Locust started; nothing was run")
    with open(log, "wb") as fh:
        # Its own session: a Ctrl-C at the terminal reaches sloctl only, which stops Locust the
        # graceful way (below); and its forked workers form one group to kill if it must come
        # to that. The lifeline stops it should sloctl itself die (SIGKILL) while it runs.
        proc = subprocess.Popen(
            cmd,
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=scenario.parent,
            start_new_session=True,
        )
        started = start_time(proc.pid)
        LIFELINE.watch(proc.pid, signal.SIGTERM, started=started)
        try:
            code = _wait(proc, options.duration, limit, _with_figures(progress, out), stop)
        except subprocess.TimeoutExpired as exc:
            raise LoadtestError(f"Locust did not finish within {limit:g} s; log: {log}") from exc
        finally:
            _end(proc, started)
            for name in (f"{out.name}.live", f"{out.name}.live.tmp"):  # the progress figures
                out.with_name(name).unlink(missing_ok=True)
    return _results(out, log, code, interrupted=stop.is_set())


def _results(out: Path, log: Path, code: int, *, interrupted: bool) -> RunStats:
    """The stats Locust wrote to ``out`` after exiting with ``code``, or why there are none."""
    out.with_name(f"{out.name}.tmp").unlink(missing_ok=True)  # what a failed write left
    if not out.exists():
        if interrupted:
            raise LoadtestInterrupted(f"interrupted; Locust stopped before writing any results; log: {log}")
        if _disk_full(out.parent):
            raise LoadtestError(
                f"{out}: No space left on device: Locust could not write its results; "
                "free some space there or write the reports elsewhere (--report-dir)"
            )
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:]) or "(empty)"
        raise LoadtestError(f"Locust exited with code {code} without results; log tail ({log}):\n{tail}")
    stats = read_results(out)
    return replace(stats, stopped_by="interrupted") if interrupted else stats


#: less free space than this where the results go: they could not be written (a small run's
#: results take tens of kilobytes)
FULL_BELOW_BYTES = 1 << 20


def _disk_full(folder: Path) -> bool:
    """True when the file system of ``folder`` has less than :data:`FULL_BELOW_BYTES` free."""
    try:
        stat = os.statvfs(folder)
    except OSError:
        return False
    return stat.f_bavail * stat.f_frsize < FULL_BELOW_BYTES


def _end(proc: subprocess.Popen[bytes], started: str | None) -> None:
    """Locust and its workers gone, whatever happened: SIGTERM and :data:`STOP_GRACE_SECONDS`
    first when it still runs, then SIGKILL of its process group, unless Locust (``started``
    at that time) has ended and its pid gone to another process, which may lead a group of the
    same number."""
    if proc.poll() is None:
        _stop_locust(proc)
    signal_group(proc.pid, started, signal.SIGKILL)  # forked workers left behind go with the group
    LIFELINE.forget(proc.pid)


def _stop_locust(proc: subprocess.Popen[bytes]) -> int:
    """SIGTERM (Locust's headless shutdown: users stopped within ``--stop-timeout``, their
    ``on_stop`` run, the quit hooks write the results), then SIGKILL of the group after
    :data:`STOP_GRACE_SECONDS`; Locust's exit code (negative: the signal that ended it)."""
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait(timeout=30)


def _with_figures(progress: Callable[[str], None] | None, out: Path) -> Callable[[str], None] | None:
    """``progress`` with the run's figures so far added to its ``running:`` lines (what Locust's
    process last wrote beside its results: :func:`sloctl.loadtest.locustlib._write_live`)."""
    if progress is None:
        return None
    live = out.with_name(f"{out.name}.live")

    def say(line: str) -> None:
        try:
            figures = json.loads(live.read_text())
            requests, failures = int(figures["requests"]), int(figures["failures"])
            p95 = figures.get("p95_ms")
        except (OSError, ValueError, KeyError, TypeError):
            progress(line)  # none yet (Locust starting), or the run's first second
            return
        share = f", {failures / requests:.1%} failed" if requests else ""
        latency = f", p95 {p95:g} ms" if isinstance(p95, int | float) else ""
        progress(f"{line}, {requests:,} requests{share}{latency}" if line.startswith("running") else line)

    return say


def _wait(
    proc: subprocess.Popen[bytes],
    duration: float,
    limit: float,
    progress: Callable[[str], None] | None,
    stop: threading.Event,
) -> int:
    """Locust's exit code, waited for at most ``limit`` seconds (``TimeoutExpired`` after), with
    the time run said every :data:`PROGRESS_EVERY` seconds; when ``stop`` is set, Locust is
    stopped (:func:`_stop_locust`) and its exit code returned."""
    began = time.monotonic()
    said = 0
    for _ in range(int(limit / POLL_SECONDS) + 2):  # bounded by ``limit`` too
        left = limit - (time.monotonic() - began)
        if left <= 0:
            break
        if stop.is_set():
            if progress is not None:
                progress("interrupted: stopping Locust, deprovisioning its users' projects ...")
            return _stop_locust(proc)
        try:
            return proc.wait(timeout=min(POLL_SECONDS, left))
        except subprocess.TimeoutExpired:
            ran = time.monotonic() - began
            if progress is not None and ran >= (said + 1) * PROGRESS_EVERY:
                said = int(ran // PROGRESS_EVERY)
                what = f"{ran:.0f} of {duration:g} s" if ran <= duration else f"{ran:.0f} s, stopping"
                progress(f"running: {what}")
    raise subprocess.TimeoutExpired(proc.args, limit)


def _locust_environment(options: RunOptions, out: Path) -> dict[str, str]:
    """What the scenario's locustfile reads (sloctl.loadtest.locustlib): where to write the
    final stats, its bounds and the load's shape; and ``--host`` as Locust's ``LOCUST_HOST``,
    not on its command line, which any user of the machine can read (``ps``): the URL may carry
    basic authentication's ``user:password@``."""
    env = {
        **os.environ,
        "LOCUST_HOST": options.host,
        "SLOCTL_LOADTEST_OUT": str(out),
        "SLOCTL_LOADTEST_MAX_REQUESTS": str(options.max_requests),
        "SLOCTL_LOADTEST_ALLOW": ",".join(options.allow),
        "SLOCTL_LOADTEST_USERS": str(options.users),
        "SLOCTL_LOADTEST_USER_RPS": str(options.user_rps),
        "SLOCTL_LOADTEST_RATE": str(options.rate or options.users * options.user_rps),
        "SLOCTL_LOADTEST_DURATION": str(options.duration),
        "SLOCTL_BREAKPOINT_GATES": json.dumps([_gate_json(t) for t in options.breakpoint_gates]),
        "SLOCTL_BREAKPOINT_ALPHA": repr(options.breakpoint_alpha),
        "SLOCTL_BREAKPOINT_STEP": repr(options.breakpoint_step),
        "PYTHONUNBUFFERED": "1",
    }
    return env


def locust_command(scenario: Path, options: RunOptions) -> list[str]:
    """The command line sloctl runs Locust with (what ``ps`` shows of a run: never a password):
    Locust headless on ``scenario``, for the run's users and time; through
    :mod:`._locust_main`, which loads sloctl's hooks first (a Locust file of one's own needs no
    import of sloctl)."""
    cmd = [
        sys.executable,
        "-m",
        "sloctl.loadtest._locust_main",
        "-f",
        str(scenario),
        "--headless",
        "--users",
        str(options.users),
        "--spawn-rate",
        f"{options.spawn_rate:g}",
        "--run-time",
        f"{math.ceil(options.duration)}s",
        "--stop-timeout",
        str(LOCUST_STOP_TIMEOUT),
        "--only-summary",
        "--skip-log-setup",
        "--exit-code-on-error",
        "0",
    ]
    if options.processes:
        cmd += ["--processes", str(options.processes)]
    return cmd


def read_results(path: Path) -> RunStats:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise LoadtestError(f"cannot read Locust results {path}: {exc}") from exc
    if not isinstance(data, Mapping):
        raise LoadtestError(f"unexpected Locust results in {path}")
    return parse_results(data)


def parse_results(data: Mapping[str, object]) -> RunStats:
    entries = _route_stats(data.get("stats", []))
    raw_ok = data.get("succeeded")
    succeeded = tuple(_route_stats(raw_ok)) if isinstance(raw_ok, list) else None
    samples: list[Sample] = []
    raw_samples = data.get("samples", [])
    for s in raw_samples if isinstance(raw_samples, list) else []:
        if isinstance(s, Mapping):
            samples.append(
                Sample(
                    t=float(s.get("t", 0)),
                    users=int(s.get("users", 0)),
                    rps=float(s.get("rps", 0)),
                    failures_per_s=float(s.get("failures_per_s", 0)),
                    p50_ms=_latency(s.get("p50_ms")),
                    p95_ms=_latency(s.get("p95_ms")),
                    p99_ms=_latency(s.get("p99_ms")),
                )
            )
    errors_raw = data.get("errors", [])
    errors = tuple(
        (str(e[0]), int(e[1])) for e in (errors_raw if isinstance(errors_raw, list) else []) if len(e) == 2
    )
    arrivals = data.get("arrivals")
    lags = _histogram(arrivals.get("lags") if isinstance(arrivals, Mapping) else None)
    dropped = int(arrivals.get("dropped", 0)) if isinstance(arrivals, Mapping) else 0
    extra = (("distributed", str(bool(data.get("distributed")))), ("workers", str(data.get("workers", 0))))
    return RunStats(
        routes=tuple(entries),
        samples=tuple(samples),
        errors=errors,
        breakpoint=_breakpoint(data.get("breakpoint")),
        stopped_by=str(data.get("stopped_by", "duration")),
        ran_seconds=float(ran) if isinstance(ran := data.get("ran_seconds"), int | float) else None,
        extra=extra,
        server_times=_histogram(data.get("server_times")),
        arrival_lags=lags,
        dropped=dropped,
        succeeded=succeeded,
    )


def _breakpoint(raw: object) -> Breakpoint | None:
    """What a breakpoint search wrote (the ``steps`` that held, the step that ``broken``); None
    when the run searched none."""
    if not isinstance(raw, Mapping):
        return None
    steps = [s for s in raw.get("steps") or () if isinstance(s, Mapping)]
    broken = raw.get("broken")
    broke = broken if isinstance(broken, Mapping) else None
    if not steps and broke is None and not raw.get("searched"):
        return None
    value = broke.get("value") if broke is not None else None
    return Breakpoint(
        held_users=int(max((float(s.get("users", 0)) for s in steps), default=0)),
        held_rps=max((float(s.get("rps", 0)) for s in steps), default=0.0),
        steps=len(steps),
        broke_at_users=int(float(broke.get("users", 0))) if broke is not None else None,
        broke_at_rps=float(broke.get("rps", 0)) if broke is not None else None,
        broken_by=str(broke["gate"]) if broke is not None and "gate" in broke else None,
        broken_value=float(value) if isinstance(value, int | float) else None,
        broken_scope=str(broke["scope"]) if broke is not None and "scope" in broke else None,
        alpha=float(alpha) if isinstance(alpha := raw.get("alpha"), int | float) else None,
    )


def _latency(raw: object) -> float | None:
    """A sample's percentile in ms; None for an interval none of whose requests succeeded."""
    return float(raw) if isinstance(raw, int | float) else None


def _route_stats(raw: object) -> list[RouteStats]:
    """Locust's serialized stats entries (a list of mappings) read; anything else as none."""
    return [RouteStats.from_locust(e) for e in raw if isinstance(e, Mapping)] if isinstance(raw, list) else []


def _histogram(raw: object) -> tuple[tuple[int, int], ...]:
    """``{"12": 40, ...}`` (milliseconds → count) as sorted pairs; anything else as empty."""
    if not isinstance(raw, Mapping):
        return ()
    return tuple(sorted((int(k), int(v)) for k, v in raw.items()))


#: the stats a breakpoint search judges per step: those that grow with load (``rps`` does not
#: break under it)
BREAKPOINT_STATS = ("percentile", "avg", "max", "failure_ratio")


def breakpoint_gates(thresholds: Sequence[Threshold]) -> tuple[Threshold, ...]:
    """The gates the breakpoint shape judges per step, whatever their scope (all requests, a
    route, a dependency, a method): latency and failure gates with an upper limit (``<``,
    ``<=``), which more load can break. Before, only those over all requests were watched, and a
    route's gate never stopped the search."""
    return tuple(t for t in thresholds if t.stat in BREAKPOINT_STATS and t.op in ("<", "<="))

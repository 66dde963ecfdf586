# Locust ships without complete type hints (untyped shape methods and event decorators).
# mypy: disable-error-code="no-untyped-call,untyped-decorator"
"""What the Locust files in ``loadtests/`` are made of: the platform API user, load shapes,
and the hooks that bound a run and record its results.

Imported only by Locust files (it imports locust, from the ``load`` extra). The CLI talks to
it through environment variables (``SLOCTL_LOADTEST_*``), because Locust runs in its own
process (and forks workers with ``--processes``):

- ``SLOCTL_LOADTEST_OUT``: write the final stats, time series and breakpoint here (JSON), from
  the master or the local runner only; Locust also runs quitting hooks on workers;
- ``SLOCTL_LOADTEST_MAX_REQUESTS``: stop once this many requests were made, the operational
  routes left out (as in the aggregates);
- ``SLOCTL_LOADTEST_ALLOW``: comma-separated networks (default loopback) that every connection
  of this process may reach, whoever makes it (:mod:`.netguard`: an absolute URL or a redirect
  elsewhere fails its request, never connects); the host is checked again here, so that
  running a file with plain ``locust`` is safe too, and pinned: resolved once, its checked
  addresses are what every later lookup of it gets, so that DNS cannot send the users
  elsewhere in the middle of a run;
- ``SLOCTL_LOADTEST_USERS``, ``SLOCTL_LOADTEST_USER_RPS``, ``SLOCTL_LOADTEST_DURATION``:
  shape parameters; ``SLOCTL_BREAKPOINT_GATES``: JSON list of the gates the breakpoint shape
  judges per step (every field of each :class:`~.thresholds.Threshold`);
  ``SLOCTL_BREAKPOINT_ALPHA``: the significance it judges ``failure_ratio`` gates at
  (``--breakpoint-alpha``, default :data:`~.results.STEP_FAILURE_ALPHA`);
  ``SLOCTL_BREAKPOINT_STEP``: the seconds of its steps (``--breakpoint-step``, default
  :data:`~.runner.BREAKPOINT_STEP_SECONDS`).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any

import gevent
import gevent.pool
import locust.runners
import locust.stats
from locust import FastHttpUser, LoadTestShape, constant, constant_throughput, events, task
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner
from locust.stats import RequestStats, StatsEntry

from sloctl.contract import OPERATIONAL_PATHS, route
from sloctl.egress import Egress, EgressDenied, parse_networks

from .netguard import ProcessGuard
from .results import STEP_FAILURE_ALPHA, RouteStats, RunStats, judge_step, percentile, since
from .runner import BREAKPOINT_MAX_STEPS, BREAKPOINT_STEP_SECONDS, MAX_DURATION, RunOptions
from .thresholds import Threshold

__all__ = [
    "BreakpointShape",
    "ConstantRateShape",
    "ConstantRateUser",
    "PlatformUser",
    "SpikeShape",
    "StepState",
]

#: every lookup and connection of Locust's process inside the allow-list, from here on
GUARD = ProcessGuard(
    Egress(
        allow=parse_networks(a for a in os.environ.get("SLOCTL_LOADTEST_ALLOW", "").split(",") if a)
        or parse_networks(RunOptions.allow),
        action="load-test",
        widen="--allow-host",
    )
)
GUARD.install()

SAMPLE_SECONDS = 1.0
#: In distributed mode a worker sends its statistics to the master this often (seconds): once
#: per sample, so that every sample of the master's time series, the ``--max-requests`` bound and
#: a breakpoint step's judgement read the load up to the last second. Locust's default (3 s, its
#: ``WORKER_REPORT_INTERVAL``, which no flag sets) left two samples of three empty, ran up to 3 s
#: of load past the bound, and judged a step on statistics up to 3 s old.
locust.runners.WORKER_REPORT_INTERVAL = SAMPLE_SECONDS
#: below this many milliseconds a response time is kept to the millisecond (above, to 100 ms)
EXACT_BELOW_MS = 10_000


def bucket_up(response_time: float) -> int:
    """A response time's bucket in sloctl's statistics (:data:`SUCCEEDED`, which the gates and
    the reports read): the whole millisecond at or above it (100 ms above
    :data:`EXACT_BELOW_MS`), so that a latency gate ``<= T`` counts a request as its SLI's ``le``
    bucket does. Locust's own buckets round to two significant digits, to the nearest: 201 to
    205 ms counted as 200 ms, and a ``p(95) <= 200`` gate passed requests the SLI counts as slow.

    >>> bucket_up(200.0), bucket_up(200.4), bucket_up(12_345.6)
    (200, 201, 12400)
    """
    if response_time < EXACT_BELOW_MS:
        return math.ceil(response_time)
    return math.ceil(response_time / 100) * 100


class _ExactEntry(StatsEntry):
    """A Locust stats entry whose buckets are :func:`bucket_up`'s.

    Scoped to sloctl's own statistics, rather than replacing ``locust.stats.bucket_response_time``
    (Locust's documented hook) for the whole process: that one function buckets every
    ``RequestStats`` of the process, so it changed the statistics Locust prints and those a
    user's own code reads, and a Locust file that sets its own bucketing (after sloctl's hooks
    loaded) silently took the gates' exactness away. Each request is logged as Locust logs it,
    then its count moves from Locust's bucket to sloctl's (``log`` is Locust's public entry
    point; the merge of workers' entries, ``extend``, keeps the keys as they come)."""

    def log(self, response_time: float, content_length: int) -> None:
        super().log(response_time, content_length)  # type: ignore[arg-type]  # Locust hints int; it is the float measured
        if response_time is None:  # Locust counts a request without a time apart
            return
        theirs = locust.stats.bucket_response_time(response_time)
        self.response_times[theirs] -= 1
        if not self.response_times[theirs]:
            del self.response_times[theirs]
        ours = bucket_up(response_time)
        self.response_times[ours] = self.response_times.get(ours, 0) + 1


class _ExactEntries(dict[tuple[str, str], StatsEntry]):
    """Locust's ``EntriesDict`` with :class:`_ExactEntry` entries, made on first use."""

    def __init__(self, stats: RequestStats) -> None:
        super().__init__()
        self.stats = stats

    def __missing__(self, key: tuple[str, str]) -> StatsEntry:
        entry = self[key] = _ExactEntry(self.stats, key[0], key[1])
        return entry


class _ExactStats(RequestStats):
    """A ``RequestStats`` of :class:`_ExactEntry` entries (its total too)."""

    def __init__(self) -> None:
        super().__init__(use_response_times_cache=False)
        self.clear_all()

    def clear_all(self) -> None:
        super().clear_all()
        self.total = _ExactEntry(self, "Aggregated", "")
        self.entries = _ExactEntries(self)


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    try:
        return float(raw) if raw else default
    except ValueError:
        return default


BACKUP_ROUTE = route("createBackup").path
#: the name a cancelled backup's queueing request is counted under: apart from
#: :data:`BACKUP_ROUTE`, whose gate judges what the backup SLO counts (done or failed dumps; a
#: backup cancelled by its user is neither)
BACKUP_CANCELLED = f"{BACKUP_ROUTE} (cancelled)"
#: how many times a user looks at a queued backup (about a second apart) before it gives up
BACKUP_LOOKS = 40


class PlatformUser(FastHttpUser):
    """A client of every route of the platform API, in a read-heavy mix.

    Weights: reads 240, cache and document writes 70, provisioning 1, backups 1 (queued, then
    followed until the dump ends): rare admin operations, as on a real platform, and below
    5 % of the PostgreSQL routes so that their p95 measures the routes rather than the admin
    operations. Each user provisions a project at start
    and the first user of each process makes a backup, so that the operations' gates always
    have requests to judge.

    Requests are named by route template (as the API's metrics are), so gates can select the
    route an SLO protects. Only 5xx answers and no answer are failures: that is what the
    availability SLI counts (429 and expected 404s are not errors).
    """

    abstract = False
    # Open-model pacing: each user starts a task every 1/rate seconds whatever the latency
    # (Locust's constant_throughput), so users × rate is the offered load.
    wait_time = constant_throughput(_env_float("SLOCTL_LOADTEST_USER_RPS", 5.0))
    _backed_up = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.provisioned: list[int] = []  # project ids to deprovision when the user stops

    def on_start(self) -> None:
        self.key = f"k{uuid.uuid4().hex[:10]}"
        self.project_id = 0
        self.document_id = ""
        self._create_project()
        if not PlatformUser._backed_up:  # once per Locust process, so the backup gate has data
            PlatformUser._backed_up = True
            self._first_backup()
        self._put_cache()
        self._post_document()

    def _first_backup(self) -> None:
        """The process's first backup, followed to its end before the user's first task."""
        self._backup()

    def _call(
        self, operation_id: str, ids: Mapping[str, object] | None = None, query: str = "", **kwargs: Any
    ) -> Any:
        """One request of the contract's ``operation_id`` (its method and path, ``ids`` filled in),
        named by its route template as the API's ``route`` label and the gates name it."""
        r = route(operation_id)
        return self._request(r.method, r.url(query, **(ids or {})), r.path, **kwargs)

    def _request(self, method: str, path: str, name: str, **kwargs: Any) -> Any:
        with self.client.request(method, path, name=name, catch_response=True, **kwargs) as response:
            status = response.status_code or 0
            SERVER_TIMES.record(response.headers.get("server-timing") if status else None)
            if status == 0 or status >= 500:
                response.failure(f"HTTP {status}" if status else "no answer")
            else:
                response.success()
            return response

    def _create_project(self) -> None:
        name = f"lt_{uuid.uuid4().hex[:16]}"
        r = self._call("createProject", json={"name": name})
        if r.status_code == 201:
            self.project_id = int(r.json()["id"])
            self.provisioned.append(self.project_id)

    def on_stop(self) -> None:
        """Deprovision what this user provisioned, so that a run leaves no project (and no
        ``project_lt_*`` schema) behind. Through the session's own HTTP client, not through
        ``self.client.request``: the clean-up is not load and is kept out of the statistics."""
        headers = self._side_headers()
        delete = route("deleteProject")
        for project_id in self.provisioned:
            url = f"{self.client.base_url}{delete.url(project_id=project_id)}"
            with contextlib.suppress(Exception):  # a run that broke the API must still stop
                self.client.client.urlopen(url, method=delete.method, headers=headers).read()
        self.provisioned.clear()

    def _side_headers(self) -> dict[str, str]:
        """The headers of a request sent beside the statistics (through the session's own
        HTTP client): the user's, and the basic authentication of ``--host``'s
        ``user:password@`` that Locust's session adds to its own requests."""
        auth = self.client.auth_header
        return {**(self.default_headers or {}), **({"Authorization": auth} if auth else {})}

    def _put_cache(self) -> None:
        self._call("putCache", {"key": self.key}, data=b"x" * 256)

    def _post_document(self) -> None:
        r = self._call("createDocument", json={"owner": self.key, "n": 1})
        if r.status_code == 201:
            self.document_id = str(r.json()["id"])

    @task(40)
    def list_projects(self) -> None:
        self._call("listProjects", query="limit=20")

    @task(60)
    def get_project(self) -> None:
        if self.project_id:
            self._call("getProject", {"project_id": self.project_id})

    @task(1)
    def provision(self) -> None:
        self._create_project()

    def _backup(self) -> None:
        """Queue a backup (202) and follow its ``Location`` until the dump ends, outside the
        statistics; the queueing request is then marked by the dump's outcome, so that the
        backups gate judges what the backup SLO counts (dumps), while its latency stays the
        request's own; a backup cancelled meanwhile (by another client) is counted apart, as
        :data:`BACKUP_CANCELLED`, a success. Bounded: :data:`BACKUP_LOOKS` looks,
        ``Retry-After`` apart."""
        if not self.project_id:
            return
        path = route("createBackup").url(project_id=self.project_id)
        with self.client.request("POST", path, name=BACKUP_ROUTE, catch_response=True) as queued:
            status = queued.status_code or 0
            SERVER_TIMES.record(queued.headers.get("server-timing") if status else None)
            if status == 0 or status >= 500:
                queued.failure(f"HTTP {status}" if status else "no answer")
                return
            location = queued.headers.get("Location") if status == 202 else None
            ended = self._backup_end(location) if location else "done"
            if ended == "cancelled":
                queued.request_meta["name"] = BACKUP_CANCELLED
            if ended in ("done", "cancelled"):
                queued.success()
            else:
                queued.failure(f"backup {ended}")

    def _backup_end(self, location: str) -> str:
        """The backup's last status (``done``, ``failed``, ``cancelled``, or ``unfinished``
        after the looks)."""
        url = f"{self.client.base_url}{location}"
        headers = self._side_headers()
        for _ in range(BACKUP_LOOKS):
            try:
                answer = self.client.client.urlopen(url, method="GET", headers=headers)
                state = str(json.loads(answer.read()).get("status"))
                retry = float(str(answer.headers.get("Retry-After") or 1))
            except Exception:  # an API that broke mid-run: the backup did not end for us
                return "unanswered"
            if state in ("done", "failed", "cancelled"):  # its final states
                return state
            gevent.sleep(min(retry, 1.0))
        return "unfinished"

    @task(1)
    def backup(self) -> None:
        self._backup()

    @task(80)
    def get_cache(self) -> None:
        self._call("getCache", {"key": self.key})

    @task(40)
    def put_cache(self) -> None:
        self._put_cache()

    @task(30)
    def post_document(self) -> None:
        self._post_document()

    @task(60)
    def get_document(self) -> None:
        if self.document_id:
            self._call("getDocument", {"document_id": self.document_id})


class ConstantRateUser(PlatformUser):
    """The open model: requests arrive at a constant rate whatever the answers take.

    Locust's users are a closed model: a user waits for its answer before its next request, so
    a slow server lowers the offered load and hides the queueing it causes. Here one user per
    process starts ``SLOCTL_LOADTEST_RATE`` requests per second on a fixed grid, each in its
    own greenlet, drawn from :class:`PlatformUser`'s weighted mix. How late each request left
    against its slot (``arrival_lag``) is client-side delay (the load generator starved of
    CPU), not server latency. At most ``MAX_IN_FLIGHT`` requests wait at once; an arrival
    beyond that is counted as ``dropped`` rather than queued without bound.
    """

    MAX_IN_FLIGHT = 500
    concurrency = MAX_IN_FLIGHT  # FastHttpUser's connection pool: one connection per request
    # The one task below offers the whole run's arrivals; then the user idles until the end.
    wait_time = constant(MAX_DURATION)

    _backup_followed: gevent.Greenlet | None = None

    def _first_backup(self) -> None:
        """Followed in a greenlet of its own (joined with the arrivals' requests): the arrivals
        start with the run. Before, they waited for the dump to end (a second or more), the
        first second of the report showed one request, and the run overran its duration by as
        much, the grid's last second offered after the shape had ended the run."""
        self._backup_followed = gevent.spawn(self._backup)

    def arrivals(self) -> None:
        rate = _env_float("SLOCTL_LOADTEST_RATE", 50.0)
        duration = _env_float("SLOCTL_LOADTEST_DURATION", 30.0)
        mix = [t for t in PlatformUser.tasks if callable(t)]
        pool = gevent.pool.Pool(self.MAX_IN_FLIGHT)
        if self._backup_followed is not None:
            pool.add(self._backup_followed)  # in flight too: joined below, counted in the bound
        start = time.monotonic()
        for k in range(1, int(rate * duration) + 1):  # bounded: the run's arrivals, no more
            due = start + k / rate
            gevent.sleep(max(0.0, due - time.monotonic()))
            ARRIVALS.lag(time.monotonic() - due)
            if pool.full():
                ARRIVALS.dropped += 1
                continue
            pool.spawn(random.choice(mix), self)
        pool.join(timeout=10)


# Not ``@task``: Locust would add the inherited mix to this class's tasks; the mix is drawn by
# ``arrivals`` itself.
ConstantRateUser.tasks = [ConstantRateUser.arrivals]


class ConstantRateShape(LoadTestShape):
    """One :class:`ConstantRateUser` for the run's duration (the rate is the user's own)."""

    def tick(self) -> tuple[int, float] | None:
        if self.get_run_time() >= _env_float("SLOCTL_LOADTEST_DURATION", 30.0):
            return None
        return 1, 1


class SpikeShape(LoadTestShape):
    """Baseline, a spike to 5× for a fifth of the run, then baseline again."""

    def tick(self) -> tuple[int, float] | None:
        users = int(_env_float("SLOCTL_LOADTEST_USERS", 10))
        duration = _env_float("SLOCTL_LOADTEST_DURATION", 60)
        t = self.get_run_time()
        if t >= duration:
            return None
        if 0.4 * duration <= t < 0.6 * duration:
            return users * 5, users * 5
        return users, users


class StepState:
    """The breakpoint search, shared by the shape and the result writer (same process)."""

    def __init__(self) -> None:
        #: a :class:`BreakpointShape` ran (the results then say what it found, even nothing)
        self.searched = False
        self.steps: list[dict[str, object]] = []
        self.broken: dict[str, object] | None = None
        self.alpha = STEP_FAILURE_ALPHA


STEP = StepState()


def _gated(stats: RequestStats) -> tuple[int, int, dict[int, int]]:
    """Requests, failures and response-time buckets of ``stats`` over what an all-requests gate
    judges: every route but the operational ones, as :attr:`.results.RunStats.total`."""
    requests = failures = 0
    times: dict[int, int] = {}
    for (name, _method), entry in list(stats.entries.items()):
        if name in OPERATIONAL_PATHS:
            continue
        requests += entry.num_requests
        failures += entry.num_failures
        for key, count in entry.response_times.items():
            times[key] = times.get(key, 0) + count
    return requests, failures, times


def _snapshot(stats: RequestStats) -> tuple[RouteStats, ...]:
    """Every route of ``stats`` so far, as the results file records them (cumulative)."""
    return tuple(RouteStats.from_locust(e.serialize()) for e in list(stats.entries.values()))


def _breakpoint_gates() -> tuple[Threshold, ...]:
    """The gates the search judges per step (``SLOCTL_BREAKPOINT_GATES``: every field of each)."""
    try:
        raw = json.loads(os.environ.get("SLOCTL_BREAKPOINT_GATES", "[]"))
        return tuple(Threshold(**g) for g in raw if isinstance(g, dict))
    except (json.JSONDecodeError, TypeError):
        return ()


class BreakpointShape(LoadTestShape):
    """Add ``SLOCTL_LOADTEST_USERS`` users every step until a gate breaks during a step; report
    the most users (and the highest request rate) that held. Every gate the search watches
    (:func:`~.runner.breakpoint_gates`: over all requests, a route, a dependency) is judged over
    the step's own requests as the report judges the whole run (:func:`.results.judge_step`).
    Bounded by the duration (whole steps only: a step cut short measures too little to hold or
    break) and :data:`~.runner.BREAKPOINT_MAX_STEPS` steps; the last step is measured too."""

    max_steps = BREAKPOINT_MAX_STEPS

    def __init__(self) -> None:
        super().__init__()
        #: seconds a step lasts (``--breakpoint-step``)
        self.step_seconds = _env_float("SLOCTL_BREAKPOINT_STEP", BREAKPOINT_STEP_SECONDS)
        self._step = 0
        self._gates = _breakpoint_gates()
        STEP.alpha = _env_float("SLOCTL_BREAKPOINT_ALPHA", STEP_FAILURE_ALPHA)
        #: when the step began, and every route's statistics then (all requests, successes)
        self._mark: tuple[float, tuple[RouteStats, ...], tuple[RouteStats, ...]] | None = None

    def _close_step(self) -> bool:
        """Measure the step that just ended; True when a gate broke."""
        assert self.runner is not None
        now = time.monotonic()
        mark = (now, _snapshot(self.runner.stats), _snapshot(SUCCEEDED))
        if self._mark is None:
            self._mark = mark
            return False
        (t0, every0, ok0), self._mark = self._mark, mark
        step = RunStats(routes=since(mark[1], every0, t0, now), succeeded=since(mark[2], ok0, t0, now))
        n = step.total.num_requests
        judged = judge_step(self._gates, step, STEP.alpha)
        record: dict[str, object] = {
            "users": float(self.get_current_user_count()),
            "rps": round(n / (now - t0), 2) if now > t0 else 0.0,
            "requests": float(n),
            "gates": [
                {"gate": g.threshold.describe(), "value": g.value, "requests": g.requests, "note": g.note}
                for g in judged
            ],
        }
        broke = next((g for g in judged if g.broke), None)
        if broke is None:
            STEP.steps.append(record)
            return False
        gate = broke.threshold
        STEP.broken = {"gate": gate.expression, "scope": gate.scope, "value": broke.value, **record}
        return True

    def tick(self) -> tuple[int, float] | None:
        per_step = int(_env_float("SLOCTL_LOADTEST_USERS", 10))
        duration = _env_float("SLOCTL_LOADTEST_DURATION", 120)
        STEP.searched = True
        t = self.get_run_time()
        step = int(t // self.step_seconds)
        if self._mark is None:
            self._close_step()  # the first step starts
        elif step != self._step:
            self._step = step
            if self._close_step():
                return None
        # Before, the search stopped at the duration before measuring the step then ending:
        # the last step's users never counted as held, nor its gates as broken.
        if step >= self.max_steps or (step + 1) * self.step_seconds > duration:
            return None
        return per_step * (step + 1), per_step


# -- hooks --------------------------------------------------------------------------------------


class _ServerTimes:
    """The API's own time per answer, from its W3C ``Server-Timing: app;dur=…`` header, in
    Locust's millisecond buckets: set beside the client-side figures, the difference is the
    network, the HTTP client and client-side queueing. Kept per process (not sent by workers)."""

    def __init__(self) -> None:
        self.times: dict[int, int] = {}

    def record(self, header: str | None) -> None:
        match = _DUR.search(header or "")
        if match:
            key = round(float(match.group(1)))
            self.times[key] = self.times.get(key, 0) + 1


class _Arrivals:
    """Open-model bookkeeping: how late each arrival left (ms buckets) and how many were dropped."""

    def __init__(self) -> None:
        self.lags: dict[int, int] = {}
        self.dropped = 0

    def lag(self, seconds: float) -> None:
        key = round(seconds * 1000)
        self.lags[key] = self.lags.get(key, 0) + 1


_DUR = re.compile(r"\bapp;dur=([0-9.]+)")
SERVER_TIMES = _ServerTimes()
ARRIVALS = _Arrivals()
#: The successful requests alone, per route, in Locust's own entries and millisecond buckets:
#: Locust's stats count a failed request's time too, and a latency SLI measures the requests
#: that succeeded (failures are the availability gate's). Workers send theirs to the master
#: with their reports, under :data:`_SUCCEEDED`, as Locust sends its own stats.
SUCCEEDED = _ExactStats()
_SUCCEEDED = "sloctl_succeeded"


@events.request.add_listener
def _on_request(
    request_type: str,
    name: str,
    response_time: float | None,
    response_length: int | None,
    exception: BaseException | None = None,
    **_kwargs: Any,
) -> None:
    if exception is None and response_time is not None:
        # The time as measured (not truncated): the maximum and the buckets read it to the ms.
        # Locust's own listener logs the same float; its hint says int.
        SUCCEEDED.log_request(request_type, name, response_time, response_length or 0)  # type: ignore[arg-type]
    env = _ENV.get("env")
    if env is not None and not isinstance(env.runner, MasterRunner | WorkerRunner):
        RECORDER.count(env, name)


@events.report_to_master.add_listener
def _succeeded_to_master(client_id: str, data: dict[str, Any], **_kwargs: Any) -> None:
    data[_SUCCEEDED] = {"stats": SUCCEEDED.serialize_stats(), "total": SUCCEEDED.total.get_stripped_report()}


@events.worker_report.add_listener
def _succeeded_from_worker(client_id: str, data: dict[str, Any], **_kwargs: Any) -> None:
    report = data.get(_SUCCEEDED)
    if not isinstance(report, dict):
        return
    for raw in report.get("stats", ()):
        entry = _ExactEntry.unserialize(raw, SUCCEEDED)
        SUCCEEDED.get(entry.name, entry.method).extend(entry)
    SUCCEEDED.total.extend(_ExactEntry.unserialize(report["total"], SUCCEEDED))


@events.worker_report.add_listener
def _bound_on_report(client_id: str, data: dict[str, Any], **_kwargs: Any) -> None:
    env = _ENV.get("env")
    if env is not None:
        # spawned: Locust adds the report to its statistics in a hook that runs after this one
        gevent.spawn(RECORDER.bound, env)


class _Recorder:
    """Per-interval samples (not Locust's cumulative numbers) and the request-count bound."""

    def __init__(self) -> None:
        self.samples: list[dict[str, float | None]] = []
        self.started = time.monotonic()
        self.stopped_by = "duration"
        self.workers = 0
        #: ``--max-requests`` (0: no bound), and the requests it counts so far in one process
        self.max_requests = 0
        self.counted = 0
        self._prev: tuple[float, int, int, dict[int, int]] | None = None

    def sample(self, environment: Environment) -> None:
        runner = environment.runner
        if runner is None:
            return
        if isinstance(runner, MasterRunner):
            self.workers = max(self.workers, len(runner.clients))
        # what the all-requests gates judge: the operational routes left out, latency over the
        # successes
        requests, failures, _ = _gated(runner.stats)
        now = time.monotonic()
        times = _gated(SUCCEEDED)[2]
        prev = self._prev or (self.started, 0, 0, {})
        self._prev = (now, requests, failures, times)
        dt = now - prev[0]
        n = requests - prev[1]
        if dt <= 0 or n <= 0:
            return  # distributed: workers report every few seconds; skip empty intervals
        _write_live(requests, failures, percentile(times, 95) if times else None)
        delta = {k: v - prev[3].get(k, 0) for k, v in times.items() if v - prev[3].get(k, 0) > 0}
        # An interval whose every request failed has no latency (None), not one of 0 ms.
        self.samples.append(
            {
                "t": round(now - self.started, 2),
                "users": float(runner.user_count),
                "rps": round(n / dt, 2),
                "failures_per_s": round((failures - prev[2]) / dt, 2),
                **{f"p{p}_ms": percentile(delta, p) if delta else None for p in (50, 95, 99)},
            }
        )

    def loop(self, environment: Environment) -> None:
        limit = int(_env_float("SLOCTL_LOADTEST_DURATION", 3600) / SAMPLE_SECONDS) + 600
        for _ in range(limit):  # bounded: the run's duration plus ten minutes of samples
            gevent.sleep(SAMPLE_SECONDS)
            if self.stopped_by == "max_requests" or environment.runner is None:
                return
            self.sample(environment)

    # The bound is checked as the requests are counted, not once a second with the samples: a
    # second of load ran past it before (some 700 requests over --max-requests 50 against a fast
    # service), and a run that reached it went on for half a second on average.
    def count(self, environment: Environment, name: str) -> None:
        """One request of this process (one Locust process, not distributed) counted against
        the bound as the report's total counts it: the operational routes left out (a Locust
        file polling /healthz stopped before, short of the requests the gates judge)."""
        if self.max_requests and name not in OPERATIONAL_PATHS:
            self.counted += 1
            if self.counted >= self.max_requests:
                self._quit(environment)

    def bound(self, environment: Environment) -> None:
        """The bound checked against the master's statistics (distributed: after a worker's
        report was added to them), counted as :meth:`count` counts."""
        runner = environment.runner
        if self.max_requests and runner is not None and _gated(runner.stats)[0] >= self.max_requests:
            self._quit(environment)

    def _quit(self, environment: Environment) -> None:
        """Quit the run once (from a greenlet of its own: a user's request hook may ask)."""
        if self.stopped_by != "max_requests" and environment.runner is not None:
            self.stopped_by = "max_requests"
            gevent.spawn(environment.runner.quit)


RECORDER = _Recorder()


def _write_live(requests: int, failures: int, p95_ms: float | None) -> None:
    """The run so far (requests, failures, the successes' p95), beside the results file, for
    sloctl's progress lines; written whole (renamed into place) or not at all."""
    path = os.environ.get("SLOCTL_LOADTEST_OUT")
    if not path:
        return
    live = f"{path}.live"
    with contextlib.suppress(OSError):  # a progress line is not worth failing the run for
        with open(f"{live}.tmp", "w") as fh:
            json.dump({"requests": requests, "failures": failures, "p95_ms": p95_ms}, fh)
        os.replace(f"{live}.tmp", live)


def _is_worker(environment: Environment) -> bool:
    return isinstance(environment.runner, WorkerRunner)


def _pin_host(environment: Environment) -> None:
    """Check ``--host`` and pin its addresses (every address it resolves to checked), after
    guarding again what the Locust file replaced since the import. The users keep the URL as
    given: the name in ``Host`` and TLS, the credentials of ``user:password@`` for Locust's
    basic authentication."""
    GUARD.install()
    GUARD.pin(environment.host or "", flag="--host", example="http://127.0.0.1:8000")


@events.init.add_listener
def _on_init(environment: Environment, **_kwargs: Any) -> None:
    try:
        if environment.host or not _is_worker(environment):
            _pin_host(environment)
    except EgressDenied as exc:
        print(f"sloctl loadtest: {exc}", flush=True)
        # Out before any user starts, and without results: a quit spawned from here came after
        # the headless start, and the users (still pointed at the name, not pinned) sent their
        # first requests to wherever it now resolves; sloctl then read the results as a run's.
        # SystemExit passes through Locust's event hooks (they log and swallow Exceptions).
        raise SystemExit(2) from None
    if _is_worker(environment):
        return
    RECORDER.max_requests = int(_env_float("SLOCTL_LOADTEST_MAX_REQUESTS", 0))
    gevent.spawn(RECORDER.loop, environment)


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_kwargs: Any) -> None:
    SUCCEEDED.clear_all()  # as Locust clears its own stats when a test starts
    if not _is_worker(environment):
        RECORDER.started = time.monotonic()
        RECORDER._prev = None
        RECORDER.counted = 0


@events.quit.add_listener
def _on_quit(**_kwargs: Any) -> None:
    """After Locust's runner quit (final worker reports included): write the results file."""
    path = os.environ.get("SLOCTL_LOADTEST_OUT")
    env = _ENV.get("env")
    if not path or env is None or env.runner is None or _is_worker(env):
        return
    RECORDER.sample(env)
    stats = env.runner.stats
    data = {
        # entry.serialize(), not stats.serialize_stats(): the latter resets the entries
        "stats": [e.serialize() for e in stats.entries.values()],
        "succeeded": [e.serialize() for e in SUCCEEDED.entries.values() if e.num_requests],
        "errors": [[str(e.error), int(e.occurrences)] for e in stats.errors.values()],
        "samples": RECORDER.samples,
        # A breakpoint search ends when a gate breaks, whatever time is left.
        "stopped_by": "breakpoint" if STEP.broken is not None else RECORDER.stopped_by,
        "breakpoint": (
            {"searched": True, "steps": STEP.steps, "broken": STEP.broken, "alpha": STEP.alpha}
            if STEP.searched
            else None
        ),
        "server_times": {str(k): v for k, v in sorted(SERVER_TIMES.times.items())},
        "arrivals": (
            {"lags": {str(k): v for k, v in sorted(ARRIVALS.lags.items())}, "dropped": ARRIVALS.dropped}
            if ARRIVALS.lags
            else None
        ),
        "distributed": isinstance(env.runner, MasterRunner),
        "workers": RECORDER.workers,
        # from the test's start (users spawning) to its end, whatever stopped it
        "ran_seconds": round(time.monotonic() - RECORDER.started, 2),
    }
    tmp = f"{path}.tmp"
    try:
        with open(tmp, "w") as fh:
            json.dump(data, fh, default=_json_default)
        os.replace(tmp, path)
    except BaseException:  # a full disk: no half file (sloctl says why the results are missing)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


_ENV: dict[str, Environment] = {}


@events.init.add_listener
def _remember(environment: Environment, **_kwargs: Any) -> None:
    _ENV["env"] = environment


def _json_default(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)

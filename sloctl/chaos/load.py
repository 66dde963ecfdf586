"""Steady traffic during a game day (a background Chaos Toolkit action) and the assertions
that read it. Without traffic no breaker sees a failure, so every generated experiment starts
this first. Bounded: 200 requests/s per dependency, 300 s, 8 workers per dependency; it stops
early when :data:`STOP` is set (the control sets it when a run ends or aborts)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from chaoslib.exceptions import ActivityFailed

from sloctl.contract import LIVENESS_PATH, route
from sloctl.files import parse_json

from .probes import _client, percentile
from .result import SETUP_FAILED

__all__ = [
    "FLOOR_ROUTE",
    "ROUTES",
    "STOP",
    "expect_fast_fail",
    "expect_routes_healthy",
    "expect_tier_isolation",
    "generate_load",
    "route_p95_ms",
    "routes_availability",
    "stop_load",
    "wait_for_pool",
]

#: One representative route per dependency: (method, path). ``{document}`` is a document that
#: the load creates before it starts.
ROUTES: dict[str, tuple[str, str]] = {
    "postgres": ("GET", route("listProjects").url("limit=5")),
    "redis": ("PUT", route("putCache").url(key="sloctl-gameday")),
    "mongodb": ("GET", route("getDocument").url(document_id="{document}")),
}
#: The API's cheapest answer (no database call, not in any SLO): the floor a fast-fail is
#: measured above.
FLOOR_ROUTE = LIVENESS_PATH
STOP = threading.Event()


def _request(
    client: httpx.Client, api_url: str, dependency: str, document: str
) -> tuple[int, bool, float | None]:
    """One request to the dependency's route: status (0 when it did not complete), whether the
    breaker rejected it (``circuit-open``), and the API's own time from ``Server-Timing``."""
    method, path = ROUTES[dependency]
    url = api_url.rstrip("/") + path.replace("{document}", document)
    try:
        response = client.request(method, url, content=b"v" if method == "PUT" else None)
    except httpx.HTTPError:
        return 0, False, None
    rejected = response.status_code == 503 and "circuit-open" in response.text
    return response.status_code, rejected, server_time_ms(response)


def server_time_ms(response: httpx.Response) -> float | None:
    """``dur`` of the ``app`` entry of a W3C ``Server-Timing`` header (the testbed sends one)."""
    for entry in response.headers.get("server-timing", "").split(","):
        name, *params = (part.strip() for part in entry.split(";"))
        if name != "app":
            continue
        for param in params:
            key, _, value = param.partition("=")
            if key == "dur":
                try:
                    return float(value)
                except ValueError:
                    return None
    return None


def _document(client: httpx.Client, api_url: str) -> str:
    """The MongoDB document the load reads. Without it every read would be a 404 that counts
    as healthy: the game day would learn nothing, so it stops as inconclusive instead."""
    try:
        response = client.post(api_url.rstrip("/") + route("createDocument").url(), json={"gameday": True})
        if response.status_code == 201:
            return str(response.json()["id"])
        problem = f"the API answered {response.status_code}"
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        problem = f"{type(exc).__name__}: {exc}"
    raise ActivityFailed(f"{SETUP_FAILED}: no MongoDB document for the load to read ({problem})")


def generate_load(
    api_url: str,
    dependencies: list[str] | None = None,
    rate: float = 20.0,
    seconds: float = 60.0,
    workers: int = 4,
) -> dict[str, Any]:
    """Send ``rate`` requests/s to each dependency's route for ``seconds``; returns a per-second
    timeline ``{dependency: [[t, ok, errors, rejected], …]}`` (``t`` from ``started``, epoch
    seconds), totals and the API's own time (Server-Timing) of the breaker's fast-fail answers."""
    deps = [d for d in (dependencies or list(ROUTES)) if d in ROUTES]
    rate = max(0.1, min(float(rate), 200.0))
    seconds = max(0.1, min(float(seconds), 300.0))
    workers = max(1, min(int(workers), 8))
    STOP.clear()
    started = time.time()
    deadline = time.monotonic() + seconds
    tally = _Tally(deps)
    with _client(api_url, None, timeout=5.0) as setup:
        document = _document(setup, api_url) if "mongodb" in deps else ""

    def worker(dependency: str) -> None:
        interval = workers / rate
        next_at = time.monotonic()
        with _client(api_url, None, timeout=5.0) as client:
            while not STOP.is_set() and time.monotonic() < deadline:
                code, rejected, server_ms = _request(client, api_url, dependency, document)
                tally.count(dependency, int(time.time() - started), code, rejected, server_ms)
                next_at += interval
                STOP.wait(max(0.0, next_at - time.monotonic()))

    threads = [threading.Thread(target=worker, args=(d,), daemon=True) for d in deps for _ in range(workers)]
    for thread in threads:
        thread.start()
    _wait_workers(threads, seconds)
    return {"started": started, "seconds": round(time.time() - started, 3), **tally.summary()}


class _Tally:
    """The load's answers per dependency and second, ``[ok, errors, rejected]``, and the API's
    own time of the breaker's fast-fail answers; the workers count from their threads."""

    def __init__(self, dependencies: list[str]) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[str, dict[int, list[int]]] = {d: {} for d in dependencies}
        self._fast_fail_ms: list[float] = []

    def count(self, dependency: str, second: int, code: int, rejected: bool, server_ms: float | None) -> None:
        with self._lock:
            row = self._buckets[dependency].setdefault(second, [0, 0, 0])
            if rejected:
                row[2] += 1
                if server_ms is not None:
                    self._fast_fail_ms.append(server_ms)
            elif code == 0 or code >= 500:
                row[1] += 1
            else:
                row[0] += 1

    def summary(self) -> dict[str, Any]:
        """The timeline ``{dependency: [[t, ok, errors, rejected], …]}``, totals and fast-fail
        percentiles."""
        with self._lock:
            buckets = self._buckets
            timeline = {d: [[s, *row] for s, row in sorted(rows.items())] for d, rows in buckets.items()}
            fast_fail_ms = list(self._fast_fail_ms)
        totals = {
            d: {
                "ok": sum(r[1] for r in rows),
                "errors": sum(r[2] for r in rows),
                "rejected": sum(r[3] for r in rows),
            }
            for d, rows in timeline.items()
        }
        return {
            "timeline": timeline,
            "totals": totals,
            "fast_fail_p50_ms": percentile(fast_fail_ms, 50),
            "fast_fail_p95_ms": percentile(fast_fail_ms, 95),
        }


def _wait_workers(threads: list[threading.Thread], seconds: float) -> None:
    """Wait for the load's workers; once stopped, give in-flight requests 0.3 s, not their 5 s
    timeout (the threads are daemons and end by themselves): an abort must be quick."""
    hard_deadline = time.monotonic() + seconds + 10
    stop_deadline: float | None = None
    while any(t.is_alive() for t in threads) and time.monotonic() < hard_deadline:
        if STOP.is_set() and stop_deadline is None:
            stop_deadline = time.monotonic() + 0.3
        if stop_deadline is not None and time.monotonic() > stop_deadline:
            break
        STOP.wait(0.05) if not STOP.is_set() else time.sleep(0.05)


def stop_load() -> dict[str, bool]:
    """End :func:`generate_load` early (the last step of a game day's method)."""
    STOP.set()
    return {"stopped": True}


def _floor_ms(client: httpx.Client, api_url: str) -> float | None:
    """The API's own time for its cheapest answer right now: :data:`FLOOR_ROUTE` (same
    middleware, no database call, outside the SLOs' routes), None when it did not answer."""
    try:
        response = client.get(api_url.rstrip("/") + FLOOR_ROUTE)
    except httpx.HTTPError:
        return None
    return server_time_ms(response)


def expect_fast_fail(
    api_url: str, dependency: str, max_ms: float = 1.0, requests: int = 20
) -> dict[str, Any]:
    """The open breaker answers ``circuit-open`` quickly: over ``requests`` rejected answers,
    the median of the API's own time (``Server-Timing: app;dur=``) *above its floor* is under
    ``max_ms``. The floor is the API's time for :data:`FLOOR_ROUTE`, asked right after each
    rejected call: what any answer costs at that moment (the event loop is shared with the
    game day's load, and the machine with whatever else runs). A breaker that waited for its
    dependency would be the call timeout above it; a busy API is not. The absolute median, p95,
    maximum and the client's round trip are reported beside it."""
    count = max(3, min(int(requests), 200))
    server: list[float] = []
    floor: list[float] = []
    above: list[float] = []
    round_trip: list[float] = []
    with _client(api_url, None) as client:
        for _ in range(count):
            t0 = time.perf_counter()
            _, rejected, server_ms = _request(client, api_url, dependency, "000000000000000000000000")
            if not rejected:
                continue
            round_trip.append((time.perf_counter() - t0) * 1000)
            floor_ms = _floor_ms(client, api_url)
            if server_ms is None or floor_ms is None:
                raise ActivityFailed(
                    f"the API sends no Server-Timing header (or {FLOOR_ROUTE} does not answer): "
                    "fast-fail cannot be measured"
                )
            server.append(server_ms)
            floor.append(floor_ms)
            above.append(server_ms - floor_ms)
    if not server:
        raise ActivityFailed(f"the {dependency} breaker did not fast-fail any of {count} requests")
    figures = {
        "rejected": len(server),
        "above_floor_p50_ms": percentile(above, 50),
        "server_p50_ms": percentile(server, 50),
        "server_p95_ms": percentile(server, 95),
        "server_max_ms": round(max(server), 3),
        "floor_p50_ms": percentile(floor, 50),
        "round_trip_p50_ms": percentile(round_trip, 50),
    }
    if (figures["above_floor_p50_ms"] or 0.0) > float(max_ms):
        raise ActivityFailed(
            f"fast-fail median {figures['above_floor_p50_ms']} ms above the API's floor"
            f" > {max_ms} ms: {figures}"
        )
    return figures


def expect_routes_healthy(
    api_url: str, dependencies: list[str], objective: float = 99.9, requests: int = 20
) -> dict[str, Any]:
    """Routes of the dependencies that were *not* failed keep their SLO: at least
    ``objective`` % of ``requests`` answers per route are not 5xx."""
    result: dict[str, Any] = _availability(api_url, dependencies, requests)
    failing = {d: r for d, r in result.items() if r < float(objective)}
    if failing:
        raise ActivityFailed(f"routes below {objective} %: {failing}")
    return result


def routes_availability(api_url: str, dependencies: list[str], requests: int = 20) -> float:
    """The lowest availability (% of answers that are not 5xx) over the dependencies' routes."""
    return min(_availability(api_url, dependencies, requests).values())


def _availability(api_url: str, dependencies: list[str], requests: int) -> dict[str, float]:
    """``{dependency: % of requests (200 at most) to its route answered, not 5xx}``. Each
    route's requests go one after another, the routes side by side (a client each): they
    share nothing, and one after another the three took three times as long, in a game day's
    steady state and, worse, in its checks while the fault holds, which they lengthened."""
    count = max(1, min(int(requests), 200))
    if not dependencies:
        return {}
    with _client(api_url, None) as setup:
        document = _document(setup, api_url) if "mongodb" in dependencies else ""

    def good_share(dependency: str) -> float:
        with _client(api_url, None) as client:
            codes = [_request(client, api_url, dependency, document)[0] for _ in range(count)]
        good = sum(1 for code in codes if 0 < code < 500)
        return 100.0 * good / count

    with ThreadPoolExecutor(max_workers=len(dependencies), thread_name_prefix="sloctl-routes") as pool:
        return dict(zip(dependencies, pool.map(good_share, dependencies), strict=True))


def route_p95_ms(api_url: str, dependencies: list[str], requests: int = 20) -> float:
    """The highest p95 latency (ms) over the dependencies' routes."""
    count = max(1, min(int(requests), 200))
    worst = 0.0
    with _client(api_url, None) as client:
        document = _document(client, api_url) if "mongodb" in dependencies else ""
        for dep in dependencies:
            durations = []
            for _ in range(count):
                t0 = time.perf_counter()
                _request(client, api_url, dep, document)
                durations.append((time.perf_counter() - t0) * 1000)
            durations.sort()
            worst = max(worst, durations[max(0, int(0.95 * count + 0.999) - 1)])
    return round(worst, 3)


def wait_for_pool(metrics_url: str, dependency: str, timeout: float = 10.0) -> dict[str, float]:
    """The pool of ``dependency`` has no waiting caller within ``timeout`` s (60 at most): the
    open breaker protects it from exhaustion."""
    from .probes import pool_saturation

    deadline = time.monotonic() + min(float(timeout), 60.0)
    pool = pool_saturation(metrics_url, dependency)
    while pool["waiting"] > 0 and time.monotonic() < deadline:
        time.sleep(0.2)
        pool = pool_saturation(metrics_url, dependency)
    if pool["waiting"] > 0:
        raise ActivityFailed(f"{dependency} pool exhausted: {pool}")
    return pool


def _tier_waiting(client: httpx.Client, metrics_url: str, tier: str) -> float:
    from sloctl import contract

    from .probes import _metric, parse_metrics

    samples = parse_metrics(client.get(metrics_url).text)
    return _metric(samples, contract.TIER_POOL_WAITING.name, tier=tier)


def _client_keys(api_keys_file: str) -> dict[str, str]:
    """``{tier: key}`` from the file the testbed writes; a setup failure when it is unreadable."""
    try:
        keys: dict[str, str] = parse_json(Path(api_keys_file).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ActivityFailed(
            f"{SETUP_FAILED}: api_keys_file {api_keys_file!r} is not a readable JSON {{tier: key}}"
            f" (the testbed writes one: api/client-keys.json): {exc}"
        ) from None
    return keys


class _Exhaust:
    """16 callers keeping one tier's requests in flight until :meth:`stop` (or ``until``, a
    monotonic time), counting the answers by status code (0: no answer)."""

    callers = 16

    def __init__(self, api_url: str, method: str, url: str, headers: dict[str, str], *, until: float) -> None:
        self.api_url, self.method, self.url, self.headers, self.until = api_url, method, url, headers, until
        self.answers: dict[str, int] = {}
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._call, daemon=True) for _ in range(self.callers)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._done.set()
        # Their requests in flight come back at the call timeout at most: count their answers.
        join_by = time.monotonic() + 35.0
        for thread in self._threads:
            thread.join(max(0.0, join_by - time.monotonic()))

    def _call(self) -> None:
        # Keep the exhausted tier's requests in flight until the protected tier is measured:
        # they wait for its pool (then time out at the PostgreSQL call timeout) and come back.
        # A client that honours Retry-After (its tier's 429, its breaker's 503) waits as told:
        # callers spinning on fast refusals would load the API's CPU, not the tier's pool.
        with _client(self.api_url, None, timeout=30.0) as client:
            while not self._done.is_set() and not STOP.is_set() and time.monotonic() < self.until:
                retry = None
                try:
                    answer = client.request(self.method, self.url, headers=self.headers)
                    code, retry = answer.status_code, answer.headers.get("Retry-After")
                except httpx.HTTPError:
                    code = 0
                with self._lock:
                    self.answers[str(code)] = self.answers.get(str(code), 0) + 1
                if retry is not None:
                    self._done.wait(min(float(retry) if retry.isdigit() else 1.0, 5.0))


def expect_tier_isolation(
    api_url: str,
    metrics_url: str,
    api_keys_file: str,
    exhausted: str = "free",
    protected: str = "enterprise",
    max_p95_ms: float = 200.0,
    requests: int = 30,
    timeout: float = 10.0,
) -> dict[str, Any]:
    """The plan's isolation promise: while the ``exhausted`` tier's PostgreSQL pool has callers
    waiting (its server connections held by slow queries, and this probe keeping more of its
    requests in flight), the ``protected`` tier's PostgreSQL route answers with a p95 under
    ``max_p95_ms`` (the latency SLO's threshold), no 5xx and no 429. Fails when the exhausted tier's
    pool never had a caller waiting within ``timeout`` s (the check would prove nothing).
    ``api_keys_file``: ``{tier: key}`` (0600; the testbed writes it), so that no key reaches
    the journal. Bounded: 200 protected requests, 16 exhausting callers, 60 s."""
    keys = _client_keys(api_keys_file)
    method, path = ROUTES["postgres"]
    url = api_url.rstrip("/") + path
    count = max(5, min(int(requests), 200))
    deadline = time.monotonic() + min(float(timeout), 60.0)
    load = _Exhaust(api_url, method, url, _bearer(keys, exhausted), until=deadline + 60)
    load.start()
    try:
        with _client(api_url, None, timeout=30.0) as client:
            waiting = 0.0
            while (waiting := _tier_waiting(client, metrics_url, exhausted)) < 1:
                if time.monotonic() > deadline:
                    raise ActivityFailed(
                        f"the {exhausted} tier's pool had no caller waiting within {timeout} s:"
                        " the isolation check would prove nothing"
                    )
                time.sleep(0.1)
            durations, answers = _timed(client, method, url, _bearer(keys, protected), count)
            still_waiting = _tier_waiting(client, metrics_url, exhausted)
    finally:
        load.stop()
    p95 = percentile(durations, 95)
    # 0: no answer; 429: the protected tier was not served either (its limit is not under test)
    failed = sum(n for code, n in answers.items() if code in ("0", "429") or int(code) >= 500)
    figures: dict[str, Any] = {
        "exhausted_tier": exhausted,
        "protected_tier": protected,
        "exhausted_waiting_before": waiting,
        "exhausted_waiting_after": still_waiting,
        "protected_requests": count,
        "protected_failed": failed,
        "protected_answers": answers,
        "protected_p50_ms": percentile(durations, 50),
        "protected_p95_ms": p95,
        "protected_max_ms": round(max(durations), 3),
        "exhausted_answers": dict(sorted(load.answers.items())),
    }
    if broken := _isolation_broken(failed, count, p95, float(max_p95_ms)):
        raise ActivityFailed(
            f"the {protected} tier suffered from the {exhausted} tier's exhausted pool ({broken}): {figures}"
        )
    return figures


def _isolation_broken(failed: int, count: int, p95: float | None, max_p95_ms: float) -> str:
    """Which of the isolation promise's conditions the protected tier's answers broke ("": none)."""
    broken = [f"{failed} of {count} answered 5xx, 429 or not at all"] if failed else []
    if (p95 or 0.0) > max_p95_ms:
        broken.append(f"p95 {p95} ms over {max_p95_ms} ms")
    return "; ".join(broken)


def _timed(
    client: httpx.Client, method: str, url: str, headers: dict[str, str], count: int
) -> tuple[list[float], dict[str, int]]:
    """``count`` requests one after the other: their durations (ms) and how many got each
    status code (``"0"``: no answer), so that a failed check says what the tier was answered."""
    durations: list[float] = []
    answers: dict[str, int] = {}
    for _ in range(count):
        t0 = time.perf_counter()
        try:
            code = client.request(method, url, headers=headers).status_code
        except httpx.HTTPError:
            code = 0
        durations.append((time.perf_counter() - t0) * 1000)
        answers[str(code)] = answers.get(str(code), 0) + 1
    return durations, dict(sorted(answers.items()))


def _bearer(keys: dict[str, str], tier: str) -> dict[str, str]:
    if tier not in keys:
        raise ActivityFailed(f"no API key for tier {tier!r} in the keys file (tiers: {', '.join(keys)})")
    return {"Authorization": f"Bearer {keys[tier]}"}

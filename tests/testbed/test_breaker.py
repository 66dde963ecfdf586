"""Every transition of the circuit breaker, with an injected clock."""

from __future__ import annotations

import asyncio

import pytest

from testbed.breaker import BreakerOpenError, BreakerSettings, CircuitBreaker, State, default_timeouts
from testbed.config import TestbedConfig


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    def __init__(self) -> None:
        self.transitions: list[tuple[str, str]] = []
        self.results: list[str] = []

    def transition(self, dependency: str, old: State, new: State) -> None:
        self.transitions.append((old.label, new.label))

    def result(self, dependency: str, result: str) -> None:
        self.results.append(result)


def make(minimum_calls: int = 4) -> tuple[CircuitBreaker, FakeClock, Recorder]:
    clock, rec = FakeClock(), Recorder()
    settings = BreakerSettings(minimum_calls=minimum_calls)
    return CircuitBreaker("redis", settings, clock=clock, listener=rec), clock, rec


def fail(b: CircuitBreaker, n: int = 1) -> None:
    for _ in range(n):
        b.record_failure(b.acquire())


def succeed(b: CircuitBreaker, n: int = 1) -> None:
    for _ in range(n):
        b.record_success(b.acquire())


def state(b: CircuitBreaker) -> State:
    """``b.state``, read anew: mypy keeps a property narrowed by ``assert b.state is …`` across
    the calls that change it."""
    return b.state


def test_defaults_are_the_reliability_plans() -> None:
    s = BreakerSettings()
    assert (s.failure_ratio, s.window_seconds, s.open_seconds, s.call_timeout) == (0.5, 10.0, 30.0, 3.0)
    assert default_timeouts() == {"postgres": 5.0, "mongodb": 10.0, "redis": 1.0}
    config = TestbedConfig(postgres_dsn="", redis_url="", mongodb_uri="")
    assert config.breaker_for("postgres").call_timeout == 5.0
    assert config.breaker_for("mongodb").call_timeout == 10.0
    assert config.breaker_for("redis").call_timeout == 1.0
    assert config.breaker_for("http").call_timeout == 3.0


def test_stays_closed_below_the_minimum_volume_even_at_100_percent_errors() -> None:
    b, _, rec = make(minimum_calls=4)
    fail(b, 3)
    assert b.state is State.CLOSED
    assert rec.transitions == []


def test_opens_at_fifty_percent_errors_once_the_minimum_volume_is_reached() -> None:
    b, _, rec = make(minimum_calls=4)
    succeed(b, 2)
    fail(b, 1)
    assert b.state is State.CLOSED  # 1/3, and below volume
    fail(b, 1)  # 2/4 = 50 %
    assert state(b) is State.OPEN
    assert rec.transitions == [("closed", "open")]


def test_stays_closed_just_under_fifty_percent() -> None:
    b, _, _ = make(minimum_calls=4)
    succeed(b, 6)
    fail(b, 5)  # 5/11 < 50 %
    assert b.state is State.CLOSED


def test_failures_older_than_the_window_do_not_count() -> None:
    b, clock, _ = make(minimum_calls=4)
    fail(b, 3)
    clock.now += 10.5  # the plan's 10 s window has moved past them
    succeed(b, 1)
    fail(b, 1)
    assert b.window_counts() == (1, 1)
    assert b.state is State.CLOSED


def test_open_rejects_fast_with_retry_after_then_half_opens_after_30_s() -> None:
    b, clock, rec = make()
    fail(b, 4)
    with pytest.raises(BreakerOpenError) as err:
        b.acquire()
    assert err.value.retry_after == pytest.approx(30.0)
    clock.now += 29.9
    with pytest.raises(BreakerOpenError) as err:
        b.acquire()
    assert err.value.retry_after == pytest.approx(0.1)
    clock.now += 0.1
    assert b.acquire() is True  # the one trial call
    assert b.state is State.HALF_OPEN
    with pytest.raises(BreakerOpenError):
        b.acquire()  # only one trial at a time
    assert rec.results.count("rejected") == 3


def test_half_open_trial_success_closes_and_clears_the_window() -> None:
    b, clock, rec = make()
    fail(b, 4)
    clock.now += 30
    b.record_success(b.acquire())
    assert b.state is State.CLOSED
    assert b.window_counts() == (0, 0)
    assert rec.transitions == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]


def test_half_open_trial_failure_reopens_for_another_30_s() -> None:
    b, clock, rec = make()
    fail(b, 4)
    clock.now += 30
    b.record_failure(b.acquire(), timeout=True)
    assert b.state is State.OPEN
    assert b.retry_after() == pytest.approx(30.0)
    assert rec.transitions[-2:] == [("open", "half_open"), ("half_open", "open")]
    assert rec.results[-1] == "timeout"


def test_a_cancelled_trial_lets_the_next_call_try() -> None:
    b, clock, _ = make()
    fail(b, 4)
    clock.now += 30
    assert b.acquire() is True
    b.release_trial()
    assert b.acquire() is True


def test_late_failures_of_calls_started_before_opening_do_not_extend_the_open_time() -> None:
    b, clock, _ = make()
    fail(b, 4)
    clock.now += 10
    b.record_failure(False)
    assert b.retry_after() == pytest.approx(20.0)


def test_async_call_applies_the_timeout_and_counts_it() -> None:
    clock, rec = FakeClock(), Recorder()
    b = CircuitBreaker(
        "redis", BreakerSettings(call_timeout=0.01, minimum_calls=1), clock=clock, listener=rec
    )

    async def slow() -> int:
        await asyncio.Event().wait()  # a dependency that never answers
        return 1

    with pytest.raises(TimeoutError):
        asyncio.run(b.call(slow))
    assert rec.results == ["timeout"]
    assert b.state is State.OPEN


def test_async_call_does_not_count_client_errors_against_the_dependency() -> None:
    b, _, rec = make(minimum_calls=1)

    async def not_found() -> int:
        raise KeyError("missing")

    with pytest.raises(KeyError):
        asyncio.run(b.call(not_found, is_failure=lambda exc: not isinstance(exc, KeyError)))
    assert b.state is State.CLOSED
    assert rec.results == ["success"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"failure_ratio": 0},
        {"failure_ratio": 1.5},
        {"window_seconds": 0},
        {"minimum_calls": 0},
        {"open_seconds": -1},
    ],
)
def test_invalid_settings_are_refused_with_a_message(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must"):
        BreakerSettings(**kwargs)  # type: ignore[arg-type]


def test_the_timeout_answers_on_time_even_when_cancellation_is_slow() -> None:
    """psycopg, cancelled, sends a cancel request and waits for it; the caller must not."""
    b = CircuitBreaker("postgres", BreakerSettings(call_timeout=0.05), clock=FakeClock())

    async def scenario() -> float:
        release, cleaned = asyncio.Event(), asyncio.Event()

        async def stubborn() -> int:
            try:
                await asyncio.Event().wait()  # a dependency that never answers
            except asyncio.CancelledError:
                await release.wait()  # a clean-up that lasts until the test lets it end
                cleaned.set()
                raise
            return 1

        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(TimeoutError):
            # bounded: a breaker that waited for the clean-up would answer only after 2 s
            await asyncio.wait_for(b.call(stubborn), 2)
        elapsed = loop.time() - started
        release.set()
        await asyncio.wait_for(cleaned.wait(), 5)  # the abandoned call finishes its clean-up
        return elapsed

    assert asyncio.run(scenario()) < 0.3


def test_each_database_trips_at_the_plans_own_failure_ratio() -> None:
    from testbed.config import TestbedConfig

    config = TestbedConfig(
        postgres_dsn="postgresql://x@127.0.0.1/x", redis_url="redis://127.0.0.1", mongodb_uri="m"
    )
    got = {dep: (config.breaker_for(dep).call_timeout, config.breaker_for(dep).failure_ratio) for dep in
           ("postgres", "mongodb", "redis")}  # fmt: skip
    assert got == {"postgres": (5.0, 0.5), "mongodb": (10.0, 0.6), "redis": (1.0, 0.7)}
    with pytest.raises(ValueError, match="failure ratio of redis"):
        TestbedConfig(postgres_dsn="p", redis_url="r", mongodb_uri="m", failure_ratios=(("redis", 1.5),))

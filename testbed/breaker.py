"""Per-dependency circuit breaker with the reliability plan's semantics.

Why our own module: the maintained Python breakers (pybreaker, aiobreaker, circuitbreaker,
purgatory) trip after N *consecutive* failures. The plan asks for a *failure ratio* (≥ 50 %)
over a *rolling time window* (10 s) once a *minimum volume* of calls is reached, a per-call
timeout that counts as a failure, a fixed open time (30 s) and a half-open state that lets
exactly one trial call through. That is Resilience4j's time-based sliding window, which has
no maintained asyncio equivalent on PyPI; this module is small and every transition is unit
tested with an injected clock (tests/testbed/test_breaker.py).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from sloctl.contract import PLAN_BREAKERS, BreakerResult, BreakerState
from sloctl.limits import MIN_BREAKER_WINDOW_SECONDS

__all__ = [
    "BreakerOpenError",
    "BreakerSettings",
    "CircuitBreaker",
    "Clock",
    "Listener",
    "State",
    "default_failure_ratios",
    "default_timeouts",
]

T = TypeVar("T")


class Clock(Protocol):
    def __call__(self) -> float: ...


#: the breaker's states, whose values are those of ``platform_circuit_breaker_state``
State = BreakerState


def default_timeouts() -> dict[str, float]:
    """The plan's call timeouts per dependency (seconds); others get ``default_timeout``."""
    return {dep.value: seconds for dep, seconds in PLAN_BREAKERS.timeouts}


def default_failure_ratios() -> dict[str, float]:
    """The plan's per-database trip thresholds (:attr:`~sloctl.contract.BreakerPlan.failure_ratios`)."""
    return {dep.value: ratio for dep, ratio in PLAN_BREAKERS.failure_ratios}


@dataclass(frozen=True)
class BreakerSettings:
    """Defaults are the reliability plan's; tests shorten the durations."""

    failure_ratio: float = 0.5
    window_seconds: float = PLAN_BREAKERS.window_seconds
    #: calls in the window before the ratio is trusted (Hystrix and Resilience4j use 20 / 100;
    #: the plan says "a minimum volume" without a number)
    minimum_calls: int = 20
    open_seconds: float = PLAN_BREAKERS.open_seconds
    call_timeout: float = PLAN_BREAKERS.default_timeout
    #: width of one bucket of the rolling window; the window moves in these steps (and is one at
    #: least: ``python -m testbed --breaker-window-seconds`` takes no narrower one)
    bucket_seconds: float = MIN_BREAKER_WINDOW_SECONDS

    def __post_init__(self) -> None:
        if not 0 < self.failure_ratio <= 1:
            raise ValueError(f"failure_ratio must be in (0, 1], not {self.failure_ratio}")
        for name in ("window_seconds", "open_seconds", "call_timeout", "bucket_seconds"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, not {getattr(self, name)}")
        if self.minimum_calls < 1:
            raise ValueError(f"minimum_calls must be at least 1, not {self.minimum_calls}")
        if self.bucket_seconds > self.window_seconds:
            raise ValueError("bucket_seconds must not exceed window_seconds")


class BreakerOpenError(Exception):
    """The call was rejected without touching the dependency."""

    def __init__(self, dependency: str, retry_after: float) -> None:
        super().__init__(f"circuit breaker for {dependency} is open; retry in {retry_after:.1f} s")
        self.dependency = dependency
        self.retry_after = retry_after


class Listener(Protocol):
    """Receives transitions and call results (the metrics module implements it)."""

    def transition(self, dependency: str, old: State, new: State) -> None: ...

    def result(self, dependency: str, result: str) -> None: ...


class _NullListener:
    def transition(self, dependency: str, old: State, new: State) -> None:
        return None

    def result(self, dependency: str, result: str) -> None:
        return None


class CircuitBreaker:
    """Closed → (≥ ratio failures over the window, with ≥ minimum calls) → open →
    (after ``open_seconds``) → half-open: one trial call; success → closed, failure → open.

    Use :meth:`call` for async calls (it applies the timeout), or the three-step API
    :meth:`acquire` / :meth:`record_success` / :meth:`record_failure` around anything else.
    """

    def __init__(
        self,
        dependency: str,
        settings: BreakerSettings | None = None,
        *,
        clock: Clock = time.monotonic,
        listener: Listener | None = None,
    ) -> None:
        self.dependency = dependency
        self.settings = settings or BreakerSettings()
        self._clock = clock
        self._listener: Listener = listener or _NullListener()
        self._state = State.CLOSED
        self._opened_at = 0.0
        self._trial_in_flight = False
        # (bucket index, successes, failures); at most window/bucket + 1 buckets
        self._buckets: deque[list[int]] = deque()

    # -- state ---------------------------------------------------------------------------
    @property
    def state(self) -> State:
        return self._state

    def retry_after(self) -> float:
        """Seconds until an open breaker lets a trial call through (0 when not open)."""
        if self._state is not State.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self.settings.open_seconds - self._clock())

    def window_counts(self) -> tuple[int, int]:
        """(successes, failures) in the current rolling window."""
        self._expire(self._clock())
        return sum(b[1] for b in self._buckets), sum(b[2] for b in self._buckets)

    def _move(self, new: State) -> None:
        old = self._state
        if old is new:
            return
        self._state = new
        if new is State.OPEN:
            self._opened_at = self._clock()
        if new is State.CLOSED:
            self._buckets.clear()
        self._listener.transition(self.dependency, old, new)

    # -- rolling window ------------------------------------------------------------------
    def _expire(self, now: float) -> int:
        index = math.floor(now / self.settings.bucket_seconds)
        oldest = index - math.ceil(self.settings.window_seconds / self.settings.bucket_seconds) + 1
        while self._buckets and self._buckets[0][0] < oldest:
            self._buckets.popleft()
        return index

    def _count(self, ok: bool) -> None:
        index = self._expire(self._clock())
        if not self._buckets or self._buckets[-1][0] != index:
            self._buckets.append([index, 0, 0])
        self._buckets[-1][1 if ok else 2] += 1

    # -- three-step API --------------------------------------------------------------------
    def acquire(self) -> bool:
        """Ask to make a call. Returns True for the half-open trial call, False for a normal
        call; raises :class:`BreakerOpenError` when the call must fail fast."""
        if self._state is State.OPEN:
            if self.retry_after() > 0:
                self._listener.result(self.dependency, BreakerResult.REJECTED)
                raise BreakerOpenError(self.dependency, self.retry_after())
            self._move(State.HALF_OPEN)
        if self._state is State.HALF_OPEN:
            if self._trial_in_flight:
                self._listener.result(self.dependency, BreakerResult.REJECTED)
                # the trial decides soon; tell clients to come back within a second
                raise BreakerOpenError(self.dependency, 1.0)
            self._trial_in_flight = True
            return True
        return False

    def record_success(self, trial: bool = False) -> None:
        self._listener.result(self.dependency, BreakerResult.SUCCESS)
        if trial or self._state is State.HALF_OPEN:
            self._trial_in_flight = False
            self._move(State.CLOSED)
            return
        self._count(True)

    def record_failure(self, trial: bool = False, *, timeout: bool = False) -> None:
        self._listener.result(self.dependency, BreakerResult.TIMEOUT if timeout else BreakerResult.FAILURE)
        if trial or self._state is State.HALF_OPEN:
            self._trial_in_flight = False
            self._move(State.OPEN)
            return
        if self._state is State.OPEN:
            return  # a slow call that started before the breaker opened
        self._count(False)
        successes, failures = self.window_counts()
        total = successes + failures
        if total >= self.settings.minimum_calls and failures / total >= self.settings.failure_ratio:
            self._move(State.OPEN)

    def release_trial(self) -> None:
        """The trial call ended without a verdict (cancelled): let another one through."""
        self._trial_in_flight = False

    # -- async convenience -----------------------------------------------------------------
    async def call(
        self, fn: Callable[[], Awaitable[T]], *, is_failure: Callable[[BaseException], bool] | None = None
    ) -> T:
        """Run ``fn()`` under the breaker and the dependency's call timeout.

        Exceptions for which ``is_failure`` returns False (a client error from the dependency,
        say) propagate without counting against the dependency.
        """
        trial = self.acquire()
        # The call runs in its own task so that the caller gets its answer when the timeout
        # expires, not when the cancelled driver has finished cleaning up (psycopg, cancelled,
        # sends the server a cancel request and waits for it: up to another 5 s).
        task = asyncio.ensure_future(fn())
        try:
            done, _ = await asyncio.wait({task}, timeout=self.settings.call_timeout)
        except asyncio.CancelledError:
            task.cancel()
            _abandon(task)
            if trial:
                self.release_trial()
            raise
        if not done:
            task.cancel()
            _abandon(task)
            self.record_failure(trial, timeout=True)
            raise TimeoutError(f"{self.dependency} call timed out after {self.settings.call_timeout:g} s")
        try:
            value = task.result()
        except Exception as exc:
            if is_failure is None or is_failure(exc):
                self.record_failure(trial)
            else:
                self.record_success(trial)
            raise
        self.record_success(trial)
        return value


#: cancelled calls still cleaning up; referenced so that they are not garbage collected
_ABANDONED: set[asyncio.Future[Any]] = set()


def _abandon(task: asyncio.Future[Any]) -> None:
    def forget(done: asyncio.Future[Any]) -> None:
        _ABANDONED.discard(done)
        if not done.cancelled():
            done.exception()  # retrieved: no "exception was never retrieved" warning

    _ABANDONED.add(task)
    task.add_done_callback(forget)

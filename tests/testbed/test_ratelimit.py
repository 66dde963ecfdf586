"""Token bucket and IETF RateLimit headers, with an injected clock."""

from __future__ import annotations

import pytest

from testbed.ratelimit import RateLimiter, TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_a_burst_then_refuses_until_refilled() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=2.0, capacity=3, clock=clock)
    assert [bucket.take().allowed for _ in range(4)] == [True, True, True, False]
    denied = bucket.take()
    assert denied.retry_after == pytest.approx(0.5)
    clock.now += 0.5
    assert bucket.take().allowed
    assert not bucket.take().allowed


def test_bucket_never_holds_more_than_its_capacity() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=100.0, capacity=2, clock=clock)
    clock.now += 60
    assert [bucket.take().allowed for _ in range(3)] == [True, True, False]


def test_limiter_headers_follow_the_plan_and_the_ietf_draft() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=1.0, capacity=2, clock=clock)
    first = limiter.check("127.0.0.1")
    assert limiter.headers(first) == {
        "RateLimit-Limit": "2",
        "RateLimit-Remaining": "1",
        "RateLimit-Reset": "1",
        "RateLimit-Policy": '"default";q=2;w=2',
        "RateLimit": '"default";r=1;t=1',
    }
    limiter.check("127.0.0.1")
    denied = limiter.check("127.0.0.1")
    headers = limiter.headers(denied)
    assert not denied.allowed
    assert headers["Retry-After"] == "1"
    assert (headers["RateLimit-Remaining"], headers["RateLimit-Reset"]) == ("0", "2")
    assert headers["RateLimit"] == '"default";r=0;t=2'


def test_retry_after_is_when_one_request_is_allowed_and_never_after_the_reset() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=0.25, capacity=3, clock=clock)
    for _ in range(3):
        limiter.check("c")
    clock.now += 1.0  # a quarter of a token back
    headers = limiter.headers(limiter.check("c"))
    # the next token in 3 s, a full bucket in 11 s
    assert (headers["Retry-After"], headers["RateLimit-Reset"]) == ("3", "11")
    clock.now += 3.0
    assert limiter.check("c").allowed


def test_limiter_keeps_one_bucket_per_client_and_bounds_its_memory() -> None:
    limiter = RateLimiter(rate=1.0, capacity=1, clock=FakeClock(), max_clients=2)
    assert limiter.check("a").allowed
    assert not limiter.check("a").allowed
    assert limiter.check("b").allowed
    assert limiter.check("c").allowed  # evicts "a"
    assert limiter.check("a").allowed


def test_limiter_refuses_nonsense_settings() -> None:
    with pytest.raises(ValueError, match="positive"):
        RateLimiter(rate=0, capacity=1)

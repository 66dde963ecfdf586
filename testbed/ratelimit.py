"""Token-bucket rate limiter and the IETF RateLimit header fields.

Headers: the reliability plan's ``RateLimit-Limit`` / ``RateLimit-Remaining`` /
``RateLimit-Reset`` (draft-ietf-httpapi-ratelimit-headers up to version 06: the capacity, the
whole requests left, the seconds until the bucket is full again), and the structured fields of
version 08 onwards, which say the same: ``RateLimit-Policy: "default";q=<capacity>;w=<seconds
to refill>`` and ``RateLimit: "default";r=<remaining>;t=<seconds until full>``. A refused request
also gets ``Retry-After``: the seconds until one request is allowed again, never more than
``RateLimit-Reset`` (the bucket refills one token long before it is full).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass

from .breaker import Clock

__all__ = ["Decision", "RateLimiter", "TokenBucket"]


@dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: int
    #: seconds until one token is available (for Retry-After on a 429)
    retry_after: float
    #: seconds until the bucket is full again
    reset: float


class TokenBucket:
    """``capacity`` tokens, refilled continuously at ``rate`` tokens per second."""

    def __init__(self, rate: float, capacity: int, *, clock: Clock = time.monotonic) -> None:
        if rate <= 0 or capacity < 1:
            raise ValueError(
                f"rate must be positive and capacity at least 1 (rate={rate}, capacity={capacity})"
            )
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._tokens = float(capacity)
        self._updated = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(float(self.capacity), self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def take(self) -> Decision:
        self._refill()
        allowed = self._tokens >= 1.0
        if allowed:
            self._tokens -= 1.0
        retry_after = 0.0 if self._tokens >= 1.0 else (1.0 - self._tokens) / self.rate
        reset = (self.capacity - self._tokens) / self.rate
        return Decision(allowed, int(self._tokens), retry_after, reset)


class RateLimiter:
    """One bucket per client key (the client address, or a tier's tenant), at most
    ``max_clients`` remembered (least recently used evicted) so that memory stays bounded.
    ``policy_name`` names the policy in the structured headers (``default``, or the tier)."""

    def __init__(
        self,
        rate: float,
        capacity: int,
        *,
        clock: Clock = time.monotonic,
        max_clients: int = 10_000,
        policy_name: str = "default",
    ) -> None:
        TokenBucket(rate, capacity, clock=clock)  # validate once, early
        self.rate = rate
        self.capacity = capacity
        self.policy_name = policy_name
        self._clock = clock
        self._max_clients = max_clients
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def check(self, key: str) -> Decision:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = TokenBucket(self.rate, self.capacity, clock=self._clock)
            self._buckets[key] = bucket
            if len(self._buckets) > self._max_clients:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket.take()

    @classmethod
    def per_minute(cls, requests: int, *, clock: Clock = time.monotonic, policy_name: str) -> RateLimiter:
        """``requests`` per minute, all of which may come at once (a tier's limit): the bucket
        holds a minute's worth and refills it in 60 s, so ``RateLimit-Policy`` says ``w=60``."""
        return cls(requests / 60.0, requests, clock=clock, policy_name=policy_name)

    def describe(self) -> str:
        """The limit in words, for the 429's detail."""
        if self.policy_name == "default":
            return f"the rate limit is {self.rate:g} requests/s with bursts of {self.capacity}"
        return f"the {self.policy_name} tier's rate limit is {round(self.rate * 60)} requests per minute"

    def policy_header(self) -> str:
        window = math.ceil(self.capacity / self.rate)
        return f'"{self.policy_name}";q={self.capacity};w={window}'

    def headers(self, decision: Decision) -> dict[str, str]:
        reset = math.ceil(decision.reset)
        out = {
            "RateLimit-Limit": str(self.capacity),
            "RateLimit-Remaining": str(decision.remaining),
            "RateLimit-Reset": str(reset),
            "RateLimit-Policy": self.policy_header(),
            "RateLimit": f'"{self.policy_name}";r={decision.remaining};t={reset}',
        }
        if not decision.allowed:
            out["Retry-After"] = str(min(reset, max(1, math.ceil(decision.retry_after))))
        return out

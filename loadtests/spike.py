"""Spike: baseline users, five times as many for the middle fifth of the run, then baseline.
Checks that the SLOs hold through a sudden burst (pools, breakers and the rate limiter)."""

from sloctl.loadtest.locustlib import PlatformUser, SpikeShape

__all__ = ["PlatformUser", "SpikeShape"]

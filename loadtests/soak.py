"""Bounded soak: steady moderate load for a long (but bounded) time, default 10 minutes;
leaks show as latency creeping up in the report's time series."""

from sloctl.loadtest.locustlib import PlatformUser

__all__ = ["PlatformUser"]

#: read by sloctl loadtest when --duration is not given
DEFAULT_DURATION = "10m"

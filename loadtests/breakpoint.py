"""Breakpoint: add users step by step (every 5 s) until an SLO gate breaks during a step, and
report the highest request rate that held (in the report's ``breakpoint`` section)."""

from sloctl.loadtest.locustlib import BreakpointShape, PlatformUser

__all__ = ["BreakpointShape", "PlatformUser"]

DEFAULT_DURATION = "100s"

"""Steady load: a constant number of users, each at a fixed request rate, for the whole run.

sloctl loadtest steady --slos slos/platform-api.yaml --host http://127.0.0.1:8000 --duration 30s
"""

from sloctl.loadtest.locustlib import PlatformUser

__all__ = ["PlatformUser"]

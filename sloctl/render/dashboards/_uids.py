"""Dashboard uids, stable across regenerations (``naming.dashboard_uid``)."""

from __future__ import annotations

from sloctl import naming


def overview_uid() -> str:
    return naming.dashboard_uid("sloctl", "overview")


def service_uid(service: str) -> str:
    return naming.dashboard_uid("sloctl", "service", service)


def component_uid(kind: str) -> str:
    return naming.dashboard_uid("sloctl", "component", kind)

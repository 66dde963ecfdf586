"""PagerDuty around a game day, through the maintained ``pagerduty`` package (pdpyras, its
predecessor, no longer gets updates):

- change events at the start and the end of a game day (Events API v2 change events);
- an optional practice incident, triggered and resolved through the Events API v2;
- a maintenance window on *other* services that never covers the service of the alert under
  test: :func:`check_maintenance_services` (and so :func:`plan_maintenance_window`) refuses it,
  and refuses a window when no protected service is named (nothing to check it against).

Every client takes ``transport=`` (an ``httpx2`` transport, the HTTP library of pagerduty 7),
so tests run on a mock transport and nothing reaches the network.

>>> pd = GamedayPagerDuty(routing_key="R0UTING", transport=transport)   # doctest: +SKIP
>>> pd.start("connection-loss", now)                                      # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = [
    "GamedayPagerDuty",
    "MaintenanceWindowError",
    "check_maintenance_services",
    "plan_maintenance_window",
]

SOURCE = "sloctl gameday"


class MaintenanceWindowError(ValueError):
    """A maintenance window would silence the alert under test."""


def _iso(moment: datetime) -> str:
    # pagerduty 7.1/7.2's own timestamp helper raises (datetime.timezone on the class), so we
    # always pass an explicit ISO 8601 timestamp.
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def check_maintenance_services(service_ids: Iterable[str], protected_service_ids: Iterable[str]) -> list[str]:
    """The services of a maintenance window, sorted and without duplicates; raises
    :class:`MaintenanceWindowError` when one of them is protected (a service that receives the
    alert under test), when there is nothing to cover, or when no protected service is named
    (a window that cannot be checked could silence the alert under test). Sends nothing."""
    services = sorted(set(service_ids))
    protected = set(protected_service_ids)
    overlap = sorted(set(services) & protected)
    if overlap:
        raise MaintenanceWindowError(
            f"a maintenance window on {', '.join(overlap)} would silence the alert under test"
        )
    if not services:
        raise MaintenanceWindowError("no service to put in maintenance")
    if not protected:
        raise MaintenanceWindowError(
            "name the PagerDuty service(s) that receive the alert under test (protected services):"
            " a maintenance window is only opened when it can be checked against them"
        )
    return services


def plan_maintenance_window(
    service_ids: Iterable[str],
    protected_service_ids: Iterable[str],
    start: datetime,
    minutes: int,
    description: str,
) -> dict[str, Any]:
    """The REST API v2 body of a maintenance window on ``service_ids``; raises
    :class:`MaintenanceWindowError` as :func:`check_maintenance_services` does, or when
    ``minutes`` is not within 1..1440."""
    services = check_maintenance_services(service_ids, protected_service_ids)
    if not 1 <= minutes <= 24 * 60:
        raise MaintenanceWindowError(f"minutes must be within 1..1440, not {minutes}")
    return {
        "maintenance_window": {
            "type": "maintenance_window",
            "start_time": _iso(start),
            "end_time": _iso(start + timedelta(minutes=minutes)),
            "description": description,
            "services": [{"id": sid, "type": "service_reference"} for sid in services],
        }
    }


@dataclass
class GamedayPagerDuty:
    """Change events, practice incident and maintenance window of one game day."""

    # The keys stay out of the repr (and so out of tracebacks and logs).
    routing_key: str = field(repr=False)
    api_key: str | None = field(default=None, repr=False)
    from_email: str | None = None
    transport: Any = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    _events: Any = field(default=None, init=False, repr=False)
    _rest: Any = field(default=None, init=False, repr=False)

    def _events_client(self) -> Any:
        if self._events is None:
            import pagerduty

            kw = {"transport": self.transport} if self.transport is not None else {}
            self._events = pagerduty.EventsApiV2Client(self.routing_key, **kw)
        return self._events

    def _rest_client(self) -> Any:
        if self._rest is None:
            import pagerduty

            api_key = self._check_rest_credentials()
            kw = {"transport": self.transport} if self.transport is not None else {}
            self._rest = pagerduty.RestApiV2Client(api_key, default_from=self.from_email, **kw)
        return self._rest

    def _check_rest_credentials(self) -> str:
        """The REST API key; raises when it or the From address is missing."""
        if not self.api_key:
            raise MaintenanceWindowError("a REST API key is needed for maintenance windows")
        if not self.from_email:
            raise MaintenanceWindowError(
                "a From email address (of a PagerDuty user) is needed for maintenance windows:"
                " the REST API requires it for writes"
            )
        return self.api_key

    def check_maintenance_window(
        self, service_ids: Sequence[str], protected_service_ids: Sequence[str]
    ) -> None:
        """Everything :meth:`open_maintenance_window` needs, checked without a request: the
        services (:func:`check_maintenance_services`), a REST API key and a From address."""
        check_maintenance_services(service_ids, protected_service_ids)
        self._check_rest_credentials()

    def change_event(self, summary: str, details: dict[str, Any]) -> None:
        self._events_client().submit(
            summary=summary, source=SOURCE, custom_details=details, timestamp=_iso(self.clock())
        )

    def start(self, gameday: str, details: dict[str, Any] | None = None) -> None:
        self.change_event(
            f"Game day {gameday} starts", {"gameday": gameday, "phase": "start", **(details or {})}
        )

    def end(self, gameday: str, verdict: str, details: dict[str, Any] | None = None) -> None:
        self.change_event(
            f"Game day {gameday} ended: {verdict}",
            {"gameday": gameday, "phase": "end", "verdict": verdict, **(details or {})},
        )

    def trigger_practice_incident(self, gameday: str) -> str:
        """Trigger a practice incident (severity ``info``); returns its dedup key."""
        return str(
            self._events_client().trigger(
                summary=f"[PRACTICE] game day {gameday}: this incident is an exercise",
                source=SOURCE,
                dedup_key=f"sloctl-gameday-{gameday}-{int(self.clock().timestamp())}",
                severity="info",
                custom_details={"gameday": gameday, "practice": True},
            )
        )

    def resolve_practice_incident(self, dedup_key: str) -> None:
        self._events_client().resolve(dedup_key)

    def open_maintenance_window(
        self,
        gameday: str,
        service_ids: Sequence[str],
        protected_service_ids: Sequence[str],
        minutes: int = 60,
    ) -> str:
        """Create the window (never on a protected service); returns its id."""
        body = plan_maintenance_window(
            service_ids, protected_service_ids, self.clock(), minutes, f"sloctl game day {gameday}"
        )
        window = self._rest_client().rpost("/maintenance_windows", json=body)
        return str(window["id"])

    def close_maintenance_window(self, window_id: str) -> None:
        self._rest_client().rdelete(f"/maintenance_windows/{window_id}")

"""SLO factories for the dashboard and Alertmanager tests: built straight from ``sloctl.model`` so
that these tests do not depend on the spec loaders. The SLIs read the metrics of docs/metrics.md,
which ``synthetic.py`` backfills for the data smoke test."""

from __future__ import annotations

from dataclasses import replace

from sloctl import contract
from sloctl.model import (
    SLI,
    SLO,
    Alerting,
    AlertTier,
    AlertWindows,
    BurnWindow,
    EventsSLI,
    LatencySLI,
    ProbeSLI,
    RatioSLI,
    RawSLI,
    SeverityAlert,
    labels,
)

DAY = 86400
HOUR = 3600


def catalog(period: int = 30 * DAY) -> AlertWindows:
    """The Google SRE Workbook's multi-window multi-burn-rate tiers (Sloth's defaults)."""
    return AlertWindows(
        period=period,
        windows=(
            BurnWindow("page", "quick", 2, 5 * 60, HOUR),
            BurnWindow("page", "slow", 5, 30 * 60, 6 * HOUR),
            BurnWindow("ticket", "quick", 10, 2 * HOUR, DAY),
            BurnWindow("ticket", "slow", 10, 6 * HOUR, 3 * DAY),
        ),
        source="tests",
    )


def make_slo(
    service: str,
    name: str,
    sli: SLI,
    *,
    objective: float = 99.9,
    period: int = 30 * DAY,
    page: bool = True,
    ticket: bool = True,
    runbook: str | None = "https://runbooks.example.com/slo",
    slo_labels: dict[str, str] | None = None,
) -> SLO:
    windows = catalog(period)
    tiers = tuple(AlertTier(w) for w in windows.windows)
    return SLO(
        service=service,
        name=name,
        objective=objective,
        period=period,
        sli=sli,
        alerting=Alerting(
            name=f"{name.title().replace('-', '')}SLOBurn",
            labels=labels({"team": "platform"}),
            runbook_url=runbook,
            page=SeverityAlert(enabled=page, labels=labels({"routing": "pagerduty"})),
            ticket=SeverityAlert(enabled=ticket, labels=labels({"routing": "tickets"})),
            tiers=tiers,
        ),
        windows=windows,
        description=f"{service} {name}",
        labels=labels(slo_labels or {"tier": "1"}),
    )


API_ERRORS = f'sum(rate({contract.API_REQUESTS.name}{{code=~"5..",dependency="postgres"}}[{{{{.window}}}}]))'
API_TOTAL = f'sum(rate({contract.API_REQUESTS.name}{{dependency="postgres"}}[{{{{.window}}}}]))'


def representative_slos() -> list[SLO]:
    """Every SLI kind, three services, some tiers or severities disabled, a 28d and a 7d period."""
    api_availability = make_slo("platform-api", "availability", EventsSLI(API_ERRORS, API_TOTAL))
    api_latency = make_slo(
        "platform-api",
        "latency",
        LatencySLI(
            contract.API_DURATION.name,
            '{route="/v1/projects",method="GET"}',
            0.2,
            labels({"route": "/v1/projects", "method": "GET"}),
        ),
        objective=99.0,
        period=28 * DAY,
    )
    provisioning = make_slo(
        "provisioning",
        "provision-success",
        RatioSLI(
            f'sum(rate({contract.API_OPERATIONS.name}{{operation="provision_database",outcome="success"}}[{{{{.window}}}}]))',
            f'sum(rate({contract.API_OPERATIONS.name}{{operation="provision_database"}}[{{{{.window}}}}]))',
        ),
        objective=99.5,
        ticket=False,
    )
    backups = make_slo(
        "provisioning",
        "backup-success",
        RawSLI(
            f'sum(rate({contract.API_OPERATIONS.name}{{operation="backup",outcome="failure"}}[{{{{.window}}}}]))'
            f' / sum(rate({contract.API_OPERATIONS.name}{{operation="backup"}}[{{{{.window}}}}]))'
        ),
        page=False,
        runbook=None,
    )
    probe = make_slo(
        "databases",
        "postgres-probe",
        ProbeSLI('{target="pg-main"}', labels({"target": "pg-main"})),
        objective=99.5,
        period=7 * DAY,
    )
    no_alerts = make_slo(
        "databases",
        "redis-probe",
        ProbeSLI('{target="redis-main"}', labels({"target": "redis-main"})),
        page=False,
        ticket=False,
    )
    one_tier_off = replace(
        api_availability,
        name="availability-no-slow",
        alerting=replace(
            api_availability.alerting,
            name="AvailabilityNoSlowSLOBurn",
            tiers=tuple(replace(t, enabled=t.name != "page_slow") for t in api_availability.alerting.tiers),
        ),
    )
    return [api_availability, api_latency, provisioning, backups, probe, no_alerts, one_tier_off]


def many_slos(n: int) -> list[SLO]:
    """``n`` SLOs over ``n // 10`` services, for the speed benchmark."""
    base = representative_slos()
    return [
        replace(base[i % len(base)], service=f"service-{i // 10:04d}", name=f"slo-{i:05d}") for i in range(n)
    ]


def spec_slos() -> list[SLO]:
    """The SLOs of ``slos/`` and of the Sloth fixtures' valid input specs, loaded with
    ``sloctl.spec.load_paths``, one per SLO id (several fixtures hold the same SLOs)."""
    from pathlib import Path

    from sloctl.spec import load_paths

    root = Path(__file__).resolve().parents[2]
    sloth = root.parent / "shared" / "fixtures" / "sloth" / "testdata"
    paths = sorted(p for p in sloth.glob("in-*.yaml") if "invalid" not in p.name)
    paths += sorted((root / "slos").glob("**/*.y*ml"))
    seen: dict[str, SLO] = {}
    for path in paths:
        for slo in load_paths([path]).slos:
            seen.setdefault(slo.id, slo)
    return list(seen.values())


def all_test_slos() -> list[SLO]:
    """The representative set plus the spec SLOs, unique by id."""
    out = {s.id: s for s in representative_slos()}
    for slo in spec_slos():
        out.setdefault(slo.id, slo)
    return list(out.values())

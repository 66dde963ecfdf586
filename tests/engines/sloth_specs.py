"""Seeded random Sloth inputs for the live-oracle test: ``prometheus/v1`` files and
``PrometheusServiceLevel`` objects with events and raw SLIs, labels and annotations at every
level, disabled severities, and the run's flags (period, windows catalog, disabled alerts or
recordings, extra labels). Everything generated is valid for Sloth v0.16."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import yaml

from tests.fixtures.sloth import Flags

_NAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789"
_LABEL_START = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"
_LABEL_REST = _LABEL_START + "0123456789"
# Label and annotation values: spaces, quotes, backslashes, template-looking text, non-ASCII.
_VALUE_PARTS = (
    "api", "team-a", "v1.2", "with space", 'quote"d', "back\\slash", "ünïcödé", "日本", "50%",
    "{{ $labels.job }}", "https://runbooks.example.com/x?y=1&z=2", "a:b", "x=y", "#hash",
)  # fmt: skip
_OBJECTIVES = (90.0, 95.0, 98.5, 99.0, 99.5, 99.9, 99.95, 99.99, 99.999)


@dataclass
class Case:
    name: str
    text: str
    flags: Flags
    catalog: str | None = None
    """The windows catalog text the run needs (``flags.windows`` names it)."""
    notes: list[str] = field(default_factory=list)


def _name(rng: random.Random, n: int = 8) -> str:
    body = "".join(rng.choice(_NAME_CHARS + "-_.") for _ in range(rng.randint(0, n)))
    return rng.choice(_NAME_CHARS[:26]) + body + rng.choice(_NAME_CHARS)


def _label_name(rng: random.Random) -> str:
    while True:
        n = rng.choice(_LABEL_START) + "".join(rng.choice(_LABEL_REST) for _ in range(rng.randint(0, 10)))
        if not n.startswith("__") and not n.startswith("sloth_"):
            return n


def _labels(rng: random.Random, most: int = 3) -> dict[str, str]:
    return {
        _label_name(rng): rng.choice(_VALUE_PARTS) + rng.choice(("", "-1", " x"))
        for _ in range(rng.randint(0, most))
    }


def _selector(rng: random.Random) -> str:
    parts = [f'{_label_name(rng).lower()}="{_name(rng, 5)}"' for _ in range(rng.randint(0, 2))]
    return "{" + ",".join(parts) + "}" if parts else ""


def _sli(rng: random.Random, camel: bool) -> dict[str, object]:
    metric = f"{_name(rng, 6).replace('-', '_').replace('.', '_')}_total"
    sel = _selector(rng)
    window = rng.choice(("{{.window}}", "{{ .window }}"))
    err_sel = sel[:-1] + ',code=~"5.."}' if sel else '{code=~"5.."}'
    if rng.random() < 0.7:
        key_e, key_t = ("errorQuery", "totalQuery") if camel else ("error_query", "total_query")
        return {
            "events": {
                key_e: f"sum(rate({metric}{err_sel}[{window}]))",
                key_t: f"sum(rate({metric}{sel}[{window}]))",
            }
        }
    key = "errorRatioQuery" if camel else "error_ratio_query"
    return {
        "raw": {
            key: f"sum(rate({metric}{err_sel}[{window}]))\n/\nsum(rate({metric}{sel}[{window}]))\n",
        }
    }


def _alert(rng: random.Random) -> dict[str, object]:
    out: dict[str, object] = {}
    if rng.random() < 0.2:
        out["disable"] = True
    if labels := _labels(rng, 2):
        out["labels"] = labels
    if annotations := _labels(rng, 2):
        out["annotations"] = annotations
    return out


def _slo(rng: random.Random, camel: bool, used: set[str]) -> dict[str, object]:
    name = _name(rng)
    while name in used:
        name = _name(rng)
    used.add(name)
    # Below 99.95 so that rounding never gives 100: Sloth accepts 100 (no budget), sloctl rejects
    # it on purpose (docs/spec.md).
    objective = (
        rng.choice(_OBJECTIVES) if rng.random() < 0.6 else round(rng.uniform(80, 99.9), rng.randint(1, 3))
    )
    slo: dict[str, object] = {"name": name, "objective": objective}
    if rng.random() < 0.5:
        slo["description"] = rng.choice(_VALUE_PARTS) + " SLO"
    if labels := _labels(rng):
        slo["labels"] = labels
    slo["sli"] = _sli(rng, camel)
    alerting: dict[str, object] = {}
    if rng.random() < 0.85:
        alerting["name"] = "".join(
            rng.choice("ABCDEFGHIJ") + _name(rng, 4).replace("-", "").replace(".", "") for _ in range(2)
        )
    for key in ("labels", "annotations"):
        if (values := _labels(rng, 2)) and rng.random() < 0.6:
            alerting[key] = values
    for key in ("pageAlert", "ticketAlert") if camel else ("page_alert", "ticket_alert"):
        if rng.random() < 0.6:
            alerting[key] = _alert(rng)
    if not alerting.get("name"):
        # Sloth requires a name unless both severities are disabled.
        alerting["name"] = "SloAlert"
    slo["alerting"] = alerting
    return slo


def _catalog(rng: random.Random) -> tuple[str, str]:
    """A valid ``AlertWindows`` catalog for a random period: (period, text)."""
    days = rng.choice((7, 14, 21, 60, 90))
    hour = 3600

    def w(pct: float, short: int, long: int) -> dict[str, object]:
        return {"errorBudgetPercent": pct, "shortWindow": f"{short}m", "longWindow": f"{long}h"}

    long_quick = rng.choice((1, 2))
    spec = {
        "sloPeriod": f"{days}d",
        "page": {
            "quick": w(rng.choice((2, 4, 8)), 5, long_quick),
            "slow": w(rng.choice((5, 10, 12.5)), 30, 6),
        },
        "ticket": {
            "quick": w(rng.choice((10, 20)), 120, 24),
            "slow": w(rng.choice((10, 42)), 360, 72),
        },
    }
    assert long_quick * hour < days * 86400
    doc = {"apiVersion": "sloth.slok.dev/v1", "kind": "AlertWindows", "spec": spec}
    return f"{days}d", yaml.safe_dump(doc, sort_keys=False)


def random_case(seed: int) -> Case:
    rng = random.Random(seed)
    camel = rng.random() < 0.25
    used: set[str] = set()
    slos = [_slo(rng, camel, used) for _ in range(rng.randint(1, 3))]
    service = _name(rng)
    if camel:
        spec: dict[str, object] = {"service": service}
        if labels := _labels(rng):
            spec["labels"] = labels
        spec["slos"] = slos
        doc: dict[str, object] = {
            "apiVersion": "sloth.slok.dev/v1",
            "kind": "PrometheusServiceLevel",
            "metadata": {"name": _name(rng), "namespace": _name(rng, 4)},
            "spec": spec,
        }
    else:
        doc = {"version": "prometheus/v1", "service": service}
        if labels := _labels(rng):
            doc["labels"] = labels
        doc["slos"] = slos
    catalog = None
    period = rng.choice(("30d", "30d", "28d"))
    windows = None
    if rng.random() < 0.2:
        period, catalog = _catalog(rng)
        windows = f"{period}.yaml"
    flags = Flags(
        period=period,
        windows=windows,
        disable_alerts=rng.random() < 0.1,
        disable_recordings=rng.random() < 0.1,
        extra_labels=tuple(sorted(_labels(rng, 2).items())) if rng.random() < 0.25 else (),
    )
    if flags.disable_alerts and flags.disable_recordings:
        flags = Flags(flags.period, flags.windows, True, False, flags.extra_labels)
    return Case(
        f"random-{seed:04d}", yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), flags, catalog
    )

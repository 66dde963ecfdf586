"""The sloctl collector: probes of PostgreSQL (direct and through PgBouncer), Redis, MongoDB and
the HTTP API, exported as the Prometheus series of ``docs/metrics.md`` and as OTLP traces.

Importing ``sloctl`` never imports this package; it needs the ``collector`` extra.
"""

from sloctl.collector.app import Collector, run_from_path
from sloctl.collector.config import (
    CollectorConfig,
    load_config,
    load_config_text,
    resolve_secrets,
)
from sloctl.contract import Phase, Reason

__all__ = [
    "Collector",
    "CollectorConfig",
    "Phase",
    "Reason",
    "load_config",
    "load_config_text",
    "resolve_secrets",
    "run_from_path",
]

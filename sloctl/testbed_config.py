"""``sloctl testbed up --write-config DIR``: everything the rest of the toolkit needs to reach a
running testbed, written once instead of seven hand edits.

DIR receives:

- ``secrets/`` — one file per password (0600): PostgreSQL's app role, PgBouncer's admin
  console, Redis;
- ``collector.yaml`` — the collector's targets (its databases and its API) on the testbed's
  ports, passwords as ``{file: …}`` references to ``secrets/``;
- ``prometheus.yml`` with ``targets/platform-api.json`` and ``targets/sloctl-collector.json``
  — a Prometheus configuration that scrapes the API and the collector through file-based
  service discovery (the shipped ``collector/prometheus.yml`` is the same file with the rules
  of the repository: ports live only in the target files) and loads the generated rules;
- ``targets.json`` — the configuration of ``sloctl gameday run --config`` (0600: its
  connection strings carry passwords);
- ``testbed.env`` — ``SLOCTL_API_URL`` and the other addresses for a shell or a CI job
  (``sloctl loadtest --host "$SLOCTL_API_URL"``), no password in it.

The terminal only ever shows addresses without credentials.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from sloctl import naming
from sloctl.contract import LIVENESS_PATH, METRICS_PATH, PROJECTS_PATH
from sloctl.files import write_text
from sloctl.testbed_runner import Testbed

__all__ = ["JOBS", "collector_config", "file_sd", "prometheus_config", "write_config"]


def collector_config(testbed: Testbed, secrets: Path, listen: str) -> dict[str, Any]:
    """The collector's configuration for ``testbed``; passwords read from files in ``secrets``."""
    pg, pgb, rd, mg, api = testbed.postgres, testbed.pgbouncer, testbed.redis, testbed.mongodb, testbed.api

    def database() -> dict[str, Any]:
        # A new mapping for each target: one shared would be written as a YAML anchor and alias.
        password = {"file": str(secrets / "postgres-password")}
        return {"user": pg.user, "database": pg.database, "password": password, "canary": True}

    return {
        "apiVersion": naming.API_VERSION,
        "kind": "CollectorConfig",
        "listen": listen,
        "serviceName": "sloctl-collector",
        "defaults": {"interval": "10s", "timeout": "5s", "connections": ["cold", "warm"]},
        "targets": [
            {"name": "postgres", "kind": "postgres", "host": pg.host, "port": pg.port, **database()},
            {
                "name": "pgbouncer",
                "kind": "pgbouncer",
                "host": pgb.host,
                "port": pgb.port,
                **database(),
                "adminUser": pgb.admin_user,
                "adminPassword": {"file": str(secrets / "pgbouncer-admin-password")},
            },
            {
                "name": "redis",
                "kind": "redis",
                "host": rd.host,
                "port": rd.port,
                "password": {"file": str(secrets / "redis-password")},
                "canary": True,
            },
            {
                "name": "mongodb",
                "kind": "mongodb",
                "host": mg.host,
                "port": mg.port,
                "database": "sloctl",
                "canary": True,
            },
            {"name": "api-projects", "kind": "http", "url": f"{api.url}{PROJECTS_PATH}?limit=10"},
            {
                "name": "api-health",
                "kind": "http",
                "url": f"{api.url}{LIVENESS_PATH}",
                "interval": "5s",
                "timeout": "2s",
            },
        ],
    }


#: the jobs Prometheus scrapes on a testbed
JOBS = ("platform-api", "sloctl-collector")


def prometheus_config(rule_files: str, *, interval: str = "15s", jobs: Sequence[str] = JOBS) -> str:
    """A Prometheus configuration scraping ``jobs`` (the platform API and the sloctl
    collector), whose addresses come from ``targets/<job>.json`` beside it
    (:func:`file_sd`), and loading ``rule_files`` (a glob); scrapes and rule evaluations every
    ``interval`` (a game-day rig: 1 s)."""
    scrape = "".join(
        f"  - job_name: {job}\n"
        f"    file_sd_configs:\n"
        f"      - files: [targets/{job}.json]\n"
        f"        refresh_interval: 30s\n"
        for job in jobs
    )
    return (
        "# Prometheus for the testbed: scrapes the platform API and the sloctl collector and loads\n"
        "# the rules `sloctl generate` writes. Addresses live in targets/*.json beside this file\n"
        "# (`sloctl testbed up --write-config DIR` writes them), never here.\n"
        f"global:\n  scrape_interval: {interval}\n  evaluation_interval: {interval}\n"
        "  external_labels:\n    environment: testbed\n"
        # JSON's string is a YAML double-quoted scalar: a path with ": ", " #" or a quote stays one
        f"rule_files:\n  - {json.dumps(rule_files)}\n"
        f"scrape_configs:\n{scrape}"
    )


def file_sd(address: str, service: str) -> str:
    """A ``targets/<job>.json`` file for :func:`prometheus_config`: one ``host:port``."""
    return json.dumps([{"targets": [address], "labels": {"service": service}}], indent=2) + "\n"


def write_config(testbed: Testbed, out: Path, *, rules: Path, collector_listen: str) -> list[Path]:
    """Write the files of the module docstring into ``out``; the paths written, in order."""
    secrets = out.resolve() / "secrets"
    files: dict[Path, tuple[str, bool]] = {
        secrets / "postgres-password": (testbed.postgres.password + "\n", True),
        secrets / "pgbouncer-admin-password": (testbed.pgbouncer.admin_password + "\n", True),
        secrets / "redis-password": (testbed.redis.password + "\n", True),
        # {tier: API key}, for the game day's tier-isolation check and any client of a tier
        secrets / "api-keys.json": (json.dumps(testbed.api.api_keys, indent=2) + "\n", True),
    }
    collector = collector_config(testbed, secrets, collector_listen)
    files[out / "collector.yaml"] = (yaml.safe_dump(collector, sort_keys=False), False)
    files[out / "prometheus.yml"] = (prometheus_config(str(rules.resolve() / "*.yml")), False)
    api = testbed.api.url.split("://", 1)[1]
    files[out / "targets" / "platform-api.json"] = (file_sd(api, "platform-api"), False)
    files[out / "targets" / "sloctl-collector.json"] = (file_sd(collector_listen, "sloctl-collector"), False)
    targets = {
        "api_url": testbed.api.url,
        "metrics_url": f"{testbed.api.url}{METRICS_PATH}",
        "postgres_admin_dsn": testbed.postgres.admin_dsn,
        "pgbouncer_dsn": testbed.pgbouncer.dsn,
        "pgbouncer_admin_dsn": testbed.pgbouncer.admin_dsn,
        "redis_url": testbed.redis.url,
        "mongodb_uri": testbed.mongodb.uri,
        "api_keys_file": str(secrets / "api-keys.json"),
    }
    files[out / "targets.json"] = (json.dumps(targets, indent=2) + "\n", True)
    env = {"SLOCTL_API_URL": testbed.api.url, "SLOCTL_COLLECTOR_LISTEN": collector_listen}
    env |= {f"SLOCTL_{k.upper()}": v for k, v in testbed.urls().items() if k not in ("api", "metrics")}
    files[out / "testbed.env"] = ("".join(f"{k}={v}\n" for k, v in env.items()), False)
    for path, (text, private) in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(path, text, private=private)
    if secrets.is_dir():
        secrets.chmod(0o700)
    return list(files)

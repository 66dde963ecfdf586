"""The shipped configs: collector/otelcol.yaml structurally (the real collector runs it in
test_otelcol.py), collector/prometheus.yml with promtool, and the CLI around
collector/targets.yaml."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from sloctl.testbed_config import prometheus_config as render_prometheus_config
from tests.fixtures.cli import run_sloctl

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def otelcol() -> dict[str, Any]:
    doc = yaml.safe_load((ROOT / "collector" / "otelcol.yaml").read_text())
    assert isinstance(doc, dict)
    return doc


def _base(name: str) -> str:
    return name.split("/", 1)[0]


def test_otelcol_has_the_components_the_plan_asks_for(otelcol: dict[str, Any]) -> None:
    receivers = otelcol["receivers"]
    assert isinstance(receivers, dict)
    assert set(receivers["otlp"]["protocols"]) == {"grpc", "http"}
    assert {"memory_limiter", "tail_sampling", "batch"} <= set(otelcol["processors"])
    # The collector's current names (0.144+): otlp_grpc and otlp_http, not otlp and otlphttp;
    # logs go out as OTLP (contrib's loki exporter is gone).
    assert {_base(e) for e in otelcol["exporters"]} == {"otlp_grpc", "prometheus_remote_write", "otlp_http"}


def test_otelcol_pipelines_reference_only_defined_components_in_a_sane_order(
    otelcol: dict[str, Any],
) -> None:
    service = otelcol["service"]
    pipelines = service["pipelines"]
    assert set(pipelines) == {"traces", "metrics", "logs"}
    for name, p in pipelines.items():
        for kind in ("receivers", "processors", "exporters"):
            for component in p[kind]:
                assert component in otelcol[kind], f"{name}: {component} is not defined under {kind}"
        assert p["processors"][0] == "memory_limiter", f"{name}: memory_limiter must come first"
        assert p["processors"][-1] == "batch", f"{name}: batch must come last"
    assert "tail_sampling" in pipelines["traces"]["processors"]
    assert pipelines["traces"]["exporters"] == ["otlp_grpc/traces"]
    assert pipelines["metrics"]["exporters"] == ["prometheus_remote_write"]
    assert pipelines["logs"]["exporters"] == ["otlp_http/logs"]
    for ext in service.get("extensions", []):
        assert ext in otelcol["extensions"]


def test_tail_sampling_keeps_every_error_trace_and_ten_percent_of_the_rest(
    otelcol: dict[str, Any],
) -> None:
    policies = otelcol["processors"]["tail_sampling"]["policies"]
    assert len(policies) == 2
    by_type = {p["type"]: p for p in policies}
    assert by_type["status_code"]["status_code"]["status_codes"] == ["ERROR"]
    assert by_type["probabilistic"]["probabilistic"]["sampling_percentage"] == 10
    # Policies are OR-ed: a trace is kept when any policy samples it. So errors are 100 %.
    limiter = otelcol["processors"]["memory_limiter"]
    assert limiter["limit_mib"] > limiter["spike_limit_mib"] > 0


@pytest.mark.promtool
def test_prometheus_config_passes_promtool() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian package prometheus)")
    done = subprocess.run(
        [promtool, "check", "config", "--syntax-only", str(ROOT / "collector" / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    doc = yaml.safe_load((ROOT / "collector" / "prometheus.yml").read_text())
    assert doc["rule_files"] == ["../rules/*.yml"]
    jobs = {j["job_name"] for j in doc["scrape_configs"]}
    assert jobs == {"sloctl-collector", "platform-api"}
    # One source with `sloctl testbed up --write-config`, and no port: the addresses live in the
    # target files that command writes.
    text = (ROOT / "collector" / "prometheus.yml").read_text()
    assert text == render_prometheus_config("../rules/*.yml")
    assert "127.0.0.1" not in text


def _sloctl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``sloctl`` in the repository, with ``env`` added to this environment."""
    return run_sloctl(*args, cwd=ROOT, env={**os.environ, **(env or {})}, timeout=60)


def test_cli_check_accepts_the_shipped_targets_when_passwords_are_set() -> None:
    env = {"SLOCTL_PG_PASSWORD": "x", "SLOCTL_PGBOUNCER_ADMIN_PASSWORD": "y", "SLOCTL_REDIS_PASSWORD": "z"}
    done = _sloctl("collector", "check", "--config", "collector/targets.yaml", env=env)
    assert done.returncode == 0, done.stderr
    assert "7 targets OK" in done.stdout


def test_cli_reports_a_bad_config_with_its_location_and_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: sloctl/v1\nkind: CollectorConfig\ntargets:\n  - {name: a, kind: nope}\n")
    done = _sloctl("collector", "run", "--config", str(bad))
    assert done.returncode == 1
    # Printed as SLO file errors are: each at file:line:column, then their count.
    assert f"error: {bad}:4:21: targets[0].kind: kind 'nope' is not one of" in done.stderr, done.stderr
    assert done.stderr.endswith("1 error(s) in 1 file(s)\n") and "Traceback" not in done.stderr
    missing = _sloctl("collector", "run", "--config", str(tmp_path / "absent.yaml"))
    assert missing.returncode == 1
    absent = tmp_path / "absent.yaml"
    assert f"error: {absent}:1:1: no such file or directory" in missing.stderr, missing.stderr


def test_cli_check_names_a_bad_url_and_a_missing_ca_file_at_their_keys(tmp_path: Path) -> None:
    """A port out of range was a ValueError traceback; a CA file was first read by the probes."""
    head = "apiVersion: sloctl/v1\nkind: CollectorConfig\ntargets:\n"
    bad = tmp_path / "bad.yaml"
    bad.write_text(head + "  - {name: api, kind: http, url: 'http://127.0.0.1:99999/'}\n")
    done = _sloctl("collector", "check", "--config", str(bad))
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"error: {bad}:4:29: targets[0].url: 'http://127.0.0.1:99999/' is not a valid URL" in done.stderr
    bad.write_text(
        head + "  - {name: api, kind: http, url: 'https://127.0.0.1/', tls: {caFile: /nonexistent.pem}}\n"
    )
    done = _sloctl("collector", "check", "--config", str(bad))
    assert done.returncode == 1 and "targets OK" not in done.stdout, done.stdout
    assert (
        f"error: {bad}:4:62: targets[0].tls.caFile: cannot load CA file /nonexistent.pem: No such file"
        in done.stderr
    ), done.stderr


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (b"\xff\xfe\x00garbage", ":1:1: file is binary (NUL bytes), not YAML"),
        (b"a: caf\xe9\n", ":1:1: file is not valid UTF-8"),
    ],
)
def test_a_config_that_is_not_utf8_text_is_said_so_without_a_traceback(
    data: bytes, said: str, tmp_path: Path
) -> None:
    """The file was decoded before the spec reader's checks: a UnicodeDecodeError traceback."""
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(data)
    done = _sloctl("collector", "check", "--config", str(bad))
    assert done.returncode == 1
    assert f"{bad}{said}" in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_importing_sloctl_does_not_import_collector_dependencies() -> None:
    code = (
        "import sys, sloctl, sloctl.cli.main, sloctl.cli.collector;"
        "heavy = ('psycopg', 'pymongo', 'httpx', 'prometheus_client', 'opentelemetry', 'sloctl.collector');"
        "bad = [m for m in heavy if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_run_reports_every_mistake_at_once_as_check_does(tmp_path: Path) -> None:
    """`run` stopped at the first kind of mistake (the file, then its secrets, then its CA files,
    then where it listens): a missing secret and a missing CA file took two attempts to see."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: sloctl/v1\nkind: CollectorConfig\nlisten: nowhere.invalid:9465\ntargets:\n"
        "  - {name: cache, kind: redis, password: {env: SLOCTL_TEST_NEVER_SET}}\n"
        "  - {name: api, kind: http, url: 'https://127.0.0.1/', tls: {caFile: /nonexistent.pem}}\n"
    )
    done = _sloctl("collector", "run", "--config", str(bad))
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    said = [line.split(": ", 3)[2] for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert said == ["listen", "targets[0].password.env", "targets[1].tls.caFile"], done.stderr

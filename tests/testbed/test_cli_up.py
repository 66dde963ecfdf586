"""``sloctl testbed up`` starts everything on loopback and stops everything on SIGTERM; with
``--write-config DIR`` it wires the rest of the toolkit to it (collector targets, a Prometheus
configuration a real Prometheus scrapes the API with, the game-day targets) and never prints a
password."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest

from sloctl.chaos.probes import prometheus_query
from sloctl.cli.main import main
from sloctl.collector.config import load_config
from sloctl.contract import TIERS
from sloctl.servers.prometheus import start_prometheus
from tests.fixtures.cli import SLOCTL, printed_addresses
from tests.paths import ROOT
from tests.waiting import wait_until

pytestmark = [pytest.mark.servers, pytest.mark.slow, pytest.mark.waits]


def listening(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def test_testbed_up_serves_the_api_and_stops_every_server_on_sigterm(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            *SLOCTL,
            "testbed",
            "up",
            "--workdir",
            str(tmp_path),
            "--for",
            "120s",
            "--write-config",
            str(tmp_path / "config"),
            "--rules",
            str(ROOT / "rules"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        urls = printed_addresses(proc, last="config")
        printed = [f"{name} {address}" for name, address in urls.items()]
        assert set(urls) == {"api", "metrics", "postgres", "pgbouncer", "redis", "mongodb", "config"}
        config = Path(urls.pop("config"))
        for url in urls.values():
            assert urlsplit(url if "://" in url else f"tcp://{url}").hostname == "127.0.0.1"
        _assert_config_wires_the_testbed(config, urls["api"], tmp_path / "prometheus")
        r = httpx.post(f"{urls['api']}/v1/documents", json={"hello": "world"}, timeout=10)
        assert r.status_code == 201
        assert httpx.get(f"{urls['api']}/v1/projects", timeout=10).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "stopping" in err
    secrets = [p.read_text().strip() for p in (config / "secrets").iterdir() if p.suffix != ".json"]
    secrets += json.loads((config / "secrets" / "api-keys.json").read_text()).values()
    assert len(secrets) == 3 + len(TIERS)
    assert not any(secret in "".join(printed) + out + err for secret in secrets)
    for url in urls.values():
        parts = urlsplit(url if "://" in url else f"tcp://{url}")
        assert parts.hostname and parts.port
        assert not listening(parts.hostname, parts.port), url


def test_testbed_up_passes_its_backup_flags_to_the_api_it_starts(tmp_path: Path) -> None:
    """--backup-workers, --backup-queue and --backup-timeout, seen from the API: two dumps of a
    locked table run at once, one more waits, the next is refused naming the queue's size, and
    the stuck dumps fail after 2 s (the API's defaults: 1 dump, 16 waiting, 60 s)."""
    flags = ["--backup-workers", "2", "--backup-queue", "1", "--backup-timeout", "2"]
    argv = [*SLOCTL, "testbed", "up", "--workdir", str(tmp_path), "--for", "120s", *flags]
    argv += ["--write-config", str(tmp_path / "config"), "--rules", str(ROOT / "rules")]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        urls = printed_addresses(proc, last="config")
        targets = json.loads((Path(urls["config"]) / "targets.json").read_text())
        with httpx.Client(base_url=urls["api"], timeout=10) as api:
            project = api.post("/v1/projects", json={"name": "backup_flags"}).json()
            path = f"/v1/projects/{project['id']}/backups"
            with psycopg.connect(targets["postgres_admin_dsn"]) as locker:
                # pg_dump waits for its share lock behind this one: every dump is stuck
                locker.execute(f"LOCK TABLE {project['schema']}.items IN ACCESS EXCLUSIVE MODE")
                running = [api.post(path).headers["Location"] for _ in range(2)]
                wait_until(
                    lambda: all(api.get(job).json()["status"] == "running" for job in running),
                    timeout=10,
                    what="two dumps running at once",
                )
                waiting = api.post(path)
                assert (
                    waiting.status_code == 202
                    and api.get(waiting.headers["Location"]).json()["status"] == "pending"
                )
                refused = api.post(path)
                assert refused.status_code == 503 and "1 backups are already waiting" in refused.text, (
                    refused.text
                )
                began = time.monotonic()
                jobs = [
                    wait_until(partial(_ended, api, j), timeout=30, what=f"the end of {j}") for j in running
                ]
                assert time.monotonic() - began < 10
                assert [(j["status"], j["error"]) for j in jobs] == [("failed", "pg_dump timed out")] * 2
                locker.rollback()
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err


def _ended(api: httpx.Client, location: str) -> dict[str, object] | None:
    job: dict[str, object] = api.get(location).json()
    return job if job["status"] in ("done", "failed", "cancelled") else None


def _assert_config_wires_the_testbed(config: Path, api: str, workdir: Path) -> None:
    for private in [*(config / "secrets").iterdir(), config / "targets.json"]:
        assert stat.S_IMODE(private.stat().st_mode) == 0o600, private
    collector = load_config(config / "collector.yaml")
    # Written out in full, as a person would: no anchor and alias standing for a shared password.
    assert not re.search(r"[&*]id\d", (config / "collector.yaml").read_text())
    assert {t.name for t in collector.targets} >= {"postgres", "pgbouncer", "redis", "mongodb"}
    # The four databases' write canaries on (MongoDB's was left off).
    assert {t.name for t in collector.targets if t.canary} == {"postgres", "pgbouncer", "redis", "mongodb"}
    targets = json.loads((config / "targets.json").read_text())
    assert targets["api_url"] == api
    # The game days' api_keys_file: a key of each tier, which the API knows as that tier.
    keys = json.loads(Path(targets["api_keys_file"]).read_text())
    assert sorted(keys) == sorted(t.name for t in TIERS)
    answer = httpx.get(f"{api}/v1/projects", headers={"Authorization": f"Bearer {keys['pro']}"}, timeout=10)
    assert answer.status_code == 200 and answer.headers["RateLimit-Policy"].startswith('"pro"')
    assert f"SLOCTL_API_URL={api}\n" in (config / "testbed.env").read_text()
    # A real Prometheus on the written configuration: the generated rules load, the API is up.
    prometheus_yml = (config / "prometheus.yml").read_text()
    assert f'  - "{ROOT / "rules"}/*.yml"\n' in prometheus_yml
    shutil.copytree(config, workdir)
    with start_prometheus(workdir, config_text=prometheus_yml.replace("15s", "1s")) as prometheus:
        wait_until(
            lambda: prometheus_query(prometheus.url, 'up{job="platform-api"}') == 1,
            timeout=30,
            what="Prometheus to scrape the API (up == 1)",
            interval=0.5,
        )
        rules = httpx.get(f"{prometheus.url}/api/v1/rules", timeout=10).json()["data"]["groups"]
        assert any(g["name"] == "sloctl-platform-api-availability" for g in rules)


def _refused(tmp_path: Path, *flags: str) -> None:
    """``testbed up --write-config`` with ``flags`` exits 2 having made nothing. (``--for``: were
    it not refused, a started testbed would stop by itself and the test fail fast.)"""
    work, config = tmp_path / "work", tmp_path / "cfg"
    argv = ["testbed", "up", "--for", "5s", "--workdir", str(work), "--write-config", str(config)]
    assert main([*argv, *flags]) == 2
    assert not work.exists() and not config.exists(), "nothing started"


def test_write_config_without_rule_files_is_refused_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Prometheus would take the rule_files glob of an empty folder without a word, and the stack's
    SLO rules would silently be missing."""
    (tmp_path / "empty").mkdir()
    _refused(tmp_path, "--rules", str(tmp_path / "empty"))
    err = capsys.readouterr().err
    assert f"--rules {tmp_path / 'empty'}: no rule files (*.yml) there; run sloctl generate first" in err


@pytest.mark.parametrize("listen", ["10.0.0.1:9465", "localhost:9465", "127.0.0.1:port"])
def test_a_collector_listen_the_collector_would_refuse_is_refused_before_anything_starts(
    listen: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The written collector.yaml would fail `sloctl collector run` later (a name is not resolved:
    no DNS query)."""
    _refused(tmp_path, "--rules", str(ROOT / "rules"), "--collector-listen", listen)
    assert f"--collector-listen {listen}: give a loopback address and port" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--rate-burst", "--backup-workers", "--backup-queue"])
def test_a_bad_testbed_option_leaves_no_work_folder(
    flag: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:  # argparse's refusal: the flag's type
        _refused(tmp_path, "--rules", str(ROOT / "rules"), flag, "0")
    assert exited.value.code == 2
    assert f"argument {flag}: 0: give 1 to " in capsys.readouterr().err
    assert not (tmp_path / "work").exists() and not (tmp_path / "cfg").exists(), "nothing started"


@pytest.mark.parametrize(
    ("flag", "value", "most"),
    [
        ("--rate-limit", "0", "1,000,000"),
        ("--breaker-open-seconds", "nan", "604,800"),
        ("--backup-timeout", "-1", "3,600"),
    ],
)
def test_a_rate_or_time_that_is_not_a_finite_positive_number_is_refused(
    flag: str, value: str, most: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["testbed", "up", "--for", "5s", "--workdir", str(tmp_path / "work"), flag, value])
    assert exited.value.code == 2
    assert f"argument {flag}: {value}: give a number above 0 and at most {most} (" in capsys.readouterr().err
    assert not (tmp_path / "work").exists()


def test_a_temporary_work_folder_goes_after_a_clean_stop_and_stays_after_a_failure() -> None:
    """Without --workdir every run left its databases in /tmp (56 MB a testbed)."""
    # TMPDIR a folder PostgreSQL's user can traverse (pytest's tmp_path is 0700 down the tree)
    base = Path(tempfile.mkdtemp(prefix="sloctl-test-tmpdir-"))
    base.chmod(0o711)
    env = {**os.environ, "TMPDIR": str(base)}
    up = [*SLOCTL, "testbed", "up", "--for", "2s"]
    try:
        done = subprocess.run(up, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert f"starting in {base}" in done.stderr
        assert not list(base.glob("sloctl-testbed-*")), "removed after a clean stop"
        with socket.socket() as taken:  # the API's port in use: the start fails
            taken.bind(("127.0.0.1", 0))
            taken.listen(1)
            port = str(taken.getsockname()[1])
            failed = subprocess.run(
                [*up, "--port", port], env=env, capture_output=True, text=True, timeout=120
            )
        assert failed.returncode == 1, failed.stderr
        (kept,) = base.glob("sloctl-testbed-*")
        assert f"sloctl testbed: data and logs kept in {kept}" in failed.stderr
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_a_server_that_cannot_be_stopped_is_said_and_every_other_one_is_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A stop that raises (the API's, first in line) is named on stderr with exit code 1, and
    the databases after it are stopped all the same: each stop was silently swallowed before."""
    from sloctl.testbed_runner import ApiServer

    stop = ApiServer.stop

    def broken(self: ApiServer) -> None:
        stop(self)
        raise RuntimeError("a stop that went wrong")

    monkeypatch.setattr(ApiServer, "stop", broken)
    code = main(["testbed", "up", "--workdir", str(tmp_path), "--for", "1s"])
    captured = capsys.readouterr()
    assert code == 1, captured.err
    assert "sloctl testbed: could not stop platform-api: RuntimeError: a stop that went wrong" in captured.err
    addresses = dict(line.split() for line in captured.out.splitlines())
    for name in ("postgres", "pgbouncer", "redis", "mongodb"):
        host, port = addresses[name].rsplit(":", 1)
        assert not listening(host, int(port)), f"{name} still listening after the stop"

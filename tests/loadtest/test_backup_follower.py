"""sloctl's Locust users follow each backup they queue to its end, in real runs against a
loopback stub of the backup routes: a backup cancelled by another client is final and no
failure, counted apart from the route the backup SLO's gate judges; the follower's polls carry
``--host``'s basic authentication as the load does. And the test SLOs count backups as the
platform's do."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from sloctl.contract import route
from sloctl.loadtest import RunOptions, run_scenario
from sloctl.loadtest.thresholds import thresholds_from_slos
from sloctl.spec import load_paths
from tests.fixtures.locust_files import real_locust_run
from tests.fixtures.stub_http import Answer, StubRequest, serve
from tests.paths import ROOT

BACKUPS_LOCUST_FILE = """
from locust import constant

from sloctl.loadtest.locustlib import PlatformUser


class Backups(PlatformUser):
    wait_time = constant(0.1)
    tasks = [PlatformUser.backup]
"""

PROJECT = 7
QUEUED = route("createBackup").url(project_id=PROJECT)
JOB = route("getBackup").url(project_id=PROJECT, backup_id=1)
AUTH = "Basic " + base64.b64encode(b"ops:pw-of-staging").decode()


def _cancelled_backups(request: StubRequest) -> Answer:
    """The platform API as far as the backup user reaches it, behind basic authentication:
    one project, whose every backup is cancelled (by somebody else) once queued."""
    if request.headers.get("Authorization") != AUTH:
        return Answer(b'{"title": "unauthorized"}', status=401)
    if request.method == "POST" and request.path == route("createProject").path:
        return Answer(json.dumps({"id": PROJECT}).encode(), status=201)
    if request.method == "POST" and request.path == QUEUED:
        return Answer(b'{"status": "pending"}', status=202, headers=(("Location", JOB),))
    if request.path == JOB:
        return Answer(b'{"status": "cancelled"}', headers=(("Retry-After", "0"),))
    return Answer(b"{}")


@real_locust_run
def test_a_backup_cancelled_by_another_client_is_final_and_counted_apart_not_as_a_failure(
    tmp_path: Path,
) -> None:
    (tmp_path / "backups.py").write_text(BACKUPS_LOCUST_FILE)
    with serve(_cancelled_backups) as stub:
        host = f"http://ops:pw-of-staging@127.0.0.1:{stub.port}"
        options = RunOptions(host=host, duration=5, users=1, max_requests=15)
        stats = run_scenario(tmp_path / "backups.py", options, workdir=tmp_path / "run")
        polls = [r for r in stub.requests if r.path == JOB]
        unauthorized = [r.path for r in stub.requests if r.headers.get("Authorization") != AUTH]
    routes = {r.name: r for r in stats.routes}
    cancelled = routes.get(f"{route('createBackup').path} (cancelled)")
    # Before: each backup was polled 40 times and failed ("backup unfinished").
    assert cancelled is not None and cancelled.num_requests > 0 == cancelled.num_failures, routes
    assert route("createBackup").path not in routes, routes  # what the backup SLO's gate judges
    assert len(polls) == cancelled.num_requests, (len(polls), cancelled)  # one look each: final
    assert unauthorized == [], unauthorized  # the polls too (before: without the credentials)


def test_the_test_slos_count_backups_as_the_platform_s_slo_does() -> None:
    """A cancelled backup is in neither the good nor the total events of slos/platform-jobs.yaml."""

    def backup_queries(path: Path) -> set[tuple[str, str]]:
        loaded = load_paths([path])
        assert loaded.ok, loaded.errors
        return {
            (s.sli.error_query.replace(" ", ""), s.sli.total_query.replace(" ", ""))
            for s in loaded.slos
            if s.sli.kind == "events" and 'operation="backup"' in s.sli.error_query.replace(" ", "")
        }

    fixture = Path(__file__).parent / "slos" / "gates.yaml"
    assert backup_queries(fixture) == backup_queries(ROOT / "slos" / "platform-jobs.yaml")
    gates, _ = thresholds_from_slos(load_paths([fixture]).slos)
    assert "SLO gates-backup" in {g.source for g in gates}

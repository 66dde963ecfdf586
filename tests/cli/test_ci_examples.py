"""The CI examples of docs/examples/ run here as a runner would run them: the YAML is parsed,
each job's shell steps (GitHub Actions ``run:``, GitLab CI ``script:``) run in order with the
workflow's variables, the install steps left out (this machine has what they install). The
service under test starts in the job, the load test passes its SLO gates, a violated gate fails
the step, the game-day suite runs on a rig, and the reports are where the artifact steps upload
them from.

The two files' jobs run the same command lines but one, the line that carries the testbed's
addresses to the load test (``$GITHUB_ENV`` in GitHub Actions, ``set -a; .`` in GitLab CI's one
shell), which :func:`test_the_two_examples_run_the_same_commands` checks without running them: so
each file's load-test job runs (each carries the addresses its own way), and the violated gate
and the game-day job, whose lines are the same in both, run once, on the GitHub Actions file."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.paths import ROOT
from tests.waiting import wait_until

pytestmark = [pytest.mark.servers, pytest.mark.slow, pytest.mark.waits]

EXAMPLES = ROOT / "docs" / "examples"
#: lighter than the examples' defaults (4 users for 10 s: the machine is shared with the other
#: test worker; tests/loadtest/test_gated_run.py holds a 30 s run to the SLOs); the game days as
#: a dry run (the five run for real in tests/chaos/test_gameday.py, about 45 minutes)
QUICK = {"LOADTEST_DURATION": "10s", "LOADTEST_EXTRA": "--users 4", "GAMEDAY_FLAGS": "--dry-run"}
#: the file the jobs whose command lines are the same in both run on, once
ONE_EXAMPLE = "github-actions-drills.yml"
#: the one line by which the two files' load-test jobs differ: how the testbed's addresses reach
#: the load test (a GitHub Actions step's environment ends with it; GitLab runs one shell)
CARRY_ENV = {
    "github-actions-drills.yml": 'cat .sloctl/testbed.env >> "$GITHUB_ENV"',
    "gitlab-ci-drills.yml": "set -a; . .sloctl/testbed.env; set +a",
}


def _github_steps(job: dict[str, Any]) -> list[str]:
    return [s["run"] for s in job["steps"] if "run" in s and not s.get("name", "").startswith("Install")]


def _gitlab_script(job: dict[str, Any]) -> list[str]:
    # GitLab runs the script's lines in one shell; before_script (the install) is left out.
    return ["\n".join(job["script"])]


def _artifact_paths(job: dict[str, Any]) -> list[str]:
    if "steps" in job:
        return [
            s["with"]["path"]
            for s in job["steps"]
            if str(s.get("uses", "")).startswith("actions/upload-artifact")
        ]
    return list(job["artifacts"]["paths"])


class Runner:
    """Runs steps like a CI runner: bash -e, the job's variables, ``$GITHUB_ENV`` carried
    from one step to the next; stops whatever the job left in the background by its pid file,
    then removes the job's temporary files."""

    def __init__(self, workdir: Path, variables: dict[str, str]) -> None:
        self.workdir = workdir
        self.github_env = workdir / "github.env"
        self.github_env.touch()
        bin_dir = str(Path(sys.executable).parent)
        self.env = {**os.environ, **variables, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
        self.env["GITHUB_ENV"] = str(self.github_env)
        # A runner's temporary files die with its machine: here with the job (`sloctl testbed
        # up` and `gameday rig` keep their temp workdir after they stop). Not under pytest's
        # 0700 folders: PostgreSQL's user must reach its data.
        self.tmp = Path(tempfile.mkdtemp(prefix="sloctl-ci-runner-"))
        self.tmp.chmod(0o711)
        self.env["TMPDIR"] = str(self.tmp)

    def run(self, script: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        extra = dict(line.split("=", 1) for line in self.github_env.read_text().splitlines() if "=" in line)
        return subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", script],
            cwd=self.workdir,
            env={**self.env, **extra},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def stop_background(self) -> None:
        for pid_file in (self.workdir / ".sloctl").glob("*.pid"):
            pid = int(pid_file.read_text())
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            _wait_for_exit(pid)
        shutil.rmtree(self.tmp, ignore_errors=True)


def _wait_for_exit(pid: int, timeout: float = 60) -> None:
    # The job's background sloctl is a child of an exited bash, reparented to init: poll its
    # /proc entry. A zombie has exited: init reaps it when it gets to it (here 1.5 s later,
    # which every test waited out on top of the stop).
    wait_until(lambda: _exited(pid), timeout=timeout, what=f"process {pid} to exit")


def _exited(pid: int) -> bool:
    """True once ``pid`` has gone or is a zombie (its state, after the command name in parentheses)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] in ("Z", "X")


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A checkout as a job sees it: the SLOs, the generated rules, the experiments, the load tests."""
    for name in ("slos", "rules", "chaos", "loadtests"):
        (tmp_path / name).symlink_to(ROOT / name)
    return tmp_path


def _jobs(name: str) -> tuple[dict[str, Any], dict[str, str]]:
    doc = yaml.safe_load((EXAMPLES / name).read_text())
    if "jobs" in doc:
        return doc["jobs"], {k: str(v) for k, v in doc["env"].items()}
    return {k: v for k, v in doc.items() if isinstance(v, dict) and "script" in v}, {
        k: str(v) for k, v in doc["variables"].items()
    }


@pytest.fixture(params=["github-actions-drills.yml", "gitlab-ci-drills.yml"])
def example(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _steps(example: str, job: dict[str, Any]) -> list[str]:
    return _github_steps(job) if example.startswith("github") else _gitlab_script(job)


def _run_job(example: str, runner: Runner, name: str) -> dict[str, Any]:
    """Runs every step of the job ``name``, each of which must pass; returns the job."""
    job: dict[str, Any] = _jobs(example)[0][name]
    for step in _steps(example, job):
        done = runner.run(step)
        assert done.returncode == 0, (step, done.stdout, done.stderr)
    return job


def _commands(example: str, job: dict[str, Any]) -> list[str]:
    """The job's shell command lines as a runner runs them, install steps left out, each with
    its whitespace collapsed (a folded YAML line reads as one, as does a line continued by a
    backslash)."""
    steps = (step.replace("\\\n", " ") for step in _steps(example, job))
    lines = (line.strip() for step in steps for line in step.splitlines())
    return [" ".join(line.split()) for line in lines if line and not line.startswith("#")]


def test_the_two_examples_run_the_same_commands() -> None:
    """The lines the other tests run once are the same in both files: the load-test job's differ
    by the line carrying the testbed's addresses alone, the game-day job's not at all; each job
    ends with the command whose exit code is the job's, and neither tolerates its failure."""
    github, gitlab = (_jobs(name)[0] for name in CARRY_ENV)
    commands = {
        name: {job: _commands(name, jobs[job]) for job in ("loadtest", "gamedays")}
        for name, jobs in zip(CARRY_ENV, (github, gitlab), strict=True)
    }
    for name, carry in CARRY_ENV.items():
        assert commands[name]["loadtest"].count(carry) == 1, (name, commands[name]["loadtest"])
        commands[name]["loadtest"].remove(carry)
        assert commands[name]["loadtest"][-1].startswith("sloctl loadtest "), commands[name]
        assert commands[name]["gamedays"][-1].startswith("sloctl gameday suite "), commands[name]
    assert commands["github-actions-drills.yml"] == commands["gitlab-ci-drills.yml"]
    tolerant = [
        ("continue-on-error", job)
        for job in github.values()
        for x in (job, *job["steps"])
        if x.get("continue-on-error")
    ]
    tolerant += [("allow_failure", job) for job in gitlab.values() if job.get("allow_failure")]
    tolerant += [
        ("|| true", line)
        for jobs in commands.values()
        for lines in jobs.values()
        for line in lines
        if "|| true" in line
    ]
    assert not tolerant, tolerant


@pytest.fixture
def runner(example: str, workdir: Path) -> Iterator[Runner]:
    _, variables = _jobs(example)
    started = Runner(workdir, {**variables, **QUICK})
    try:
        yield started
    finally:
        started.stop_background()


def test_the_load_test_job_passes_its_slo_gates_and_leaves_its_report_for_the_artifact(
    example: str, runner: Runner, workdir: Path
) -> None:
    job = _run_job(example, runner, "loadtest")
    assert "SLOCTL_API_URL=http://127.0.0.1:" in (workdir / ".sloctl" / "testbed.env").read_text()
    for path in _artifact_paths(job):
        assert any((workdir / path).glob("*.json")) and any((workdir / path).glob("*.html")), path


@pytest.mark.parametrize("example", [ONE_EXAMPLE])
def test_a_violated_load_test_gate_fails_the_job(example: str, runner: Runner, workdir: Path) -> None:
    jobs, _ = _jobs(example)
    runner.env["LOADTEST_EXTRA"] += " --threshold p(95)<0.001"  # no API answers in a microsecond
    # The gate fails on the first answer's latency: a second of load (the users' first requests,
    # their projects provisioned) is all it takes.
    runner.env["LOADTEST_DURATION"] = "1s"
    steps = _steps(example, jobs["loadtest"])
    results = [runner.run(step) for step in steps]
    assert results[-1].returncode == 1, (results[-1].stdout, results[-1].stderr)
    assert all(r.returncode == 0 for r in results[:-1])
    assert "threshold was violated" in results[-1].stdout
    report = json.loads((workdir / "reports" / "loadtest" / "report.json").read_text())
    failed = [t for t in report["thresholds"] if not t["passed"]]
    assert any(t["limit"] == 0.001 and t["percentile"] == 95 for t in failed), failed


@pytest.mark.parametrize("example", [ONE_EXAMPLE])
def test_the_game_day_job_starts_a_rig_and_runs_the_schedule_as_a_suite(
    example: str, runner: Runner, workdir: Path
) -> None:
    reports = workdir / _artifact_paths(_run_job(example, runner, "gamedays"))[0]
    stems = sorted(p.parent.name for p in reports.glob("*/report.json"))
    assert stems == sorted(p.stem for p in (ROOT / "chaos").glob("*.json"))
    assert all(json.loads(p.read_text())["verdict"] == "dry-run" for p in reports.glob("*/report.json"))

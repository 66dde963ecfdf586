"""A command killed outright (SIGKILL, a CI job's timeout) leaves no temporary work folder behind:
its servers' lifeline removes it after stopping them; a failed run's folder, kept for its logs,
is unregistered first and stays. Ctrl-C while the servers start is an interrupt, not a failure."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from sloctl.chaos.rig import start_rig
from sloctl.servers._lifeline import Lifeline, alive
from tests.fixtures import string_code_signal
from tests.fixtures.cli import SLOCTL, printed_addresses, run_sloctl, sigint_as_in_a_terminal
from tests.paths import ROOT
from tests.waiting import wait_until

pytestmark = pytest.mark.servers


def test_a_folder_kept_after_all_stays_when_the_lifeline_ends(tmp_path: Path) -> None:
    line = Lifeline(grace_seconds=1)
    gone, kept = tmp_path / "removed", tmp_path / "kept for its logs"
    for folder in (gone, kept):
        folder.mkdir()
    line.remove_at_end(gone)
    line.remove_at_end(kept)
    line.keep(kept)
    watcher = line.watcher_pid
    assert watcher is not None
    line.close()
    wait_until(lambda: not alive(watcher), timeout=20, what="the watcher's end")
    assert not gone.exists() and kept.is_dir()


def _listening(address: str) -> bool:
    """Something accepts connections at ``address`` (``host:port`` or a URL)."""
    url = urlsplit(address if "://" in address else f"tcp://{address}")
    assert url.hostname is not None and url.port is not None, address
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((url.hostname, url.port)) == 0


@pytest.mark.slow
@pytest.mark.waits
def test_a_killed_testbed_up_leaves_no_temporary_work_folder() -> None:
    """Before, its folder (the databases, 56 MB) stayed in /tmp, the servers stopped by the
    lifeline."""
    # TMPDIR a folder PostgreSQL's user can traverse (pytest's tmp_path is 0700 down the tree)
    base = Path(tempfile.mkdtemp(prefix="sloctl-test-tmpdir-"))
    base.chmod(0o711)
    proc = subprocess.Popen(
        [*SLOCTL, "testbed", "up", "--for", "120s"],
        env={**os.environ, "TMPDIR": str(base)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,  # read on failure: why it printed nothing
        text=True,
    )
    try:
        addresses = printed_addresses(proc, last="mongodb", timeout=90)
        assert {"api", "postgres", "redis", "mongodb"} <= set(addresses), addresses
        (folder,) = base.glob("sloctl-testbed-*")
        proc.send_signal(signal.SIGKILL)  # no finally, no atexit runs in it
        proc.wait(timeout=10)
        wait_until(lambda: not folder.exists(), timeout=30, what=f"{folder} removed")
        databases = [addresses[n] for n in ("postgres", "redis", "mongodb")]
        wait_until(lambda: not any(_listening(a) for a in databases), timeout=15, what=f"{databases} stopped")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        shutil.rmtree(base, ignore_errors=True)


_FAILS_UNEXPECTEDLY = """
import sys
from sloctl.cli._foreground import in_workdir
from sloctl.servers import LIFELINE

def run(folder):
    (folder / "api.log").write_text("what went wrong")
    print(LIFELINE.watcher_pid, flush=True)
    raise RuntimeError("a defect of the command")

in_workdir(None, "sloctl-testbed-", run, "sloctl testbed")
"""


def test_a_run_ended_by_an_unexpected_exception_keeps_its_folder_and_says_where() -> None:
    """A defect's traceback came with no logs to explain it: the folder was left registered for
    removal, and the lifeline removed it once the process ended."""
    base = Path(tempfile.mkdtemp(prefix="sloctl-test-tmpdir-"))
    try:
        done = subprocess.run(
            [sys.executable, "-c", _FAILS_UNEXPECTEDLY],
            env={**os.environ, "TMPDIR": str(base)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 1 and "RuntimeError: a defect of the command" in done.stderr
        watcher = int(done.stdout.split()[0])
        wait_until(lambda: not alive(watcher), timeout=20, what="the lifeline's end")
        (kept,) = base.glob("sloctl-testbed-*")
        assert (kept / "api.log").read_text() == "what went wrong"
        said = f"sloctl testbed: data and logs kept in {kept}"
        assert said in done.stderr and done.stderr.index(said) < done.stderr.index("Traceback")
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _running_under(folder: Path) -> list[str]:
    """The command lines of the processes whose command line names ``folder`` (the servers
    started in it), from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # not a process, or one that ended meanwhile
            continue
        if str(folder) in line:
            found.append(line)
    return found


#: how a test signals a command: a terminal's Ctrl-C (the whole process group: what the command
#: runs hears it too), or ``kill -INT PID`` (the sloctl process alone)
SIGNALLED: dict[str, Callable[[int], None]] = {
    "ctrl-c": lambda pid: os.killpg(pid, signal.SIGINT),
    "kill -INT pid": lambda pid: os.kill(pid, signal.SIGINT),
}


def _start_then_signal(
    argv: list[str], tmpdir: Path, under: Path, signal_to: str, program: str = ""
) -> subprocess.Popen[str]:
    """``sloctl *argv`` in a process group of its own (a terminal's foreground job), its temporary
    folders in ``tmpdir``, signalled as ``signal_to`` says (:data:`SIGNALLED`) once a process whose
    command line holds ``program`` runs in ``under`` (by default the first: initdb): its streams
    left to read."""
    proc = subprocess.Popen(
        [*SLOCTL, *argv],
        env={**os.environ, "TMPDIR": str(tmpdir)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
        preexec_fn=sigint_as_in_a_terminal,
    )
    try:
        assert proc.stderr is not None
        starting = proc.stderr.readline()  # said before the first server starts
        assert "starting" in starting, starting
        wait_until(
            lambda: any(program in line for line in _running_under(under)),
            timeout=60,
            what=f"{program or 'a server'} starting in {under}",
            interval=0.01,  # a step of the start lasts tenths of a second
        )
        SIGNALLED[signal_to](proc.pid)
    except BaseException:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.communicate(timeout=60)
        raise
    return proc


def _interrupted(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    """The exit code and streams of ``proc``, signalled while its servers start, once it has ended."""
    try:
        out, err = proc.communicate(timeout=120)
        return proc.returncode, out, err
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.communicate(timeout=60)


@pytest.mark.slow
@pytest.mark.parametrize("signal_to", list(SIGNALLED))
@pytest.mark.parametrize(
    "argv",
    [["testbed", "up"], ["gameday", "rig", "--slos", str(ROOT / "slos" / "platform-api.yaml")]],
    ids=["testbed up", "gameday rig"],
)
def test_ctrl_c_while_the_servers_start_is_exit_130_in_one_line_leaving_nothing(
    argv: list[str], signal_to: str
) -> None:
    """A terminal's Ctrl-C signals the whole process group, so what the start runs (initdb) dies
    of it too. Before, the start said it failed (initdb's output, exit 1) and kept its folder in
    /tmp ("data and logs kept"), as if a server were broken; or, when the start finished first,
    printed the addresses of servers about to stop, exit 0. ``kill -INT`` of sloctl alone let
    the start finish first (:func:`test_kill_int_of_sloctl_alone_stops_the_start_where_it_is`)."""
    # TMPDIR a folder PostgreSQL's user can traverse (pytest's tmp_path is 0700 down the tree)
    base = Path(tempfile.mkdtemp(prefix="sloctl-test-tmpdir-"))
    base.chmod(0o711)
    try:
        code, out, err = _interrupted(_start_then_signal([*argv, "--for", "120s"], base, base, signal_to))
        command = " ".join(argv[:2])
        assert (code, out) == (130, ""), err
        # after the progress lines of the start, if any: the one line that says what happened
        said = f"sloctl {command}: interrupted while starting; everything started is stopped\n"
        assert err.endswith(said) and all(
            line.startswith(f"sloctl {argv[0]}") for line in err.splitlines()
        ), err
        assert not any(base.iterdir()), "the temporary folder removed"
        assert _running_under(base) == []
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "code"), [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_signal_raised_in_code_run_from_a_string_as_the_rig_starts_keeps_its_exit_code(
    sig: str, code: int
) -> None:
    """The game-day rig's start runs code compiled from a string (the methods ``dataclasses``
    makes as a lazy import defines a class) as it starts its Prometheus. CPython records a
    KeyboardInterrupt raised there as unhandled even when sloctl handles it: the ``python -m``
    process said it was interrupted, then died of SIGINT (-2), for SIGTERM too. The signal comes
    at that instant (:mod:`tests.fixtures.string_code_signal`)."""
    base = Path(tempfile.mkdtemp(prefix="sloctl-test-tmpdir-"))
    base.chmod(0o711)  # for PostgreSQL's user
    try:
        proc = subprocess.run(
            [
                *string_code_signal.command(sig, start_rig.__name__),
                "gameday", "rig", "--slos", str(ROOT / "slos" / "platform-api.yaml"),
                "--for", "1s",  # bounds a failure only: the instant never came, the rig ran
            ],
            env={**os.environ, "TMPDIR": str(base)}, capture_output=True, text=True, timeout=300,
            preexec_fn=sigint_as_in_a_terminal, check=False,
        )  # fmt: skip
        said = "sloctl gameday rig: interrupted while starting; everything started is stopped"
        assert (proc.returncode, proc.stderr.splitlines()[-2:]) == (code, [string_code_signal.SAID, said]), (
            proc.stderr
        )
        assert not any(base.iterdir()), "the temporary folder removed"
        assert _running_under(base) == []
    finally:
        shutil.rmtree(base, ignore_errors=True)


#: moments of the start a test signals it at: what the command line of the program then running
#: holds, and the servers that are not to be started after (their folders in the work folder;
#: not the next one, which the signal may come as it starts)
MOMENTS = {
    "during initdb": ("bin/initdb -D", {"pgbouncer", "redis", "mongodb", "api"}),
    "as PostgreSQL starts": ("bin/postgres -D", {"mongodb", "api"}),
    "as MongoDB starts": ("--storage-path", {"api"}),
}


@pytest.mark.slow
@pytest.mark.parametrize(("program", "not_started"), list(MOMENTS.values()), ids=list(MOMENTS))
def test_kill_int_of_sloctl_alone_stops_the_start_where_it_is_leaving_a_folder_a_rerun_starts_in(
    program: str, not_started: set[str]
) -> None:
    """``kill -INT`` of the sloctl process alone reached no server, and the start went on to
    start every one (0.8–2.2 s, docs/benchmarks.md, "Ctrl-C during long commands") before it
    stopped them; it now stops at once, where it is, the server being started stopped too. A
    cluster half made (initdb's, or one whose role was not created yet: a Ctrl-C as PostgreSQL
    starts) is not left for the next start in ``--workdir`` to take for a made one (its API
    then waited 30 s for a database it could not log in to)."""
    base = Path(tempfile.mkdtemp(prefix="sloctl-test-tmpdir-"))
    base.chmod(0o711)  # for PostgreSQL's user
    workdir = base / "work"
    try:
        argv = ["testbed", "up", "--workdir", str(workdir)]
        proc = _start_then_signal([*argv, "--for", "120s"], base, workdir, "kill -INT pid", program)
        code, out, err = _interrupted(proc)
        assert (code, out) == (130, ""), err
        assert err.endswith(
            "sloctl testbed up: interrupted while starting; everything started is stopped\n"
        ), err
        assert _running_under(workdir) == []
        started = not_started & {p.name for p in workdir.iterdir()}
        assert not started, f"started after the signal: {started}"
        again = run_sloctl(*argv, "--for", "1s", env={**os.environ, "TMPDIR": str(base)})
        assert again.returncode == 0, again.stderr
    finally:
        shutil.rmtree(base, ignore_errors=True)

"""Building the shelf's tools from the Go module proxy (``scripts/tools.sh``).

Each tool is built once per machine: in a scratch module under ``<shelf>/.build``, then renamed
into ``<shelf>/NAME-VERSION`` with a ``BUILD.json`` (versions, seconds), so a half-built tool
never looks built. A per-tool lock lets two clones build at once without clashing. Go's own
caches (``GOMODCACHE``, ``GOCACHE``) are per machine too, so tools that share dependencies build
faster after the first.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from sloctl.shelf import TOOLS, Tool, shelf_dir, tool_dir

__all__ = ["BuildError", "GoMissing", "build", "build_command", "built", "go_env", "go_version", "prepare"]

HEARTBEAT = 30.0
"""Seconds between "still building" lines while Go works quietly."""
STEP_TIMEOUT = 3600.0  # an hour; the shelf stands alone (it imports no other sloctl module)
"""A bound on one go command, not an expectation (a cold Prometheus build takes about 6 min)."""
_SOURCES = Path(__file__).parent


class GoMissing(RuntimeError):
    """Go or the Go module proxy is not there: the shelf cannot be built on this machine."""


class BuildError(RuntimeError):
    """A tool failed to build; the message has the tail of the log."""


@dataclass(frozen=True)
class Built:
    tool: Tool
    seconds: float
    cached: bool


def go_version() -> str:
    go = shutil.which("go")
    if go is None:
        raise GoMissing(
            "Go is not installed: the tool shelf (Prometheus 3, Alertmanager 0.35, Sloth, "
            "VictoriaMetrics, the OpenTelemetry Collector) is built from Go modules. Install Go "
            "1.26 or newer and make sure the Go module proxy is reachable (GOPROXY)."
        )
    out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, timeout=60, check=False)
    return out.stdout.strip() or "unknown"


def built(t: Tool) -> dict[str, object] | None:
    """The ``BUILD.json`` of ``t`` when every one of its binaries is on the shelf."""
    folder = tool_dir(t)
    if not all((folder / "bin" / b).is_file() for b in t.binaries):
        return None
    try:
        data = json.loads((folder / "BUILD.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("version") != t.version:
        return None
    return data if data.get("tags", []) == list(t.tags) else None


def build_command(t: Tool, packages: Sequence[str], bin_dir: Path, tags: Sequence[str]) -> list[str]:
    """The ``go build`` of ``t``'s ``packages`` (from ``prepare``) into ``bin_dir``, with ``tags``."""
    flags = " ".join(("-s", "-w", *t.ldflags))
    # Our own main package (otelcol) builds one binary, named here; module packages are named
    # after their folders.
    out = f"{bin_dir / t.binaries[0]}" if t.source else f"{bin_dir}/"
    return [
        "go",
        "build",
        "-trimpath",
        f"-ldflags={flags}",
        *([f"-tags={','.join(tags)}"] if tags else []),
        "-o",
        out,
        *packages,
    ]


@contextlib.contextmanager
def _lock(name: str) -> Iterator[None]:
    locks = shelf_dir() / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / f"{name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def go_env() -> dict[str, str]:
    env = dict(os.environ)
    # Static binaries without a C toolchain; never let go fetch another toolchain on its own.
    env.update(CGO_ENABLED="0", GOTOOLCHAIN="local", GOFLAGS="-mod=mod -buildvcs=false")
    return env


def _run(cmd: Sequence[str], cwd: Path, log: Path, say: Callable[[str], None], what: str) -> None:
    """Run one go command, appending to ``log``; a heartbeat line every ``HEARTBEAT`` seconds."""
    start = time.monotonic()
    with open(log, "a") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        out.flush()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=go_env())
        done = threading.Event()

        def heartbeat() -> None:
            while not done.wait(HEARTBEAT):
                say(f"    … {what} still running ({time.monotonic() - start:.0f}s)")

        beat = threading.Thread(target=heartbeat, daemon=True)
        beat.start()
        try:
            rc = proc.wait(timeout=STEP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            rc = -1
        finally:
            done.set()
            beat.join()
    if rc != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        if "proxy" in tail or "dial tcp" in tail or "no such host" in tail or "403 Forbidden" in tail:
            raise GoMissing(
                f"the Go module proxy refused or could not be reached ({what}); log {log}:\n{tail}"
            )
        raise BuildError(f"{what} failed (exit {rc}); log {log}:\n{tail}")


def _module_dir(t: Tool, work: Path) -> Path:
    """Where ``go get`` put the module's source in the module cache."""
    proc = subprocess.run(
        ["go", "mod", "download", "-json", f"{t.module}@{t.version}"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
        env=go_env(),
        check=False,
    )
    if proc.returncode != 0:
        raise BuildError(f"go mod download {t.module}@{t.version} failed:\n{proc.stdout}{proc.stderr}")
    return Path(json.loads(proc.stdout)["Dir"])


def prepare(t: Tool, work: Path, log: Path, say: Callable[[str], None]) -> list[str]:
    """The scratch module for ``t``; returns the packages to build."""
    (work / "go.mod").write_text(f"module sloctl-shelf/{t.name}\n\ngo 1.26\n")
    if t.source:
        for f in sorted((_SOURCES / t.source).glob("*.go")):
            shutil.copy(f, work / f.name)
        packages = ["."]
    else:
        packages = [t.module if p == "." else f"{t.module}/{p}" for p in t.packages]
        imports = "".join(f'\t_ "{p}"\n' for p in packages)
        (work / "tools.go").write_text(f"//go:build tools\n\npackage tools\n\nimport (\n{imports})\n")
    _run(["go", "get", f"{t.module}@{t.version}", *t.requires], work, log, say, "go get")
    if t.placeholders:
        # A local copy of the module with the files its go:embed needs; the web UI is left out.
        src = work / "module"
        shutil.copytree(_module_dir(t, work), src)
        for root, dirs, _files in os.walk(src):
            for d in dirs:
                os.chmod(os.path.join(root, d), 0o755)
        os.chmod(src, 0o755)
        for rel in t.placeholders:
            p = src / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(
                f"<!doctype html><title>{t.name}</title><p>Built by sloctl's tool shelf without its web UI.\n"
            )
        _run(["go", "mod", "edit", f"-replace={t.module}=./module"], work, log, say, "go mod edit")
    _run(["go", "mod", "tidy"], work, log, say, "go mod tidy")
    return packages


def _build_one(t: Tool, say: Callable[[str], None]) -> Built:
    shelf = shelf_dir()
    scratch = shelf / ".build"
    scratch.mkdir(parents=True, exist_ok=True)
    work = scratch / f"{t.folder}.{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    log = shelf / f"{t.folder}.log"
    log.write_text("")
    start = time.monotonic()
    say(f"  {t.name} {t.release} ({t.module}@{t.version}): building {', '.join(t.binaries)}; log {log}")
    try:
        packages = prepare(t, work, log, say)
        stage = work / "stage"
        (stage / "bin").mkdir(parents=True)
        _run(
            build_command(t, packages, stage / "bin", t.tags),
            work,
            log,
            say,
            "go build",
        )
        missing = [b for b in t.binaries if not (stage / "bin" / b).is_file()]
        if missing:
            raise BuildError(f"go build left out {', '.join(missing)}; log {log}")
        seconds = time.monotonic() - start
        record = {
            "tool": t.name,
            "module": t.module,
            "version": t.version,
            "release": t.release,
            "binaries": list(t.binaries),
            "tags": list(t.tags),
            "go": go_version(),
            "seconds": round(seconds, 1),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        (stage / "BUILD.json").write_text(json.dumps(record, indent=2) + "\n")
        final = tool_dir(t)
        shutil.rmtree(final, ignore_errors=True)
        stage.rename(final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    say(f"  {t.name} {t.release}: built in {seconds:.0f}s")
    return Built(t, seconds, cached=False)


def _say(line: str) -> None:
    print(line, flush=True)  # progress must show at once, also when stdout is a CI log file


def build(names: Sequence[str] = (), say: Callable[[str], None] = _say) -> list[Built]:
    """Build the named tools (all when none is named) unless already on the shelf."""
    wanted = [t for t in TOOLS if not names or t.name in names]
    unknown = sorted(set(names) - {t.name for t in TOOLS})
    if unknown:
        raise BuildError(f"unknown tool(s): {', '.join(unknown)}; known: {', '.join(t.name for t in TOOLS)}")
    results: list[Built] = []
    say(f"tool shelf: {shelf_dir()}")
    go_checked = False
    for t in wanted:
        with _lock(t.name):
            record = built(t)
            if record is not None:
                say(f"  {t.name} {t.release}: on the shelf (built in {record.get('seconds', '?')}s)")
                results.append(Built(t, float(str(record.get("seconds", 0))), cached=True))
                continue
            if not go_checked:
                say(f"  using {go_version()}")
                go_checked = True
            results.append(_build_one(t, say))
    return results

"""Running promtool over generated rules and their tests.

Any Prometheus 2.42+ or 3.x promtool works: the generated tests assert only where both engines'
range semantics agree (``sloctl.render.promsim``). Which promtool runs: ``sloctl.shelf.default_engine``
(``$PROMTOOL``, then PATH, then the tool shelf's Prometheus 3), or the one passed in."""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from sloctl.render.flavours import prometheus_rules
from sloctl.shelf import ToolMissing, default_engine

__all__ = ["PromtoolMissing", "RuleTestReport", "find_promtool", "promtool_env", "run_rule_tests"]

TIMEOUT = 900  # seconds for one promtool process: a bound, not an expectation

#: Go's garbage collector runs half as often as by default (``GOGC=100``): a rule test allocates
#: a fresh result at every step of every subquery, and collecting less often costs 15-25 % less
#: CPU for about 30 % more memory (120 → 140-150 MB for a timeslice SLO's tests). The caller's own
#: ``GOGC`` wins.
GOGC = "200"


def promtool_env(tmpdir: str | Path, **go: str) -> dict[str, str]:
    """The environment promtool runs in: the Go runtime settings ``go`` (``GOGC=…``,
    ``GOMEMLIMIT=…``) unless the caller's environment sets them, and ``TMPDIR`` set to
    ``tmpdir``, a folder of ours that its caller removes. promtool keeps a storage there for
    each rule test (``test_storage…``) and removes it only when it ends on its own: one killed
    by a timeout or a Ctrl-C left it in /tmp."""
    return {**go, **os.environ, "TMPDIR": str(tmpdir)}


class PromtoolMissing(RuntimeError):
    pass


def find_promtool() -> str:
    """The default engine's promtool (see ``sloctl.shelf.default_engine``)."""
    try:
        return str(default_engine().promtool)
    except ToolMissing as exc:
        raise PromtoolMissing(str(exc)) from None


@dataclass
class _Result:
    kind: str
    file: str
    ok: bool
    seconds: float
    output: str


@dataclass
class RuleTestReport:
    results: list[_Result] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(r.ok for r in self.results)

    def lines(self) -> list[str]:
        out: list[str] = []
        for r in self.results:
            if not r.ok:
                out.append(f"FAIL {r.kind} {r.file} ({r.seconds:.1f}s)")
                out.extend("    " + line for line in r.output.strip().splitlines()[-40:])
        checks = [r for r in self.results if r.kind == "check"]
        tests = [r for r in self.results if r.kind == "test"]
        failed = [r for r in self.results if not r.ok]
        if not self.results:
            out.append("no rule files or rule tests found")
        elif not tests:
            out.append("note: no rule tests found, only lint ran (generate writes them to rules/tests/)")
        out.append(
            f"promtool check rules --lint-fatal: {sum(r.ok for r in checks)}/{len(checks)} file(s) passed"
        )
        out.append(
            f"promtool test rules: {sum(r.ok for r in tests)}/{len(tests)} file(s) passed, "
            f"{sum(r.seconds for r in tests):.1f}s of promtool time"
        )
        out.append(f"{len(self.results) - len(failed)} passed, {len(failed)} failed")
        return out


def _run(cmd: Sequence[str], kind: str, file: Path) -> _Result:
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sloctl-promtool-") as tmp:
        try:
            proc = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                errors="replace",  # promtool repeats file names, which need not be UTF-8
                timeout=TIMEOUT,
                cwd=file.parent,
                check=False,
                env=promtool_env(tmp, GOGC=GOGC),
            )
            ok, output = proc.returncode == 0, proc.stdout + proc.stderr
        except subprocess.TimeoutExpired:
            ok, output = False, f"timed out after {TIMEOUT}s"
    return _Result(kind, str(file), ok, time.monotonic() - start, output)


def _collect(paths: Sequence[Path]) -> tuple[list[Path], list[Path]]:
    rules: list[Path] = []
    tests: list[Path] = []
    for p in paths:
        files = sorted(p.rglob("*.y*ml")) if p.is_dir() else [p]
        for f in files:
            if f.name.endswith((".test.yml", ".test.yaml")):
                tests.append(f)
            elif f.suffix in (".yml", ".yaml"):
                rules.append(f)
    return rules, tests


def _checkable(f: Path, plain: Path) -> Path:
    """``f``, or for a flavour's file (``--flavour operator|mimir|vmalert``) the plain rule file
    it carries, written in a folder of its own under ``plain``
    (``sloctl.render.flavours.prometheus_rules``): promtool reads only Prometheus' own format."""
    try:
        carried = prometheus_rules(f.read_text(errors="replace"))
    except OSError:
        return f  # promtool reports the unreadable file
    if carried is None:
        return f
    out = Path(tempfile.mkdtemp(dir=plain)) / f.name
    out.write_text(carried)
    return out


def _as_given(result: _Result, given: dict[str, Path]) -> _Result:
    """A check of a flavour file's carried rules, reported under the file given."""
    original = given.get(result.file)
    if original is None:
        return result
    note = f"(checked: the Prometheus rule groups that {original.name} carries)\n"
    return _Result(result.kind, str(original), result.ok, result.seconds, note + result.output)


def run_rule_tests(
    paths: Sequence[Path],
    *,
    jobs: int = 2,
    promtool: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> RuleTestReport:
    """``promtool check rules --lint-fatal`` on every rule file, then ``promtool test rules`` on
    every ``*.test.yml``, ``jobs`` processes at a time, with ``promtool`` (default: the default
    engine's). ``progress(done, total)`` is called as each file's run ends (from a worker
    thread)."""
    promtool = promtool or find_promtool()
    rules, tests = _collect(paths)
    report = RuleTestReport()
    total, finished, lock = len(rules) + len(tests), 0, threading.Lock()

    def ended(future: Future[_Result]) -> None:
        nonlocal finished
        if future.cancelled():  # dropped by an interrupt, never run
            return
        with lock:
            finished += 1
            if progress is not None:
                progress(finished, total)

    def submit(pool: ThreadPoolExecutor, argv: list[str], kind: str, f: Path) -> Future[_Result]:
        future = pool.submit(_run, argv, kind, f)
        future.add_done_callback(ended)
        return future

    with tempfile.TemporaryDirectory() as plain:
        pool = ThreadPoolExecutor(max_workers=max(1, jobs))
        try:
            checked = {f: _checkable(f, Path(plain)) for f in rules}
            given = {str(g): f for f, g in checked.items() if g != f}
            checks = [
                submit(pool, [promtool, "check", "rules", "--lint-fatal", g.name], "check", g)
                for g in checked.values()
            ]
            report.results.extend(_as_given(c.result(), given) for c in checks)
            runs = [submit(pool, [promtool, "test", "rules", f.name], "test", f) for f in tests]
            report.results.extend(r.result() for r in runs)
        finally:
            # Ctrl-C drops the runs not started yet (the pool's own exit ran every queued one
            # first: 125 files, ten seconds after the interrupt), and the runs under way end
            # before their copies in ``plain`` go
            pool.shutdown(wait=True, cancel_futures=True)
    return report

"""``sloctl generate``: plan every output of a set of SLOs, then write it atomically or check it.

Planning is pure (SLOs in, ``{relative path: text}`` out); writing is the only I/O. Files are
staged next to their destination and moved into place with ``os.replace`` only after every
output rendered, so a failure leaves the previous files untouched, and a crash mid-write never
leaves a half-written file.

>>> from sloctl.spec import load_text
>>> plan = plan_outputs(load_text(EXAMPLE).slos, GenerateOptions(dashboards=False))  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import difflib
import glob
import multiprocessing
import os
import signal
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.context import BaseContext
from multiprocessing.pool import Pool
from pathlib import Path

from sloctl import __version__, naming
from sloctl.model import SLO, Service
from sloctl.progress import Progress, silent
from sloctl.render.alertmanager import AlertmanagerOptions
from sloctl.render.flavours import FLAVOURS, wrap_rules
from sloctl.render.rules import RuleOptions, render_rule_file
from sloctl.render.ruletests import render_rule_tests
from sloctl.spec import group_by_service

__all__ = ["GENERATED_MARKERS", "GenerateOptions", "check_outputs", "plan_outputs", "write_outputs"]

RULES_DIR = "rules"
TESTS_DIR = "rules/tests"
DASHBOARDS_DIR = "dashboards"
ALERTMANAGER_FILE = "alertmanager/sloctl.yml"
GENERATED_MARKERS = naming.GENERATED_MARKERS


@dataclass(frozen=True)
class GenerateOptions:
    flavour: str = "prometheus"
    compat: str | None = None
    tests: bool = True
    dashboards: bool = True
    alertmanager: bool = True
    interval: int | None = None
    extra_labels: tuple[tuple[str, str], ...] = ()
    operator_labels: tuple[tuple[str, str], ...] = ()
    namespace: str = "monitoring"
    disable_alerts: bool = False
    disable_recordings: bool = False
    version: str = __version__
    jobs: int = 1
    """Worker processes for large inputs (see ``PARALLEL_MIN_SLOS``)."""
    alertmanager_options: AlertmanagerOptions = field(default_factory=AlertmanagerOptions)
    """Receivers, routing-key file, ticket webhook and Grafana URL of the Alertmanager fragment."""
    datasource_uid: str | None = None
    """Data source the dashboards select by default (None: Grafana's default Prometheus)."""
    components: tuple[str, ...] | None = None
    """Collector component dashboards to write; None: all of them when an SLO reads probes."""
    grafana_folder: str = "SLOs"
    grafana_path: str = "/var/lib/grafana/dashboards/sloctl"
    source_root: str | None = None
    """Source file names in headers are shown relative to this directory (the output root), so
    that the generated text does not depend on where the repository is checked out."""


def _display_source(slo: SLO, options: GenerateOptions) -> str:
    name = slo.source.file
    if options.source_root is not None and os.path.isabs(name) == os.path.isabs(options.source_root):
        name = os.path.relpath(name, options.source_root)
    return Path(name).as_posix()


PARALLEL_MIN_SLOS = 2000
"""Below this many SLOs one process is faster than starting workers and shipping text back."""
BATCHES_PER_JOB = 8
"""Batches of services each worker process renders in turn: progress is said as each comes back
(one batch a worker said nothing until the last came back), and a slow one is not waited for
alone at the end."""


def plan_outputs(
    slos: Sequence[SLO], options: GenerateOptions = GenerateOptions(), progress: Progress = silent
) -> dict[str, str]:
    """Every file ``sloctl generate`` writes for ``slos``, relative to the output directory.

    With ``options.jobs > 1`` and a large input, services are rendered by that many worker
    processes; the result is the same either way (sorted by path). ``progress`` hears the SLOs
    whose rules and tests are made, then the service dashboards."""
    services = group_by_service(slos)
    out: dict[str, str] = {}
    done = 0

    def slos_done(count: int) -> None:
        nonlocal done
        done += count
        progress("rules and tests", done, len(slos))

    if options.jobs > 1 and len(slos) >= PARALLEL_MIN_SLOS and len(services) > 1:
        size = -(-len(services) // (options.jobs * BATCHES_PER_JOB))
        batches = [services[i : i + size] for i in range(0, len(services), size)]
        ctx = multiprocessing.get_context(
            "fork" if "fork" in multiprocessing.get_all_start_methods() else None
        )
        # A multiprocessing pool, whose exit terminates its workers: an interrupt of this process
        # alone (``kill -INT``, SIGTERM) stops them at once. A ProcessPoolExecutor's exit waited
        # for each worker to finish its batch: 15–18 s after the signal (docs/benchmarks.md).
        with _pool(ctx, options.jobs, (batches, options)) as pool:
            parts = pool.imap(_plan_batch, range(len(batches)))
            for batch, part in zip(batches, parts, strict=True):
                out.update(part)
                slos_done(sum(len(s.slos) for s in batch))
    else:
        out = _plan_services(services, options, slos_done)
    if options.dashboards:
        from sloctl.render.dashboards import render_dashboards, render_provider

        dashboards = render_dashboards(
            slos,
            datasource_uid=options.datasource_uid,
            components=options.components,
            progress=lambda done, total: progress("dashboards", done, total),
        )
        for fname, ftext in dashboards.items():
            out[f"{DASHBOARDS_DIR}/{fname}"] = ftext
        out[f"{DASHBOARDS_DIR}/provider.yaml"] = render_provider(
            path=options.grafana_path, folder=options.grafana_folder
        )
    if options.alertmanager:
        from sloctl.render.alertmanager import render_alertmanager

        out[ALERTMANAGER_FILE] = render_alertmanager(slos, options.alertmanager_options)
    return dict(sorted(out.items()))


#: What every worker process plans: the batches of services, and the options (:func:`_pool`).
_Work = tuple[Sequence[Sequence[Service]], GenerateOptions]
_WORK: list[_Work] = []


#: The signals that stop generate: held back while its pool of workers is being made.
_STOPPING = {signal.SIGINT, signal.SIGTERM}


@contextlib.contextmanager
def _pool(context: BaseContext, jobs: int, work: _Work) -> Iterator[Pool]:
    """A pool of ``jobs`` worker processes, each given ``work`` as it starts (a task is then a
    batch's index: :func:`_plan_batch`), terminated on the way out whatever the way. The batches
    themselves went as tasks, through the pipe the workers read: the pool's task thread blocked
    on it when full, and its ``terminate()`` killed the workers, then waited for that thread for
    ever (1 interrupt in 10 to 25; the workers zombies, the parent in ``join``). It is made
    with Ctrl-C and SIGTERM held back: one that came while ``Pool()`` forked its workers raised
    inside it, which stops the workers made so far only for an ``Exception``, and they were left
    waiting for work for ever, holding the terminal. Held, the signal comes once the pool is
    made and inside the ``try`` that terminates it. The workers inherit the held mask and
    release it in :func:`_worker_start`."""
    held = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPPING)
    try:
        pool = context.Pool(jobs, initializer=_worker_start, initargs=(work,))
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        raise
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)  # a signal held back is raised here
        yield pool
    finally:
        pool.terminate()


def _worker_start(work: _Work) -> None:
    """A worker's start: its ``work`` kept (:data:`_WORK`), and its signals. The parent alone
    hears Ctrl-C (a terminal's reaches the whole process group) and stops its workers with
    SIGTERM, which ends each at once and silently; a forked
    worker would otherwise keep the parent's SIGTERM handler, which raises KeyboardInterrupt
    (``sloctl.cli._foreground.sigterm_as_ctrl_c``), and print its traceback. Then the signals
    :func:`_pool` held back are let through (a SIGTERM already sent ends the worker here)."""
    _WORK.append(work)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOPPING)


def _plan_batch(index: int) -> dict[str, str]:
    """:func:`_plan_services` of the worker's batch ``index`` (of its :data:`_WORK`)."""
    batches, options = _WORK[-1]
    return _plan_services(batches[index], options)


def _plan_services(
    services: Sequence[Service], options: GenerateOptions, slos_done: Callable[[int], None] = lambda _n: None
) -> dict[str, str]:
    """Rules (and rule tests) of ``services``; ``slos_done(n)`` hears each SLO or service made."""
    out: dict[str, str] = {}
    for service in services:
        sources = sorted({_display_source(s, options) for s in service.slos})
        name = f"{RULES_DIR}/{naming.slug(service.name)}.yml"
        if options.compat == "sloth":
            from sloctl.render.sloth_compat import render_sloth

            out[name] = render_sloth(
                service.slos,
                version=options.version,
                disable_alerts=options.disable_alerts,
                disable_recordings=options.disable_recordings,
                extra_labels=dict(options.extra_labels),
            )
            slos_done(len(service.slos))
            continue
        rule_options = RuleOptions(interval=options.interval, extra_labels=options.extra_labels)
        text = render_rule_file(service.slos, sources, options.version, rule_options)
        out[wrap_name(name, options.flavour)] = wrap_rules(
            text,
            service.name,
            options.flavour,
            labels=dict(options.operator_labels),
            namespace=options.namespace,
        )
        if not options.tests:
            slos_done(len(service.slos))
            continue
        for slo in service.slos:
            for fname, ftext in render_rule_tests(
                slo, options.version, _display_source(slo, options), service_slos=service.slos
            ).files:
                out[f"{TESTS_DIR}/{fname}"] = ftext
            slos_done(1)
    return out


def wrap_name(name: str, flavour: str) -> str:
    return name if flavour == "prometheus" else name.replace(".yml", f".{FLAVOURS[flavour]}.yml")


def _stale(root: Path, planned: Mapping[str, str], dirs: Sequence[str]) -> list[str]:
    """Generated files on disk (by their header) that the plan no longer produces."""
    stale: list[str] = []
    for d in dirs:
        base = root / d
        if not base.is_dir():
            continue
        for f in sorted(base.iterdir()):
            rel = f.relative_to(root).as_posix()
            if not f.is_file() or rel in planned or f.suffix not in (".yml", ".yaml", ".json"):
                continue
            try:
                head = f.read_text(encoding="utf-8", errors="replace")[:400]
            except OSError:
                continue
            if any(m in head for m in GENERATED_MARKERS) or (f.suffix == ".json" and '"sloctl"' in head):
                stale.append(rel)
    return stale


def _managed(planned: Mapping[str, str]) -> list[str]:
    """The folders whose stale generated files are removed: those the plan writes to. A folder
    the plan leaves out (``--no-dashboards``, ``--no-alertmanager``) is left alone, files and all:
    the flag says "do not touch", and a run that refreshes the rules must not delete dashboards."""
    return sorted({str(Path(p).parent.as_posix()) for p in planned})


def check_outputs(root: Path, planned: Mapping[str, str]) -> list[str]:
    """Unified diffs between the plan and the files on disk; empty when everything is current."""
    diffs: list[str] = []
    for rel, text in planned.items():
        path = root / rel
        current = path.read_text(encoding="utf-8") if path.is_file() else ""
        if current != text:
            diffs.append(
                "".join(
                    difflib.unified_diff(
                        current.splitlines(keepends=True),
                        text.splitlines(keepends=True),
                        fromfile=f"a/{rel}",
                        tofile=f"b/{rel}",
                        n=2,
                    )
                )
                or f"--- {rel}: differs\n"
            )
    for rel in _stale(root, planned, _managed(planned)):
        diffs.append(f"--- a/{rel}\n+++ /dev/null\n(generated file no longer produced; remove it)\n")
    return diffs


def write_outputs(
    root: Path, planned: Mapping[str, str], progress: Progress = silent
) -> tuple[list[str], list[str]]:
    """Write changed files atomically and remove stale generated ones; returns (written, removed).
    On failure nothing changes: staged files are removed, and so are the directories made for
    them. ``progress`` hears the files compared or staged so far."""
    staged: list[tuple[Path, Path]] = []
    made: list[Path] = []
    dest: Path | None = None
    try:
        for i, (rel, text) in enumerate(planned.items()):
            progress("files written", i, len(planned))
            dest = root / rel
            if dest.is_file() and dest.read_text(encoding="utf-8") == text:
                continue
            missing = [d for d in (dest.parent, *dest.parent.parents) if not d.exists()]
            dest.parent.mkdir(parents=True, exist_ok=True)
            made += missing
            fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
            staged.append((Path(tmp_name), dest))
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
    except BaseException:
        for staged_path, _ in staged:
            staged_path.unlink(missing_ok=True)
        if dest is not None:  # an interrupt between mkstemp and its listing in ``staged``
            for stray in dest.parent.glob(f".{glob.escape(dest.name)}.*.tmp"):
                stray.unlink(missing_ok=True)
        for directory in sorted(made, key=lambda d: len(d.parts), reverse=True):  # deepest first
            with contextlib.suppress(OSError):
                directory.rmdir()  # only when empty
        raise
    progress("files written", len(planned), len(planned))
    written: list[str] = []
    for staged_path, dest in staged:
        os.replace(staged_path, dest)
        written.append(dest.relative_to(root).as_posix())
    removed = _stale(root, planned, _managed(planned))
    for rel in removed:
        (root / rel).unlink()
    return written, removed

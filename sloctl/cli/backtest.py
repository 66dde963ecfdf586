"""``sloctl backtest SLO_FILES``: replay the generated alerts of each SLO over synthetic
scenarios, or over history from ``--prometheus URL --from --to``, on a throwaway Prometheus (or,
for scenarios, on VictoriaMetrics with vmalert: ``--engine victoriametrics[-ha]``).

Replays the generated rules on the real Prometheus engine (promtool backfill and a throwaway
Prometheus), or on VictoriaMetrics with vmalert's replay mode, and reports detection time, false
alerts, alert duration, reset time and budget left against the ground truth, per SLO and tier.

Exit codes: 0 every designed alert fired within its designed time and none was false, 1 not,
2 usage errors."""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sloctl.cli._common import (
    UsageError,
    add_command,
    add_engine_argument,
    add_format_argument,
    add_input_arguments,
    add_prometheus_arguments,
    load_slos_of,
    output_dir,
    output_file,
    output_path,
    progress_ticker,
    prometheus_engine,
)
from sloctl.cli._foreground import add_start_timeout_argument, say_start_timeout
from sloctl.durations import DAY, format_duration

if TYPE_CHECKING:
    from sloctl.backtest.run import ScenarioResult
    from sloctl.backtest.scenarios import Scenario
    from sloctl.backtest.victoria import VictoriaEngine
    from sloctl.model import SLO
    from sloctl.shelf import PrometheusEngine

__all__ = ["register"]


MAX_HISTORY = 93 * DAY
"""The longest ``--from``/``--to`` range: a calendar quarter, the longest calendar period."""


def _when(text: str) -> int:
    """``--from``/``--to``: RFC 3339 (a time without an offset is UTC) or Unix seconds."""
    try:
        value = float(text)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            value = math.nan
        else:
            value = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    if not 0 <= value < math.inf:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give an RFC 3339 time such as 2026-12-01T00:00:00Z, or Unix seconds"
        )
    return int(value)


def _scenario_help() -> str:
    from sloctl.backtest.scenarios import CALENDAR_SCENARIOS, SCENARIOS

    lines = ["scenarios (each SLO gets those of its kind; --scenario NAME picks):"]
    for s in SCENARIOS:
        lines.append(f"  {s.name:<17} [{s.kind}] {s.description}")
    for name in CALENDAR_SCENARIOS:
        lines.append(f"  {name:<17} [calendar] built per calendar SLO at its zone's dates")
    lines += [
        "",
        "A tier the scenario is built to fire is expected silent when the SLO's own design",
        "keeps it so (its factor is not reached, the incident ends before its designed",
        "detection, or the low-traffic guard holds it). Exit 1 names every SLO, scenario and",
        "tier that missed its design.",
    ]
    return "\n".join(lines)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(
        subparsers,
        "backtest",
        _run,
        __doc__,
        epilog=_scenario_help(),
    )
    add_input_arguments(p)
    p.add_argument(
        "--scenario",
        action="append",
        default=[],
        help="scenario name (repeatable; default: every scenario meant for each SLO's kind; one"
        " meant for none of the SLOs is a usage error)",
    )
    add_prometheus_arguments(p, "replay history read from this Prometheus")
    p.add_argument(
        "--from", dest="start", type=_when, help="history start, with --prometheus (RFC 3339 or Unix seconds)"
    )
    p.add_argument(
        "--to", dest="end", type=_when, help="history end, with --prometheus (RFC 3339 or Unix seconds)"
    )
    p.add_argument(
        "--report",
        metavar="FILE",
        type=output_path("file"),
        help="write an HTML report here (and its JSON beside it, for sloctl serve)",
    )
    add_format_argument(p)
    p.add_argument(
        "--workdir",
        metavar="DIR",
        type=output_path("folder"),
        help="keep the Prometheus data here (default: a temporary directory)",
    )
    add_engine_argument(p, victoria=True)
    add_start_timeout_argument(p, "each server's own, 60 s")


def _run(args: argparse.Namespace) -> int:
    from sloctl.backtest import SCENARIOS, render_html
    from sloctl.backtest.output import failures, render_json, render_table
    from sloctl.backtest.scenarios import CALENDAR_SCENARIOS
    from sloctl.files import write_pair

    engine = _engine(args)
    loaded = load_slos_of(args)
    known = {s.name for s in SCENARIOS} | set(CALENDAR_SCENARIOS)
    unknown = [n for n in args.scenario if n not in known]
    if unknown:
        raise UsageError(f"no scenario {', '.join(map(repr, unknown))}; known: {', '.join(sorted(known))}")
    if args.prometheus:
        _check_history_flags(args)
        plan: list[list[Scenario]] = []
    elif args.start is not None or args.end is not None:
        raise UsageError("--from/--to replay history from --prometheus; give --prometheus")
    else:
        plan = _plan(loaded.slos, args.scenario)
    if args.workdir is not None:
        output_dir(args.workdir, "--workdir")
    if args.report is not None:
        output_file(args.report, "--report")
    try:
        with tempfile.TemporaryDirectory(prefix="sloctl-backtest-") as tmp:
            results = _replay(args, loaded.slos, plan, engine, args.workdir or Path(tmp))
    except _NoVerdict as exc:
        print(f"sloctl backtest: {exc}", file=sys.stderr)
        say_start_timeout("sloctl backtest", exc)
        return 1
    as_json = json.dumps(render_json(results), indent=2, sort_keys=True) + "\n"
    if args.report:
        # The JSON beside the page is what ``sloctl serve --backtests DIR`` lists.
        write_pair(args.report, render_html(results), args.report.with_suffix(".json"), as_json)
    if args.output == "json":
        sys.stdout.write(as_json)
    else:
        sys.stdout.write(render_table(results))
    if args.prometheus:
        return 0  # history has no designed incident to miss
    missed = failures(results)
    for line in missed:
        print(f"sloctl backtest: {line}", file=sys.stderr)
    return 1 if missed else 0


class _NoVerdict(Exception):
    """A tool of the replay failed or timed out: the SLO has no verdict (exit 1, named)."""


def _engine(args: argparse.Namespace) -> PrometheusEngine | VictoriaEngine:
    """The engine ``--engine`` names, its binaries found."""
    from sloctl.backtest.victoria import ENGINES, VictoriaEngine
    from sloctl.shelf import ToolMissing, require

    victoria = {e.name: e for e in ENGINES}
    engine: PrometheusEngine | VictoriaEngine
    if args.engine in victoria:
        try:
            for binary in ("victoria-metrics", "vmalert", "vmagent", "vmauth"):
                require(binary)
        except ToolMissing as exc:
            raise UsageError(f"--engine {args.engine}: {exc}") from None
        engine = victoria[args.engine]
    else:
        engine = prometheus_engine(args.engine)
    if args.prometheus and isinstance(engine, VictoriaEngine):
        raise UsageError(
            f"--engine {args.engine} replays the synthetic scenarios; history read "
            "with --prometheus is replayed on Prometheus (--engine default, prometheus-2 or prometheus-3)"
        )
    return engine


def _plan(slos: Sequence[SLO], picked: Sequence[str]) -> list[list[Scenario]]:
    """Per SLO, the scenarios meant for its kind (calendar ones at its zone's dates), or those of
    them ``--scenario`` picks. A picked scenario meant for none of the SLOs is a usage error: the
    run would test nothing with it, and pass."""
    from sloctl.backtest.scenarios import meant_for, scenarios_for

    own = [scenarios_for(slo) for slo in slos]
    had = {s.name for scenarios in own for s in scenarios}
    idle = [name for name in dict.fromkeys(picked) if name not in had]
    if idle:
        raise UsageError(
            "; ".join(
                f"--scenario {name}: it is meant for {meant_for(name)}, and none of the {len(slos)} SLO(s)"
                " given is one; pick a scenario of their kind (sloctl backtest --help lists them)"
                for name in idle
            )
        )
    return [[s for s in scenarios if not picked or s.name in picked] for scenarios in own]


def _check_history_flags(args: argparse.Namespace) -> None:
    from sloctl.egress import Egress, EgressDenied
    from sloctl.prometheus import check_url

    if args.scenario:
        raise UsageError("--scenario picks synthetic scenarios; history from --prometheus has none: drop one")
    if args.start is None or args.end is None or args.end <= args.start:
        raise UsageError("--prometheus needs --from and --to, with --from before --to")
    if args.end - args.start > MAX_HISTORY:
        raise UsageError(
            f"--from/--to: {format_duration(args.end - args.start)} of history; give at most "
            f"{format_duration(MAX_HISTORY)} (a calendar quarter), or replay it in parts"
        )
    try:
        check_url(
            args.prometheus,
            Egress.of(args.allow_host, action="read history from Prometheus at", widen="--allow-host"),
        )
    except EgressDenied as exc:
        raise UsageError(str(exc)) from None


def _replay(
    args: argparse.Namespace,
    slos: Sequence[SLO],
    plan: Sequence[Sequence[Scenario]],
    engine: PrometheusEngine | VictoriaEngine,
    workdir: Path,
) -> list[ScenarioResult]:
    """Every SLO's history (``--prometheus``), each in its own directory, or the scenarios of
    ``plan`` (:func:`_plan`) of every SLO together, with progress on stderr."""
    if args.prometheus:
        return _replay_history(args, slos, engine, workdir)
    from sloctl.backtest.run import run_many
    from sloctl.servers import ServerStartError

    runs: list[tuple[SLO, Sequence[Scenario]]] = []
    for i, (slo, chosen) in enumerate(zip(slos, plan, strict=True)):
        progress = f"sloctl backtest: [{i + 1}/{len(slos)}] {slo.id}"
        if not chosen:
            which = "no scenario of --scenario is" if args.scenario else "no scenario is"
            print(f"{progress}: {which} meant for its kind; skipped", file=sys.stderr, flush=True)
            continue
        print(f"{progress}: {', '.join(s.name for s in chosen)}", file=sys.stderr, flush=True)
        runs.append((slo, chosen))
    if not runs:
        return []
    ids = ", ".join(slo.id for slo, _chosen in runs)
    began = time.monotonic()
    try:
        ticker = progress_ticker("backtest")
        results = run_many(
            runs, workdir, service_slos=slos, engine=engine, progress=ticker, start_timeout=args.start_timeout
        )
    except subprocess.TimeoutExpired as exc:
        tool = Path(str(exc.cmd[0])).name if isinstance(exc.cmd, list | tuple) else "a tool"
        raise _NoVerdict(
            f"{ids}: {tool} did not finish within {exc.timeout:g} s (the machine may be"
            " overloaded, or pick fewer scenarios with --scenario); no verdict"
        ) from None
    except subprocess.CalledProcessError as exc:
        detail = (exc.stderr or b"").decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise _NoVerdict(f"{ids}: {Path(str(exc.cmd[0])).name} failed: {detail[0]}") from None
    except ServerStartError as exc:  # the replay's Prometheus (or VictoriaMetrics) did not start
        raise _NoVerdict(f"{ids}: {exc}") from exc  # its cause tells a slow start (say_start_timeout)
    print(
        f"sloctl backtest: {len(runs)} SLO(s) replayed together: done in {time.monotonic() - began:.0f} s",
        file=sys.stderr,
        flush=True,
    )
    return results


def _replay_history(
    args: argparse.Namespace, slos: Sequence[SLO], engine: PrometheusEngine | VictoriaEngine, workdir: Path
) -> list[ScenarioResult]:
    """Every SLO's history from ``--prometheus``, each in its own directory."""
    from sloctl.backtest.run import run_history
    from sloctl.model import CompositeSLI
    from sloctl.prometheus import PrometheusError
    from sloctl.servers import ServerStartError
    from sloctl.shelf import PrometheusEngine

    results: list[ScenarioResult] = []
    for i, slo in enumerate(slos):
        progress = f"sloctl backtest: [{i + 1}/{len(slos)}] {slo.id}"
        if isinstance(slo.sli, CompositeSLI):
            print(f"{progress}: a composite has no history of its own; skipped", file=sys.stderr)
            continue
        assert isinstance(engine, PrometheusEngine)
        print(f"{progress}: history", file=sys.stderr, flush=True)
        try:
            results.extend(
                run_history(
                    slo,
                    args.prometheus,
                    args.start,
                    args.end,
                    workdir / f"{i}-{slo.id}",
                    allow=args.allow_host,
                    engine=engine,
                    token=args.prometheus_token,
                    start_timeout=args.start_timeout,
                )
            )
        except (OSError, PrometheusError) as exc:  # refused, an error answer, an unreadable one, …
            raise _NoVerdict(f"{slo.id}: cannot read its history: {exc}") from None
        except ServerStartError as exc:  # the Prometheus it is replayed in did not start
            raise _NoVerdict(f"{slo.id}: {exc}") from exc  # its cause tells a slow start
    return results

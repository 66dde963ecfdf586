"""``sloctl gameday generate|run|suite|schedule|rig``: SLO-driven Chaos Toolkit game days.

- ``generate [PATH...]``: the five game days of the plan, from the SLO files (default ``slos/``),
  into ``chaos/`` (``-o DIR``);
- ``run EXPERIMENT...``: baseline → inject → recover, then (with a Prometheus) a wait until
  its pages have resolved; verdict, time to detect and to resolve, every page that fired,
  journal + JSON + HTML report; several experiments run one after the other;
  ``--config FILE`` (JSON) or ``--set key=value`` supply the targets; ``--dry-run`` validates
  and changes nothing; an experiment's ``process`` providers and Python modules other than
  sloctl's, which the loopback guard cannot check, are refused unless
  ``--allow-unguarded-providers``; ``--pagerduty`` sends change events at the start and the end,
  ``--practice-incident`` also triggers and resolves a practice incident (the Events API v2
  routing key is read from the environment variable named by ``--pagerduty-routing-key-env``,
  never from the command line); ``--maintenance-service ID`` (repeatable, implies
  ``--pagerduty``) puts those PagerDuty services in a maintenance window during the run, never
  one of the ``--protected-service ID`` (the services of the alert under test, at least one);
  it needs a REST API key in the environment variable named by ``--pagerduty-api-key-env`` and
  ``--pagerduty-from EMAIL``;
- ``suite``: every game day of ``chaos/schedule.yaml``, in sequence, as ``run`` does;
- ``schedule``: ``chaos/schedule.yaml`` → systemd timers, Kubernetes CronJobs, a GitHub
  Actions workflow;
- ``rig``: a local target to try them on (the testbed behind fault proxies, Prometheus with the
  generated rules of ``--slos`` over a backfilled healthy month), until Ctrl-C; it writes the
  ``--config`` file for ``run``. ``--profile quick`` (default) shortens the breakers and
  timeouts so that a game day takes about a minute; ``--profile plan`` keeps the reliability
  plan's. ``--fast-reset N`` divides the rules' short windows by N (a timeslice SLO's slices
  keep at least 10 s), so that pages resolve N times sooner and game days run back to back.

Exit codes: 0 pass (or a dry run), 1 fail or inconclusive (also a run refused because another
game day holds the targets' lock), 2 usage errors, 130 interrupted (Ctrl-C or SIGTERM, during a
game day or between two: the interrupted game day is reported, the ones after it are not run).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sloctl.chaos.profiles import PROFILES
from sloctl.files import json_kind, parse_json
from sloctl.model import FAST_RESET_MIN_SLICE

from ._common import (
    UsageError,
    add_command,
    add_input_arguments,
    add_output_dir_argument,
    add_prometheus_token_argument,
    add_slos_argument,
    add_subcommand,
    default_paths,
    input_path,
    load_slos,
    load_slos_of,
    output_dir,
    output_file,
    output_path,
    prometheus_engine,
)
from ._foreground import (
    add_for_argument,
    add_start_timeout_argument,
    add_workdir_argument,
    in_workdir,
    sigterm_as_ctrl_c,
    start_failed,
    start_interrupted,
    stop_on_signals,
    wait_in_foreground,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sloctl.chaos.pagerduty import GamedayPagerDuty
    from sloctl.chaos.result import GamedayResult
    from sloctl.chaos.schedule import Schedule
    from sloctl.model import SLO

__all__ = ["API_KEY_ENV", "ROUTING_KEY_ENV", "register"]

#: the exit code of a game day that Ctrl-C or SIGTERM interrupted (sloctl's own for Ctrl-C)
EXIT_INTERRUPTED = 130
#: the SLOs whose rules the rig's Prometheus evaluates when ``--slos`` is not given
RIG_SLOS = "slos/platform-api.yaml"
#: default environment variable of the PagerDuty Events API v2 routing key
ROUTING_KEY_ENV = "PAGERDUTY_ROUTING_KEY"
#: default environment variable of the PagerDuty REST API key (maintenance windows)
API_KEY_ENV = "PAGERDUTY_API_KEY"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(subparsers, "gameday", None, __doc__)
    sub = p.add_subparsers(dest="gameday_command", metavar="SUBCOMMAND", required=True)
    gen = add_subcommand(sub, "generate", "write the five game-day experiments from the SLO files")
    add_input_arguments(gen, default="slos/")
    add_output_dir_argument(gen, "output directory (default chaos/)", default="chaos")
    gen.set_defaults(func=_generate, prog=gen.prog)
    run = add_subcommand(sub, "run", "run game days one after the other and report their verdicts")
    run.add_argument(
        "experiments",
        type=Path,
        nargs="+",
        metavar="EXPERIMENT",
        help="Chaos Toolkit experiment files (from gameday generate), run one after the other",
    )
    _run_options(run)
    run.set_defaults(func=_run, prog=run.prog)
    suite = add_subcommand(sub, "suite", "run every game day of a schedule file, one after the other")
    _schedule_file_argument(suite)
    _run_options(suite, config_default=", by default the schedule's spec.config when that file is there")
    suite.set_defaults(func=_suite, prog=suite.prog)
    sch = add_subcommand(
        sub,
        "schedule",
        "write systemd timers, Kubernetes CronJobs and a GitHub Actions workflow from the schedule"
        " file; refused when two game days would fire in one minute, or one while another may still"
        " hold the targets (its maintenance window), or the schedule's config file is there and"
        " leaves a target of a game day unset",
    )
    _schedule_file_argument(sch)
    add_output_dir_argument(sch, "output directory (default chaos/schedule/)", default="chaos/schedule")
    sch.set_defaults(func=_schedule, prog=sch.prog)
    _register_rig(sub)


#: the schedule file of ``suite`` and ``schedule`` when ``--file`` is not given
SCHEDULE = "chaos/schedule.yaml"


def _schedule_file_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--file",
        metavar="FILE",
        type=input_path("file"),
        help=f"the schedule file (default {SCHEDULE}; docs/gameday.md, Schedule)",
    )


def _register_rig(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rig = sub.add_parser(
        "rig",
        help="a local target to try game days on: the testbed behind fault proxies, and Prometheus",
        description="Start the testbed's databases and API with a TCP fault proxy on each database"
        " path, breakers tuned for game days of at most 60 s, and a Prometheus that scrapes the API"
        " and evaluates the generated rules; write the targets for `sloctl gameday run --config`;"
        " stop everything on Ctrl-C, SIGTERM or --for.",
    )
    add_workdir_argument(rig)
    add_for_argument(rig, "30m")
    add_start_timeout_argument(rig, "each server's own, 15 to 60 s")
    add_slos_argument(rig, "whose generated rules Prometheus evaluates", default=RIG_SLOS)
    rig.add_argument(
        "--fast-reset",
        type=int,
        default=1,
        metavar="N",
        help="divide the rules' base and short windows by N so that pages resolve N times sooner"
        " after a fault, the same faults tripping the same pages (burn rates and budgets stay as"
        f" generated; a timeslice SLO's slices keep at least {FAST_RESET_MIN_SLICE} s; docs/gameday.md,"
        " Fast reset); 1 (default): exactly the rules `sloctl generate` writes",
    )
    rig.add_argument(
        "--config-out",
        metavar="FILE",
        type=output_path("file"),
        help="where to write the targets (default: <workdir>/targets.json)",
    )
    rig.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="quick",
        help="timing profile: quick (breakers open 3 s, short timeouts; about a minute per game day) or"
        " plan (the reliability plan's 30 s open, 10 s window, 3/5/10/1 s timeouts)",
    )
    rig.set_defaults(func=_rig, prog=rig.prog)


# Long but flat: one argparse declaration per flag of `gameday run`, nothing else.
def _run_options(parser: argparse.ArgumentParser, config_default: str = "") -> None:
    parser.add_argument(
        "--config",
        metavar="FILE",
        type=input_path("file"),
        help=f"JSON file of configuration values (targets, timings){config_default}; the databases"
        " and proxies have no defaults (gameday rig and testbed up --write-config write such a file);"
        ' a value may come from the environment: {"type": "env", "key": "REDIS_URL"}',
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="one configuration value"
    )
    parser.add_argument(
        "--report-dir",
        metavar="DIR",
        type=output_path("folder"),
        help="default: reports/<experiment>/ beside each experiment; with several, DIR/<experiment>/",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="validate and plan; change nothing (the plan's report is written only with --report-dir)",
    )
    parser.add_argument(
        "--pagerduty",
        action="store_true",
        help="send PagerDuty change events at the start and the end (needs the routing key in the"
        " environment, see --pagerduty-routing-key-env)",
    )
    parser.add_argument(
        "--practice-incident",
        action="store_true",
        help="also trigger and resolve a PagerDuty practice incident (severity info); implies --pagerduty",
    )
    parser.add_argument(
        "--pagerduty-routing-key-env",
        default=ROUTING_KEY_ENV,
        metavar="NAME",
        help="environment variable holding the PagerDuty Events API v2 routing key"
        f" (default {ROUTING_KEY_ENV}); the key itself is never taken on the command line",
    )
    parser.add_argument(
        "--maintenance-service",
        action="append",
        default=[],
        metavar="ID",
        help="PagerDuty service put in a maintenance window for the length of the run and closed"
        " afterwards (repeatable); implies --pagerduty and needs --protected-service, the REST API"
        " key (see --pagerduty-api-key-env) and --pagerduty-from",
    )
    parser.add_argument(
        "--protected-service",
        action="append",
        default=[],
        metavar="ID",
        help="PagerDuty service that receives the alert under test (repeatable): the maintenance"
        " window never covers it",
    )
    parser.add_argument(
        "--pagerduty-api-key-env",
        default=API_KEY_ENV,
        metavar="NAME",
        help="environment variable holding the PagerDuty REST API key for the maintenance window"
        f" (default {API_KEY_ENV}); the key itself is never taken on the command line",
    )
    parser.add_argument(
        "--pagerduty-from",
        metavar="EMAIL",
        help="email address of a PagerDuty user, the From header the REST API requires to open and"
        " close the maintenance window",
    )
    parser.add_argument(
        "--allow-unguarded-providers",
        action="store_true",
        help="run the experiments' process providers and Python modules other than sloctl's, which"
        " the loopback guard cannot check (refused by default); the same as --set"
        " allow_unguarded_providers=true",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="print no progress while a game day runs (only the results)"
    )
    # prometheus_url's: the budget gate, the alert rules, the probes, the stop conditions.
    add_prometheus_token_argument(parser)


def _rig(args: argparse.Namespace) -> int:
    from sloctl.chaos.rig import rig_rules

    slos = load_slos(default_paths(args.slos, RIG_SLOS, "--slos"), windows=args.windows).slos
    try:
        rig_rules(slos, args.fast_reset)  # refused here, before anything starts
    except ValueError as exc:
        raise UsageError(f"--fast-reset {args.fast_reset}: {exc}") from None
    prometheus_engine()  # the rules' Prometheus, found before the testbed starts
    if args.config_out is not None:
        output_file(args.config_out, "--config-out")
    return in_workdir(
        args.workdir, "sloctl-gameday-", lambda w: _run_rig(args, slos, w), "sloctl gameday rig"
    )


def _run_rig(args: argparse.Namespace, slos: Sequence[SLO], workdir: Path) -> int:
    from sloctl.chaos.rig import start_rig
    from sloctl.servers import ServerStartError, first_exited

    config_out: Path = args.config_out or workdir / "targets.json"

    def say(message: str) -> None:
        print(f"sloctl gameday rig: {message}", file=sys.stderr, flush=True)

    with stop_on_signals() as stop, contextlib.ExitStack() as stack:
        try:
            with stop.interrupting():  # a signal stops the start, not only what follows it
                target = stack.enter_context(
                    start_rig(
                        workdir,
                        profile=PROFILES[args.profile],
                        slos=slos,
                        fast_reset=args.fast_reset,
                        progress=say,
                        start_timeout=args.start_timeout,
                    )
                )
        except (ServerStartError, OSError, subprocess.SubprocessError, KeyboardInterrupt) as exc:
            return start_failed("sloctl gameday rig", exc, stop)
        if stop.is_set():
            return start_interrupted("sloctl gameday rig", stop)
        # The targets die with the rig: no stale file that points at closed ports.
        stack.callback(config_out.unlink, missing_ok=True)
        target.write_targets(config_out)
        prometheus = target.prometheus
        assert prometheus is not None  # started with rules
        print(f"{'api':16} {target.api.url}\n{'prometheus':16} {prometheus.url}\n{'targets':16} {config_out}")
        print(f"try: sloctl gameday run chaos/connection-loss.json --config {config_out}", flush=True)
        say(f"running {f'for {args.duration:g} s' if args.duration else 'until Ctrl-C'}")

        # Every server it started: a dead database makes the next game day run on a broken rig.
        reason = wait_in_foreground(stop, args.duration, lambda: first_exited(target.servers))
        say(reason or "stopping ...")
        return 1 if reason else 0


def _schedule(args: argparse.Namespace) -> int:
    from sloctl.chaos.schedule import (
        check_overlaps,
        check_targets,
        environment_names,
        gameday_minutes,
        write_schedule,
    )

    schedule = _load_schedule(args)
    # `suite` runs the same game days one after the other: overlaps are the calendar's alone.
    check_overlaps(schedule, gameday_minutes(schedule))
    check_targets(schedule)
    env = environment_names(schedule)
    for path in write_schedule(schedule, output_dir(args.output, "-o"), env):
        print(path)
    if env:
        print(
            f"sloctl gameday schedule: the game days look up {', '.join(env)} in the environment:"
            f" give them in {schedule.environment_file} (systemd), the Secret {schedule.secret}"
            " (Kubernetes) or the repository's Actions secrets of those names (GitHub)",
            file=sys.stderr,
        )
    return 0


def _generate(args: argparse.Namespace) -> int:
    from sloctl.chaos.experiments import MissingSlo, write_experiments

    slos = load_slos_of(args).slos
    try:
        written = write_experiments(slos, output_dir(args.output, "-o"))
    except MissingSlo as exc:
        print(f"sloctl gameday generate: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    return 0


def _value(text: str) -> Any:
    try:
        return parse_json(text)
    except ValueError:
        return text


def _fail(message: str, command: str = "run") -> int:
    for line in message.splitlines():
        print(f"sloctl gameday {command}: {line}", file=sys.stderr)
    return 2


def _read_json_object(path: Path, what: str) -> dict[str, Any] | str:
    """The JSON object in ``path``, or an error message."""
    try:
        data = parse_json(path.read_text(encoding="utf-8"))
    except OSError as exc:
        return f"{what} {path}: cannot read it: {exc.strerror or exc}"
    except UnicodeDecodeError as exc:
        return f"{what} {path}: not UTF-8 text: {exc.reason} at byte {exc.start}"
    except json.JSONDecodeError as exc:
        return f"{what} {path}: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
    except ValueError as exc:  # nested too deep
        return f"{what} {path}: not valid JSON: {exc}"
    if not isinstance(data, dict):
        return f"{what} {path}: expected a JSON object, found {json_kind(data)}"
    return data


def _configuration(args: argparse.Namespace, declared: set[str]) -> dict[str, Any] | str:
    """``--config``, ``--set``, then ``--allow-unguarded-providers``, or an error message: a
    key neither declared by sloctl (``sloctl.chaos.experiments.SETTINGS``) nor in ``declared``
    (the experiments' own configuration keys), or a value outside its declaration, named with
    where it came from."""
    from sloctl.chaos.experiments import ALLOW_UNGUARDED, CONFIGURATION_HINT, checked_configuration

    configuration: dict[str, Any] = {}
    problems: list[str] = []
    if args.config:
        loaded = _read_json_object(Path(args.config), "--config")
        if isinstance(loaded, str):
            return loaded
        # sloctl's keys given as environment lookups are resolved, then checked as written ones
        loaded, found = checked_configuration(loaded, declared, os.environ)
        problems += [f"--config {args.config}: {p}" for p in found]
        configuration.update(loaded)
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key:
            return f"--set {item!r}: expected KEY=VALUE"
        given, found = checked_configuration({key: _value(value)}, declared, os.environ)
        configuration.update(given)
        problems += [f"--set {item}: {p}" for p in found]
    if problems:
        return "\n".join([*problems, CONFIGURATION_HINT])
    if args.allow_unguarded_providers:
        configuration[ALLOW_UNGUARDED] = True
    return configuration


def _run(args: argparse.Namespace) -> int:
    return _run_experiments(args, list(args.experiments))


def _suite(args: argparse.Namespace) -> int:
    schedule = _load_schedule(args)
    if args.config is None and Path(schedule.config).is_file():
        # the configuration its timers run with (`gameday schedule`): run by hand, the same
        args = argparse.Namespace(**{**vars(args), "config": schedule.config})
    return _run_experiments(args, [Path(entry.experiment) for entry in schedule.gamedays])


def _load_schedule(args: argparse.Namespace) -> Schedule:
    """The ``--file`` schedule, every experiment of it a file; errors: SpecErrors, printed by
    sloctl.cli.main."""
    from sloctl.chaos.schedule import check_experiments, load_schedule

    # `gameday generate` writes experiments, not a calendar: a fresh project has none yet.
    create = "to start one, write a GamedaySchedule there (its format: docs/gameday.md, Schedule)"
    (path,) = default_paths([args.file] if args.file else [], SCHEDULE, "--file", create)
    schedule = load_schedule(Path(path))
    check_experiments(schedule)
    return schedule


def _run_experiments(args: argparse.Namespace, paths: list[Path]) -> int:
    from sloctl.chaos.experiments import ExperimentValueError, check_experiment_values, experiment_problem

    experiments: dict[Path, dict[str, Any]] = {}
    for path in paths:
        if (problem := experiment_problem(path)) is not None:
            return _fail(f"{path}: {problem}", args.gameday_command)
        experiment = _read_json_object(path, "experiment")
        if isinstance(experiment, str):
            return _fail(experiment, args.gameday_command)
        experiments[path] = experiment
    declared = {
        str(k)
        for e in experiments.values()
        if isinstance(e.get("configuration"), dict)
        for k in e["configuration"]
    }
    configuration = _configuration(args, declared)
    if isinstance(configuration, str):
        return _fail(configuration, args.gameday_command)
    try:  # every experiment's own values, before any of them runs
        check_experiment_values(experiments, configuration)
    except ExperimentValueError as exc:
        return _fail(str(exc), args.gameday_command)
    pagerduty = _pagerduty(args)
    if isinstance(pagerduty, str):
        return _fail(pagerduty, args.gameday_command)
    if args.report_dir is not None:
        output_dir(args.report_dir, "--report-dir")
    if args.dry_run:  # changes nothing: no lock to take
        return _in_sequence(args, experiments, configuration, pagerduty)
    from sloctl.chaos.lock import GamedayLocked, LockFileError, gameday_lock, lock_path

    reports = args.report_dir or output_dir(paths[0].parent / "reports", "--report-dir")
    lock = lock_path(Path(args.config) if args.config else None, reports)
    with sigterm_as_ctrl_c():
        try:
            with gameday_lock(lock):
                return _in_sequence(args, experiments, configuration, pagerduty)
        except GamedayLocked as exc:
            print(f"sloctl gameday {args.gameday_command}: refused: {exc}", file=sys.stderr)
            return 1
        except LockFileError as exc:
            return _fail(str(exc), args.gameday_command)


def _in_sequence(
    args: argparse.Namespace,
    experiments: dict[Path, dict[str, Any]],
    configuration: dict[str, Any],
    pagerduty: GamedayPagerDuty | None,
) -> int:
    """Every game day one after the other, its result printed; an interrupt ends the sequence
    (:data:`EXIT_INTERRUPTED`, :func:`_interrupted` says what ran and what did not), whether it
    came during a game day's run or outside one (between two, while one loads or is printed)."""
    results: list[GamedayResult] = []
    during: Path | None = None  # the game day being run, until its result is in
    try:
        for index, (path, experiment) in enumerate(experiments.items(), 1):
            during = path
            if not args.quiet and len(experiments) > 1:
                _progress(f"game day {index} of {len(experiments)}: {path}")
            several = args.report_dir and len(experiments) > 1
            out_dir = args.report_dir / path.stem if several else args.report_dir
            result = _run_one(args, path, experiment, configuration, pagerduty, out_dir)
            if isinstance(result, int):
                return result
            results.append(result)
            during = None
            _print_result(args, result, _pagerduty_sent(args, experiment, configuration, pagerduty))
            if result.interrupted:
                return _interrupted(list(experiments), results, None)
    except KeyboardInterrupt:  # outside a game day's run, which reports its own as interrupted
        return _interrupted(list(experiments), results, during)
    verdicts = [result.verdict for result in results]
    if len(verdicts) > 1 and args.dry_run:
        print(f"{len(verdicts)} game days planned (dry run), nothing run")
    elif len(verdicts) > 1:
        print(f"{sum(v == 'pass' for v in verdicts)} of {len(verdicts)} game days passed")
    return 0 if all(v in ("pass", "dry-run") for v in verdicts) else 1


def _interrupted(paths: list[Path], results: list[GamedayResult], during: Path | None) -> int:
    """The summary of a sequence an interrupt ended, the same whichever path it took: the game
    day it came ``during`` (while it loaded or wrote its report, outside its run) said
    interrupted, every later one not run (why), then how many ran; :data:`EXIT_INTERRUPTED`."""
    if during is not None or not results:
        why = f"the sequence ended when {during} was interrupted"
    elif results[-1].interrupted:
        why = f"the sequence ended when {results[-1].gameday} was interrupted"
    else:
        why = f"the sequence was interrupted after {results[-1].gameday}"
    for rest in paths[len(results) :]:
        print(f"{rest}: interrupted before its result" if rest == during else f"{rest}: not run ({why})")
    if len(paths) > 1:
        print(f"interrupted: {len(results)} of {len(paths)} game days run")
    return EXIT_INTERRUPTED


def _progress(message: str) -> None:
    print(f"sloctl gameday: {message}", file=sys.stderr, flush=True)


def _run_one(
    args: argparse.Namespace,
    path: Path,
    experiment: dict[str, Any],
    configuration: dict[str, Any],
    pagerduty: GamedayPagerDuty | None,
    out_dir: Path | None,
) -> GamedayResult | int:
    """One game day's result; an exit code when it could not run at all."""
    from chaoslib.exceptions import ChaosException, InvalidActivity, InvalidControl, InvalidExperiment

    from sloctl.chaos.experiments import ExperimentValueError
    from sloctl.chaos.gameday import run_gameday
    from sloctl.chaos.pagerduty import MaintenanceWindowError

    try:
        result = run_gameday(
            path,
            configuration=configuration,
            out_dir=out_dir,
            dry_run=args.dry_run,
            # A dry run sends nothing: run_gameday does not get a client at all.
            pagerduty=None if args.dry_run else pagerduty,
            practice_incident=pagerduty is not None and args.practice_incident and not args.dry_run,
            maintenance_services=tuple(args.maintenance_service),
            protected_services=tuple(args.protected_service),
            progress=None if args.quiet else _progress,
            prometheus_token=args.prometheus_token,
        )
    except MaintenanceWindowError as exc:
        return _fail(f"--maintenance-service: {exc}", args.gameday_command)
    except ExperimentValueError as exc:  # the file changed since it was checked
        return _fail(str(exc), args.gameday_command)
    except (InvalidExperiment, InvalidActivity, InvalidControl) as exc:
        return _fail(
            f"{path}: Chaos Toolkit rejected the experiment: {str(exc).strip()}", args.gameday_command
        )
    except ChaosException as exc:
        return _fail(f"{path}: Chaos Toolkit: {str(exc).strip()}", args.gameday_command)
    except Exception as exc:
        if pagerduty is not None and _is_pagerduty_error(exc):
            maintenance = (
                f", the REST API key in ${args.pagerduty_api_key_env} and --pagerduty-from"
                if args.maintenance_service
                else ""
            )
            return _fail(
                f"PagerDuty refused a request ({exc}); check the routing key in"
                f" ${args.pagerduty_routing_key_env}{maintenance}",
                args.gameday_command,
            )
        raise
    return result


def _pagerduty_sent(
    args: argparse.Namespace,
    experiment: dict[str, Any],
    configuration: dict[str, Any],
    pagerduty: GamedayPagerDuty | None,
) -> str | None:
    """What a run with PagerDuty sends it, for the printed result; None without PagerDuty."""
    from sloctl.chaos.gameday import apply_configuration, maintenance_minutes

    if pagerduty is None:
        return None
    sent = "change events at start and end" + (
        ", practice incident triggered and resolved" if args.practice_incident else ""
    )
    if args.maintenance_service:
        minutes = maintenance_minutes(apply_configuration(experiment, configuration)["configuration"])
        services = ", ".join(sorted(set(args.maintenance_service)))
        sent += f", maintenance window on {services} ({minutes} min, closed after the run)"
    return sent


def _settle(result: GamedayResult) -> str:
    """The settle the wait for the pages held out for, in words; nothing when it did not wait."""
    if result.resolve_settle_s is None:
        return ""
    return f" (settle: quiet {result.resolve_settle_s:g} s after the run)"


def _print_result(args: argparse.Namespace, result: GamedayResult, pagerduty_sent: str | None) -> None:
    """``pagerduty_sent``: what the run sends PagerDuty (:func:`_pagerduty_sent`); None without it."""
    from sloctl.reports.gameday import figure

    print(f"{result.gameday}: {result.verdict}")
    for reason in result.reasons:
        print(f"  - {reason}")
    print(
        f"  time to detect (page): {figure(result, 'time_to_detect_s')},"
        f" time to resolve: {figure(result, 'time_to_resolve_s')}{_settle(result)},"
        f" breaker open: {figure(result, 'breaker_open_s')},"
        f" time to recover: {figure(result, 'time_to_recover_s')},"
        f" budget consumed: {figure(result, 'budget_consumed_percent')}"
    )
    print(f"  timing profile: {result.timing_profile or 'not stated'}")
    if result.fast_reset > 1:
        print(f"  rules' short windows: ÷ {result.fast_reset} (fast reset)")
    for alert, state in result.alerts.items():
        print(f"  {alert}: {state}")
    for alert, state in result.pages.items():
        print(f"  page {alert}: {state}")
    if pagerduty_sent is not None:
        if args.dry_run:
            print(f"  pagerduty: dry run, nothing sent to PagerDuty (a real run sends {pagerduty_sent})")
        else:
            print(f"  pagerduty: sent {pagerduty_sent}")
    for kind, path in result.files.items():
        print(f"  {kind}: {path}")


def _from_environment(name: str) -> str:
    return os.environ.get(name, "").strip() if name else ""


def _missing(name: str) -> str:
    return f"{name or '(empty name)'}, which {'is empty' if name in os.environ else 'is not set'}"


def _pagerduty(args: argparse.Namespace) -> GamedayPagerDuty | str | None:
    """The PagerDuty client asked for by the options, ``None`` when none was, or an error
    message when something it needs is missing (a key, the From address) or when the
    maintenance window would cover a protected service."""
    maintenance: list[str] = args.maintenance_service
    if not (args.pagerduty or args.practice_incident or maintenance):
        return None
    from sloctl.chaos.pagerduty import GamedayPagerDuty, MaintenanceWindowError, check_maintenance_services

    if maintenance:
        try:
            check_maintenance_services(maintenance, args.protected_service)
        except MaintenanceWindowError as exc:
            hint = " (--protected-service ID)" if not args.protected_service else ""
            return f"--maintenance-service: {exc}{hint}"
    name: str = args.pagerduty_routing_key_env
    key = _from_environment(name)
    if not key:
        if args.pagerduty:
            option = "--pagerduty"
        elif args.practice_incident:
            option = "--practice-incident"
        else:
            option = "--maintenance-service"
        return (
            f"{option} needs the PagerDuty Events API v2 routing key in the environment variable"
            f" {_missing(name)} (choose the variable with --pagerduty-routing-key-env NAME)"
        )
    if not maintenance:
        return GamedayPagerDuty(routing_key=key)
    api_name: str = args.pagerduty_api_key_env
    api_key = _from_environment(api_name)
    if not api_key:
        return (
            "--maintenance-service needs a PagerDuty REST API key in the environment variable"
            f" {_missing(api_name)} (choose the variable with --pagerduty-api-key-env NAME)"
        )
    sender = (args.pagerduty_from or "").strip()
    if not sender:
        return (
            "--maintenance-service needs --pagerduty-from EMAIL, the email address of a PagerDuty"
            " user (the REST API requires a From header to open and close a maintenance window)"
        )
    if "@" not in sender or any(c.isspace() for c in sender):
        return f"--pagerduty-from {sender!r}: not an email address"
    return GamedayPagerDuty(routing_key=key, api_key=api_key, from_email=sender)


def _is_pagerduty_error(exc: BaseException) -> bool:
    try:
        import pagerduty
    except ImportError:  # pragma: no cover - the chaos extra installs it
        return False
    return isinstance(exc, pagerduty.Error)

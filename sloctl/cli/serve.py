"""``sloctl serve --prometheus URL [SLO paths]``: the SLO web UI, read-only, on loopback.

Serves a read-only web UI over a live Prometheus that evaluates the generated rules: an overview
of every SLO (the numbers of ``sloctl status``), a page per SLO with its SLI, budget burn-down and
burn rates per alert window, and the game days, load tests and backtests found in report
directories. With --demo, a throwaway Prometheus on loopback is filled from the backtest's
scenarios for the given SLOs first.

Exit codes: 0 stopped (Ctrl-C, SIGTERM, ``--for``), 1 Prometheus or the demo could not start,
or SLO files with errors, 2 usage (a bad flag, a URL or listen address outside loopback, a listen
address in use)."""

from __future__ import annotations

import argparse
import contextlib
import errno
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from sloctl.cli._common import (
    UsageError,
    add_command,
    add_input_arguments,
    add_prometheus_arguments,
    add_timeout_argument,
    default_paths,
    http_url,
    input_path,
    load_slos_of,
    output_dir,
    output_path,
    prometheus_engine,
)
from sloctl.serve.app import RANGES

from ._foreground import (
    add_for_argument,
    add_start_timeout_argument,
    duration_flag,
    say_start_timeout,
    sigterm_as_ctrl_c,
    stop_on_signals,
    wait_in_foreground,
)

if TYPE_CHECKING:
    from sloctl.model import SLO
    from sloctl.serve import ServeConfig
    from sloctl.serve.server import Bound

__all__ = ["register"]

_EXPOSE_HELP = (
    "allow a non-loopback --listen address; needs --basic-auth-file or --behind-proxy "
    "(docs/serve.md shows a reverse-proxy set-up)"
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(subparsers, "serve", _run, __doc__)
    # The SLOs' spec links and designed detection times, read as generate reads them.
    add_input_arguments(p, optional="default slos/ with --demo, none with --prometheus")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--demo", action="store_true", help="start a throwaway Prometheus full of scenario data")
    # after --demo, so that usage keeps the pair together: (--demo | --prometheus URL)
    add_prometheus_arguments(p, group=src)
    p.add_argument("--listen", default="127.0.0.1:8080", metavar="HOST:PORT", help="default 127.0.0.1:8080")
    p.add_argument("--expose", action="store_true", help=_EXPOSE_HELP)
    p.add_argument(
        "--basic-auth-file", type=input_path("file"), metavar="FILE", help="one line user:password"
    )
    p.add_argument("--behind-proxy", action="store_true", help="a reverse proxy in front authenticates")
    p.add_argument("--gamedays", action="append", type=input_path("folder"), default=[], metavar="DIR",
                   help="game-day reports (repeatable; default chaos/reports if it exists)")  # fmt: skip
    p.add_argument("--loadtests", action="append", type=input_path("folder"), default=[], metavar="DIR",
                   help="load-test reports (repeatable; default loadtest-report if it exists)")  # fmt: skip
    p.add_argument("--backtests", action="append", type=input_path("folder"), default=[], metavar="DIR",
                   help="backtest JSON reports (repeatable; default backtest-report if any)")  # fmt: skip
    p.add_argument("--range", choices=("period", *RANGES),
                   help="the SLO pages' time range (default: the SLO's period; 6h with --demo)")  # fmt: skip
    p.add_argument(
        "--grafana-url",
        type=http_url,
        default=None,
        metavar="URL",
        help="link each SLO to its generated dashboard (default: grafana.url of the project file)",
    )
    p.add_argument("--cache", type=duration_flag, default=10.0, metavar="DURATION",
                   help="how long a read of Prometheus is reused (default 10s)")  # fmt: skip
    add_timeout_argument(p)
    add_for_argument(p, "1h")
    p.add_argument(
        "--workdir",
        metavar="DIR",
        type=output_path("folder"),
        help="--demo: keep the throwaway Prometheus' data here",
    )
    add_start_timeout_argument(p, "its own, 60 s", what="--demo's Prometheus")


def _default_dirs(named: list[str], default: str, flag: str) -> tuple[Path, ...]:
    """The runs folders of ``flag``: ``given``, else ``default`` when it is a folder. A given
    folder that is not there yet is said once and kept; a file there is a usage error (it never
    becomes a folder: its runs would never show, and nothing would say why)."""
    given = [Path(name) for name in named]
    for path in given:
        if path.exists() and not path.is_dir():
            raise UsageError(f"{flag} {path}: that is a file, not a folder; give the folder of the reports")
        if not path.is_dir():
            # Runs may land there later (the pages list the folders again as their cache expires).
            print(
                f"sloctl serve: {flag} {path}: no such folder yet; its runs show once it exists",
                file=sys.stderr,
            )
    if given:
        return tuple(given)
    return (Path(default),) if Path(default).is_dir() else ()


def _run(args: argparse.Namespace) -> int:
    from sloctl.serve import ServeConfig

    if args.workdir is not None and not args.demo:
        raise UsageError(
            "--workdir keeps the data of --demo's Prometheus: give it with --demo, or leave it out"
        )
    if args.start_timeout is not None and not args.demo:
        raise UsageError(
            "--start-timeout bounds the start of --demo's Prometheus: give it with --demo, or leave it out"
        )
    specs = _specs(args)
    auth = _auth(Path(args.basic_auth_file) if args.basic_auth_file else None)
    config = ServeConfig(
        specs=specs,
        run_dirs={
            "gameday": _default_dirs(args.gamedays, "chaos/reports", "--gamedays"),
            "loadtest": _default_dirs(args.loadtests, "loadtest-report", "--loadtests"),
            "backtest": _default_dirs(args.backtests, "backtest-report", "--backtests"),
        },
        grafana_url=args.grafana_url or _project_grafana_url(args),
        cache_seconds=args.cache,
        default_range=args.range or ("6h" if args.demo else "period"),
    )
    if args.demo:
        prometheus_engine()  # the demo's Prometheus and promtool, found before any work
    workdir = output_dir(args.workdir, "--workdir") if args.demo and args.workdir is not None else None
    bound = _bind(args, auth)  # before --demo's minute of work: a port in use is said at once
    try:
        with contextlib.ExitStack() as stack:
            url = args.prometheus
            if args.demo:
                from sloctl.serve.demo import DemoError, demo

                # Ctrl-C and SIGTERM stop the backfill at once (its Prometheus and promtool
                # stopped on the way out), rather than being noted and acted on after it.
                with sigterm_as_ctrl_c():
                    try:
                        url = stack.enter_context(
                            demo(
                                specs,
                                workdir=workdir,
                                progress=lambda m: print(m, file=sys.stderr),
                                start_timeout=args.start_timeout,
                            )
                        )
                    except DemoError as exc:
                        print(f"sloctl serve: {exc}", file=sys.stderr)
                        say_start_timeout("sloctl serve", exc)
                        return 1
            with stop_on_signals() as stop:
                return _serve(args, config, url, bound, stop)
    finally:
        bound.close()


def _bind(args: argparse.Namespace, auth: str | None) -> Bound:
    from sloctl.serve.server import ListenError, bind

    try:
        return bind(args.listen, expose=args.expose, auth=auth, behind_proxy=args.behind_proxy)
    except ListenError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:  # not this machine's address, in use, or a port this user may not take
        if exc.errno == errno.EADDRNOTAVAIL:
            raise UsageError(
                f"--listen {args.listen}: cannot listen there ({exc.strerror}): no interface of this"
                " machine has that address; give one it has (ip address lists them), or 127.0.0.1"
            ) from None
        raise UsageError(
            f"--listen {args.listen}: cannot listen there ({exc.strerror or exc}); give another "
            "port (HOST:0 takes any free one)"
        ) from None


def _specs(args: argparse.Namespace) -> tuple[SLO, ...]:
    """The SLOs given (default slos/ with --demo); files with errors are printed as every
    command prints them (exit 1)."""
    if args.demo:
        args.paths = default_paths(args.paths, "slos", "PATH")
    if not args.paths:
        return ()
    return tuple(load_slos_of(args).slos)


def _project_grafana_url(args: argparse.Namespace) -> str:
    """``grafana.url`` of the project file read with the SLO files (as ``generate`` reads it for
    the notifications' links), or none."""
    project = getattr(args, "project", None)
    url = project.get("grafana.url") if project is not None else None
    return url if isinstance(url, str) else ""


def _auth(path: Path | None) -> str | None:
    if path is None:
        return None
    from sloctl.serve.server import basic_auth_problem

    try:
        auth = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise UsageError(f"--basic-auth-file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"--basic-auth-file {path}: not UTF-8 text; give one line user:password") from None
    if problem := basic_auth_problem(auth):
        raise UsageError(f"--basic-auth-file {path}: {problem}")
    return auth


def _serve(
    args: argparse.Namespace, config: ServeConfig, url: str, bound: Bound, stop: threading.Event
) -> int:
    """Serve the UI over the Prometheus at ``url`` until ``stop`` or ``--for``."""
    from sloctl.egress import Egress, EgressDenied
    from sloctl.masking import mask_text
    from sloctl.prometheus import Prometheus
    from sloctl.serve import App
    from sloctl.serve.server import settle_heap

    egress = Egress.of(args.allow_host, action="query Prometheus at", widen="--allow-host")
    try:
        prom = Prometheus(url, egress=egress, timeout=args.timeout, token=args.prometheus_token)
    except EgressDenied as exc:
        raise UsageError(str(exc)) from None
    with prom:
        app = App(config, prom)
        settle_heap()
        listener = bound.serve(app)
        print(f"sloctl serve: {listener.url}/ (Prometheus {mask_text(url)}); Ctrl-C stops", file=sys.stderr)
        try:
            wait_in_foreground(stop, args.duration, lambda: None)
        finally:
            listener.stop()
            app.close()
    return 0

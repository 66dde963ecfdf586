"""``sloctl generate`` and ``sloctl test``."""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sloctl import naming
from sloctl.cli._common import (
    UsageError,
    add_command,
    add_compat_argument,
    add_engine_argument,
    add_input_arguments,
    add_jobs_argument,
    add_output_dir_argument,
    cpu_jobs,
    load_slos_of,
    output_dir,
    progress_ticker,
    prometheus_engine,
)
from sloctl.cli._foreground import sigterm_as_ctrl_c
from sloctl.durations import DurationError, format_duration, parse_duration
from sloctl.generate import (
    ALERTMANAGER_FILE,
    RULES_DIR,
    GenerateOptions,
    check_outputs,
    plan_outputs,
    write_outputs,
)
from sloctl.model import SLO
from sloctl.promtool import PromtoolMissing, run_rule_tests
from sloctl.render.alertmanager import AlertmanagerOptions, OptionsError, TeamReceivers, unused_teams
from sloctl.render.flavours import FLAVOURS, FlavourOptionError
from sloctl.spec.project import SETTINGS, Project, Setting, problem
from sloctl.spec.promcheck import SEVERITY_IS_SLOCTLS, label_problem


def _pairs(items: list[str], flag: str) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{flag} expects KEY=VALUE, got {item!r}")
        out.append((key, value))
    return tuple(sorted(out))


# Settings whose built-in default is a loopback URL: a project file must set them.
_NO_LOOPBACK_DEFAULT = ("grafana.url", "alertmanager.ticketWebhookUrl")


def _flag_or_file(args: argparse.Namespace, project: Project, setting: Setting) -> object:
    """The flag's value when given, else the project file's (None when neither)."""
    given = getattr(args, setting.dest, None)
    if setting.key == "output":  # a Path (output_path), or None: the project file's
        given = None if args.output is None else str(args.output)
    elif setting.key == "flavour":
        given = args.flavour
    elif setting.key == "extraLabels":
        given = None  # merged key by key with --extra-label
    if given not in (None, []):
        return given
    return project.get(setting.key)


def _text(settings: dict[str, object], key: str, default: str) -> str:
    value = settings.get(key)
    return value if isinstance(value, str) and value else default


def _map(value: object) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _generate(args: argparse.Namespace) -> int:
    extra = _pairs(args.extra_label, "--extra-label")
    op_labels = _pairs(args.operator_label, "--operator-label")
    _check_operator_labels(op_labels)
    # The same rules as alert labels in SLO files: these go on every generated rule.
    _check_labels(extra, lambda key, value: f"--extra-label {key}={value}")
    interval = _interval(args.interval)
    jobs = cpu_jobs(args.jobs)
    result = load_slos_of(args)
    _check_interval(args.interval, interval, result.slos)
    project: Project = args.project
    _check_setting_flags(args)
    settings = {s.key: _flag_or_file(args, project, s) for s in SETTINGS}
    _check_flag_combinations(args, str(settings["flavour"] or "prometheus"))
    # Labels from the project file (checked where it was read), then --extra-label (which wins
    # for a key in both).
    given = dict(extra)
    extra = tuple(sorted({**_map(project.get("extraLabels")), **given}.items()))
    if args.compat != "sloth":
        _check_no_severity(dict(extra), given, project)
    output = _output(args, settings["output"], project)
    sloth = args.compat == "sloth"
    alertmanager = not args.no_alertmanager and not sloth
    if project.source and alertmanager:
        _check_alertmanager_urls(project, settings)
    am_options = _alertmanager_options(settings, tuple(k for k, _ in extra)) if alertmanager else None
    if am_options is not None:
        _warn_unused_teams(result.slos, am_options, project)
    components = settings["dashboards.components"]
    options = GenerateOptions(
        flavour=str(settings["flavour"] or "prometheus"),
        compat=args.compat,
        tests=not args.no_tests and not sloth,
        dashboards=not args.no_dashboards and not sloth,
        alertmanager=alertmanager,
        interval=interval,
        extra_labels=extra,
        operator_labels=op_labels,
        namespace=args.namespace or GenerateOptions.namespace,
        disable_alerts=args.disable_alerts,
        disable_recordings=args.disable_recordings,
        jobs=jobs,
        source_root=str(Path(output).absolute()) if Path(args.paths[0]).is_absolute() else output,
        alertmanager_options=am_options or AlertmanagerOptions(),
        datasource_uid=_text(settings, "grafana.datasourceUid", "") or None,
        components=tuple(components) if isinstance(components, list) else None,
        grafana_folder=_text(settings, "grafana.folder", GenerateOptions.grafana_folder),
        grafana_path=_text(settings, "grafana.path", GenerateOptions.grafana_path),
    )
    planned = _plan(result.slos, options)
    if planned is None:
        return 1
    return _check(args, planned) if args.check else _write(args, planned, len(result.slos))


def _plan(slos: Sequence[SLO], options: GenerateOptions) -> dict[str, str] | None:
    """Every output of ``slos``, its progress said; None once the SLOs' own error is printed. SIGTERM
    unwinds as Ctrl-C does, so that the worker processes are stopped on the way out rather than
    left rendering for a parent that is gone."""
    try:
        with sigterm_as_ctrl_c():
            return plan_outputs(slos, options, progress=progress_ticker("generate"))
    except FlavourOptionError as exc:
        raise UsageError(str(exc)) from None
    except ValueError as exc:
        for line in str(exc).splitlines():
            print(f"sloctl generate: {line}", file=sys.stderr)
        return None


def _output(args: argparse.Namespace, output: object, project: Project) -> str:
    """The output folder, from -o or the project file, kept in ``args.output``; and in
    ``args.output_flag`` where it was given, which a folder that cannot be made is said against."""
    if not isinstance(output, str) or not output:
        raise UsageError("give -o DIR, or output in the project file")
    args.output_flag = "-o" if args.output else f"{project.source}: output"
    args.output = output
    return output


def _interval(flag: str | None) -> int | None:
    if not flag:
        return None
    try:
        return parse_duration(flag)
    except DurationError as exc:
        raise UsageError(f"--interval: {exc}") from None


def _check_interval(flag: str | None, interval: int | None, slos: Sequence[SLO]) -> None:
    """``--interval`` is at most the shortest base window of ``slos``."""
    shortest = min(slos, key=lambda slo: slo.base_window, default=None)
    if interval is not None and shortest is not None and interval > shortest.base_window:
        # Each recording is a rate over the base window: a longer interval would skip events
        # between evaluations and leave the recordings stale (absent) between them.
        raise UsageError(
            f"--interval {flag}: give at most {format_duration(shortest.base_window)}, the base "
            f"window of {shortest.id} (its rules record rates over it at every evaluation)"
        )


def _check_setting_flags(args: argparse.Namespace) -> None:
    """The flags of project settings hold what the file's keys must (a URL, known components):
    a usage error naming the flag, before anything is written."""
    for setting in SETTINGS:
        given = getattr(args, setting.dest, None)
        if isinstance(given, str) and not given.strip():
            # read as "not set": the default was used without a word (the file's key says so too)
            raise UsageError(f"{setting.flag}: empty; give a value, or leave the flag out for the default")
        wrong = problem(setting, given) if given is not None else None
        if wrong:
            raise UsageError(f"{setting.flag}: {wrong}")


def _check_flag_combinations(args: argparse.Namespace, flavour: str) -> None:
    """Flags that would do nothing with the others (``flavour`` from the flag or the project
    file) are refused, not ignored."""
    sloth_only = (
        "--disable-alerts"
        if args.disable_alerts
        else "--disable-recordings"
        if args.disable_recordings
        else ""
    )
    if sloth_only and args.compat != "sloth":
        raise UsageError(
            f"{sloth_only} applies to --compat sloth only (sloctl's alerts, dashboards and "
            "status need all of its own rules)"
        )
    if args.compat == "sloth" and flavour != "prometheus":
        raise UsageError(
            f"--flavour {flavour} (or flavour in the project file): --compat sloth writes Sloth's "
            "plain rule groups only; leave out one of the two"
        )
    if (args.operator_label or args.namespace is not None) and flavour != "operator":
        flag = "--operator-label" if args.operator_label else "--namespace"
        raise UsageError(f"{flag} applies to --flavour operator only")
    if args.namespace is not None and not _DNS_LABEL.fullmatch(args.namespace):
        raise UsageError(
            f"--namespace {args.namespace!r}: a Kubernetes namespace is lower-case letters, digits and "
            "'-', at most 63, starting and ending with a letter or digit"
        )


#: A Kubernetes namespace (an RFC 1123 DNS label).
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
#: A Kubernetes label's name (after its optional prefix, a DNS subdomain of at most 253
#: characters, and '/') and its value (which may be empty): at most 63 letters, digits, '-',
#: '_' and '.', starting and ending with a letter or digit. The API server refuses an object
#: with another label, so the PrometheusRule written would not apply.
_K8S_LABEL_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
_DNS_SUBDOMAIN_MAX = 253


def _check_operator_labels(labels: Sequence[tuple[str, str]]) -> None:
    """A usage error for the first ``--operator-label`` Kubernetes would refuse on the
    PrometheusRule (the namespace, alike, is checked in :func:`_check_flag_combinations`)."""
    text = "at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
    for key, value in labels:
        prefix, slash, name = key.rpartition("/")
        domain = prefix.split(".") if slash else []
        if len(prefix) > _DNS_SUBDOMAIN_MAX or not all(_DNS_LABEL.fullmatch(part) for part in domain):
            wrong = f"its prefix {prefix!r} is not a DNS subdomain such as example.com"
        elif not _K8S_LABEL_NAME.fullmatch(name):
            wrong = f"its name {name!r} is not a Kubernetes label name ({text})"
        elif value and not _K8S_LABEL_NAME.fullmatch(value):
            wrong = f"its value {value!r} is not a Kubernetes label value ({text}, or empty)"
        else:
            continue
        raise UsageError(f"--operator-label {key}={value}: {wrong}")


def _check_alertmanager_urls(project: Project, settings: Mapping[str, object]) -> None:
    """With a project file nothing falls back to a loopback URL unless the file says so."""
    missing = [s.key for s in SETTINGS if s.key in _NO_LOOPBACK_DEFAULT and not settings[s.key]]
    if missing:
        flags = ", ".join(next(s.flag for s in SETTINGS if s.key == k) for k in missing)
        raise UsageError(
            f"{project.source}: set {', '.join(missing)} (or {flags}) for the "
            "Alertmanager configuration, or pass --no-alertmanager"
        )


def _check_no_severity(labels: Mapping[str, str], given: Mapping[str, str], project: Project) -> None:
    """A usage error for a ``severity`` among the labels of every rule (``--extra-label``, the
    project file's ``extraLabels``): it would stand on recording rules and be replaced by
    sloctl's page or ticket on alerts, so routes on it would never match."""
    sev = naming.LABEL_SEVERITY
    if sev in labels:
        where = (
            f"--extra-label {sev}={given[sev]}" if sev in given else f"{project.source}: extraLabels.{sev}"
        )
        raise UsageError(
            f"{where}: label 'severity' is sloctl's: {SEVERITY_IS_SLOCTLS}; name this label otherwise"
        )


def _check_labels(labels: Sequence[tuple[str, str]], where: Callable[[str, str], str]) -> None:
    """A usage error, at ``where`` the label was given, for the first label that is not valid."""
    for key, value in labels:
        problem = label_problem(key, value, templated=True)
        if problem:
            raise UsageError(f"{where(key, value)}: {problem}")


# AlertmanagerOptions field → the setting that gives it.
_ALERTMANAGER_SETTINGS = {
    "page_receiver": "alertmanager.pageReceiver",
    "ticket_receiver": "alertmanager.ticketReceiver",
    "routing_key_file": "alertmanager.pagerdutyRoutingKeyFile",
    "ticket_webhook_url": "alertmanager.ticketWebhookUrl",
    "grafana_url": "grafana.url",
    "team_label": "alertmanager.teamLabel",
    "teams": "alertmanager.teams",
    "instance_labels": "extraLabels",
}


def _alertmanager_options(
    settings: dict[str, object], instance_labels: tuple[str, ...]
) -> AlertmanagerOptions:
    """The fragment's settings from the flags and the project file; ``instance_labels``: the keys
    of the labels on every rule (``--extra-label``), which tell one Prometheus' alerts apart."""
    defaults = AlertmanagerOptions()
    values: dict[str, Any] = {
        name: _text(settings, key, getattr(defaults, name))
        for name, key in _ALERTMANAGER_SETTINGS.items()
        if name not in ("teams", "instance_labels")
    }
    table = settings["alertmanager.teams"]
    teams = tuple(
        (
            str(team),
            TeamReceivers(str(own.get("pagerdutyRoutingKeyFile", "")), str(own.get("ticketWebhookUrl", ""))),
        )
        for team, own in sorted(table.items() if isinstance(table, dict) else [])
    )
    try:
        return AlertmanagerOptions(**values, teams=teams, instance_labels=instance_labels)
    except OptionsError as exc:  # receivers of one name, a relative key file, …
        by_key = {s.key: s for s in SETTINGS}
        where = [by_key[_ALERTMANAGER_SETTINGS[o]] for o in exc.options]
        *rest, last = [s.key if s.kind == "table" else s.flag for s in where]
        named = f"{', '.join(rest)} and {last}" if rest else last
        raise UsageError(f"{named} (or the project file's alertmanager section): {exc}") from None


def _warn_unused_teams(slos: Sequence[SLO], options: AlertmanagerOptions, project: Project) -> None:
    """A warning for each team of ``alertmanager.teams`` that no SLO's alerts name."""
    for team in unused_teams(slos, options):
        print(
            f"warning: {project.source}: alertmanager.teams.{team}: no SLO's alerts carry "
            f"{options.team_label}={team!r}; this team's receivers are left out of the fragment",
            file=sys.stderr,
        )


def _check(args: argparse.Namespace, planned: Mapping[str, str]) -> int:
    """``--check``: exit 1, with the differences, when a generated file is not what it would be."""
    diffs = check_outputs(Path(args.output), planned)
    if diffs:
        sys.stdout.write("".join(diffs))
        print(
            f"{len(diffs)} generated file(s) are stale; run: sloctl generate {' '.join(args.paths)} "
            f"-o {args.output}",
            file=sys.stderr,
        )
        return 1
    print(f"up to date: {len(planned)} generated file(s)")
    return 0


def _write(args: argparse.Namespace, planned: Mapping[str, str], slos: int) -> int:
    root = Path(args.output)
    made = [d for d in (root, *root.parents) if not d.exists()]
    # Made only now, once every usage error and the plan are through: a refused run leaves
    # nothing behind; a folder that cannot be made is a usage error naming where it was given.
    output_dir(root, args.output_flag)
    try:
        # SIGTERM (a CI job's timeout) unwinds as Ctrl-C does, so that the staged files go: it
        # killed the process mid-way, leaving thousands of hidden .tmp files in the output
        with sigterm_as_ctrl_c():
            written, removed = write_outputs(root, planned, progress=progress_ticker("generate"))
    except OSError as exc:
        for folder in made:  # deepest first, as they were made
            with contextlib.suppress(OSError):
                folder.rmdir()
        print(f"sloctl generate: cannot write {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 1
    print(
        f"generated {len(planned)} file(s) for {slos} SLO(s) in {root}: "
        f"{len(written)} written, {len(planned) - len(written)} unchanged, {len(removed)} removed"
    )
    return 0


def _test(args: argparse.Namespace) -> int:
    from sloctl.shelf import prometheus_engines

    engines = prometheus_engines() if args.engine == "all" else [prometheus_engine(args.engine)]
    if not engines:
        raise UsageError(
            "--engine all: no Prometheus on this machine (apt-get install prometheus, scripts/tools.sh)"
        )
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        raise UsageError(f"{missing[0]}: no such file or directory; give the folder `generate -o` wrote")
    jobs = cpu_jobs(args.jobs)  # promtool is CPU-bound
    ok = True
    for engine in engines:
        print(f"== {engine.name} {engine.version} ({engine.promtool})", flush=True)
        try:
            report = run_rule_tests(
                [_rules_of(Path(p)) for p in args.paths],
                jobs=jobs,
                promtool=str(engine.promtool),
                progress=_progress(engine.name),
            )
        except PromtoolMissing as exc:
            raise UsageError(str(exc)) from None
        for line in report.lines():
            print(line)
        ok = ok and report.ok
    return 0 if _test_alertmanager([Path(p) for p in args.paths]) and ok else 1


def _test_alertmanager(paths: Sequence[Path]) -> bool:
    """``amtool check-config`` with every amtool here on the Alertmanager fragment of each root
    ``generate -o`` wrote (its ``alertmanager/sloctl.yml``); True when each passed or there is
    none to check (no amtool is said, not failed: the rules are the proof asked for)."""
    from sloctl.render.alertmanager_check import check_fragment
    from sloctl.shelf import amtools

    fragments = [p / ALERTMANAGER_FILE for p in paths if (p / ALERTMANAGER_FILE).is_file()]
    if not fragments:
        return True
    tools = amtools()
    if not tools:
        print(
            f"sloctl test: {fragments[0]}: not checked: no amtool here (apt-get install"
            " prometheus-alertmanager, or scripts/tools.sh alertmanager)",
            file=sys.stderr,
        )
        return True
    ok = True
    for name, amtool in tools:
        print(f"== {name} ({amtool})", flush=True)
        for fragment in fragments:
            complaints = check_fragment(fragment.read_text(), amtool=str(amtool))
            print(f"{'FAIL' if complaints else 'ok'}    check-config {fragment}")
            for line in complaints:
                print(f"      {line}")
            ok = ok and not complaints
    return ok


def _rules_of(path: Path) -> Path:
    """The rules under ``path``: its ``rules/`` when it is the root ``generate -o`` wrote."""
    return path / RULES_DIR if (path / RULES_DIR).is_dir() else path


def _progress(engine: str) -> Callable[[int, int], None]:
    """A line on stderr at each quarter of the files (a suite takes a minute or more)."""

    def say(done: int, total: int) -> None:
        if done == total or done % max(1, total // 4) == 0:
            print(f"sloctl test: {engine}: {done}/{total} file(s) run", file=sys.stderr, flush=True)

    return say


GENERATE = """``sloctl generate PATH... -o DIR``: compile SLO files into every artefact.

Writes Prometheus recording and alert rules (rules/), their promtool unit tests (rules/tests/),
Grafana dashboards (dashboards/) and the Alertmanager routes to PagerDuty (alertmanager/) under
DIR, each file atomically; files of SLOs no longer there are removed. --check writes nothing
and exits 1 with a diff when a file is stale (for CI). --flavour picks the rule files' form,
--compat sloth writes exactly what Sloth writes.

Exit codes: 0 written or up to date, 1 errors in the files (or stale files under --check),
2 usage."""

TEST = """``sloctl test DIR...``: prove generated rules with promtool.

Runs promtool check rules --lint-fatal on every rule file and promtool test rules on every
generated test, on the default Prometheus or the one --engine names (all: each in turn). A
folder that holds a rules/ folder (the one generate -o wrote) is read from its rules/, and
its Alertmanager fragment (alertmanager/sloctl.yml) is checked by amtool check-config, inside
the smallest complete configuration, with every amtool here (Debian's 0.25, the tool shelf's
0.3x in UTF-8 strict mode); without amtool that check is said to be skipped.

Exit codes: 0 every check and test passed, 1 one failed, 2 usage (a missing folder, no
promtool)."""


# Long but flat: one argparse declaration per flag of `generate`, nothing else.
def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(sub, "generate", _generate, GENERATE)
    add_input_arguments(p)
    add_output_dir_argument(
        p,
        "output root: writes rules/, rules/tests/, dashboards/, alertmanager/ under it "
        "(or output in the project file)",
    )
    p.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 with a diff when files are stale"
    )
    p.add_argument(
        "--flavour",
        choices=sorted(FLAVOURS),
        default=None,
        help="rule file format: plain Prometheus, prometheus-operator PrometheusRule, Mimir ruler, "
        "vmalert (one group per chained level, staggered with eval_offset; docs/rules.md)",
    )
    add_compat_argument(p, "write exactly what Sloth writes (rules only), for a migration")
    p.add_argument(
        "--operator-label",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="label on the PrometheusRule, for the operator's rule selector",
    )
    p.add_argument(
        "--namespace",
        metavar="NAME",
        default=None,
        help=f"namespace of PrometheusRule objects (default {GenerateOptions.namespace})",
    )
    p.add_argument(
        "--extra-label",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="label added to every generated rule",
    )
    p.add_argument("--interval", default=None, metavar="DURATION", help="evaluation interval of the groups")
    p.add_argument("--no-tests", action="store_true", help="do not write promtool tests")
    add_jobs_argument(p, "worker processes for inputs of thousands of SLOs")
    p.add_argument("--no-dashboards", action="store_true", help="do not write Grafana dashboards")
    p.add_argument("--no-alertmanager", action="store_true", help="do not write the Alertmanager fragment")
    p.add_argument("--disable-alerts", action="store_true", help="(--compat sloth) no alert rules")
    p.add_argument("--disable-recordings", action="store_true", help="(--compat sloth) no recording rules")
    for setting in SETTINGS:
        if (
            setting.key in ("include", "exclude", "output", "flavour", "extraLabels")
            or setting.kind == "table"
        ):
            continue  # input flags, flags the command had before the project file, or a table
        p.add_argument(
            setting.flag,
            dest=setting.dest,
            action="append" if setting.kind == "list" else "store",
            default=None,
            metavar="VALUE",
            help=f"{setting.help} (project file: {setting.key})",
        )
    p = add_command(sub, "test", _test, TEST)
    p.add_argument(
        "paths",
        nargs="+",
        metavar="DIR",
        help="directories (or files) of generated rules, or generate's -o folder",
    )
    add_jobs_argument(p, "promtool runs at once")
    add_engine_argument(p, allow_all=True)

"""``sloctl validate``, ``sloctl schema`` and ``sloctl explain``."""

from __future__ import annotations

import argparse
import json
import sys

from sloctl.cli._common import (
    LARGEST,
    UsageError,
    add_command,
    add_compat_argument,
    add_format_argument,
    add_input_arguments,
    add_prometheus_arguments,
    load_slos_of,
)
from sloctl.explain import as_dicts, explain, format_explanations
from sloctl.limits import positive_number
from sloctl.spec.project import FILE_NAME
from sloctl.spec.project import schema_text as project_schema_text
from sloctl.spec.schema import schema_text

VALIDATE = """``sloctl validate PATH...``: check SLO files (native, Sloth, OpenSLO, Pyrra), every error.

Each error is one line, file:line:column: field: what was found and what to write, the field
named as its own format names it; warnings likewise. With --compat sloth, the files are checked
as generate --compat sloth reads them (Sloth's windows catalogs; MetricsQL queries where Sloth's
validate_victoria_metrics plugin replaces its validator). With --prometheus, it also warns when
a latency threshold is not a bucket bound of its histogram there.

Exit codes: 0 valid, 1 errors in the files, 2 usage, 3 --prometheus could not be read."""

SCHEMA = """``sloctl schema [--kind KIND]``: print a JSON Schema, for editors and linters.

Service (the default) is the native sloctl/v1 SLO file, Project the project file (sloctl.yaml),
CollectorConfig the collector's targets, GamedaySchedule the game-day calendar.

Exit codes: 0 printed, 2 usage."""

EXPLAIN = """``sloctl explain PATH...``: what each SLO promises and how it alerts.

Per SLO: the promise, the error budget (in events with --requests-per-second), the no-data
ticket and, per alert tier, its windows, burn-rate factor, the error ratio that trips it and its
designed time to detect a full outage. -o json gives the same as data.

Exit codes: 0 explained, 1 errors in the files, 2 usage."""


def _validate(args: argparse.Namespace) -> int:
    result = load_slos_of(args)
    services = len({s.service for s in result.slos})
    valid = f"valid: {len(result.slos)} SLO(s) of {services} service(s) in {len(result.files)} file(s)"
    if not args.prometheus:
        print(valid)
        return 0
    from sloctl.buckets import bucket_warnings
    from sloctl.egress import EgressDenied
    from sloctl.masking import mask_text
    from sloctl.prometheus import PrometheusError

    try:
        warnings = bucket_warnings(
            result.slos, args.prometheus, allow=args.allow_host, token=args.prometheus_token
        )
    except EgressDenied as exc:  # a usage error, said before anything else
        raise UsageError(str(exc)) from None
    except (OSError, PrometheusError) as exc:
        print(valid)
        print(
            f"sloctl validate: cannot read Prometheus at {mask_text(args.prometheus)}: {exc}", file=sys.stderr
        )
        return 3
    print(valid)
    for w in warnings:
        print(f"warning: {w.message}", file=sys.stderr)
    return 0


def _schema(args: argparse.Namespace) -> int:
    written = {"Service": schema_text, "Project": project_schema_text}  # the rest: from a SHAPE
    if args.kind in written:
        sys.stdout.write(written[args.kind]())
        return 0
    from sloctl.spec.shape import document_schema

    if args.kind == "CollectorConfig":
        from sloctl.collector.config import SHAPE
    else:
        from sloctl.chaos.schedule import SHAPE
    schema = document_schema(SHAPE, schema_id=f"https://sloctl.dev/schemas/{args.kind}.json", title=args.kind)
    sys.stdout.write(json.dumps(schema, indent=2, sort_keys=True) + "\n")
    return 0


def _explain(args: argparse.Namespace) -> int:
    result = load_slos_of(args)
    items = explain(result.slos, requests_per_second=args.requests_per_second)
    if args.output == "json":
        print(json.dumps(as_dicts(items), indent=2))
    else:
        sys.stdout.write(format_explanations(items))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(sub, "validate", _validate, VALIDATE)
    add_input_arguments(p)
    add_compat_argument(p, "check the files as generate --compat sloth reads them")
    add_prometheus_arguments(
        p, "also warn when a latency SLO's threshold is not a bucket bound of its histogram there"
    )
    p = add_command(sub, "schema", _schema, SCHEMA)
    p.add_argument(
        "--kind",
        choices=["Service", "Project", "CollectorConfig", "GamedaySchedule"],
        default="Service",
        help=f"document kind (default Service: SLO files; Project: the project file, {FILE_NAME}; "
        "CollectorConfig: collector targets; GamedaySchedule: the game-day calendar)",
    )
    p = add_command(sub, "explain", _explain, EXPLAIN)
    add_input_arguments(p)
    add_format_argument(p, "text")
    p.add_argument(
        "--requests-per-second",
        type=positive_number(LARGEST, "the largest rate a flag takes"),
        default=None,
        metavar="RATE",
        help="typical traffic, to express the error budget in events",
    )

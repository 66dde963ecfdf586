"""``sloctl status --prometheus URL [--slo ID ...]``: remaining budget, burn rates and firing
alerts per SLO.

Reads every SLO's remaining error budget, current and period burn rates and firing alert tiers
from the series the generated rules record, all at one instant; says which of the SLOs' rules
failed to evaluate (state rule_error), or why their health is unknown (no rules API there, their
groups not listed), and Prometheus' warnings (the figures may be partial; JSON: also its infos).

Exit codes: 0 read, 1 Prometheus did not answer, 2 usage (URL outside the allow-list, an SLO
Prometheus does not know, a Prometheus that knows no SLO)."""

from __future__ import annotations

import argparse
import sys

from sloctl.cli._common import (
    UsageError,
    add_command,
    add_format_argument,
    add_live_prometheus_arguments,
    live_prometheus_options,
)

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(subparsers, "status", _run, __doc__)
    add_live_prometheus_arguments(p, slos="to show")
    add_format_argument(p)


def _run(args: argparse.Namespace) -> int:
    from sloctl.egress import EgressDenied
    from sloctl.masking import mask_text
    from sloctl.prometheus import PrometheusError
    from sloctl.status import UnknownSlo, collect, render_json, render_table

    try:
        snapshot = collect(args.prometheus, **live_prometheus_options(args))
    except (EgressDenied, UnknownSlo) as exc:
        raise UsageError(str(exc)) from None
    except (OSError, PrometheusError) as exc:
        print(
            f"sloctl status: cannot read Prometheus at {mask_text(args.prometheus)}: {exc}", file=sys.stderr
        )
        return 1
    sys.stdout.write(render_json(snapshot) if args.output == "json" else render_table(snapshot))
    return 0

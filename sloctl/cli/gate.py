"""``sloctl gate --prometheus URL [--slo ID ...]``: exit 1 while an error-budget policy says
freeze, with a JSON verdict and its reason on stdout.

Reads every selected SLO's remaining error budget, no-data state and error-budget policy
(compiled into the generated rules) from Prometheus.

Exit codes: 0 proceed, 1 freeze, 2 usage (URL outside the allow-list, an SLO Prometheus does not
know, a Prometheus that knows no SLO: no verdict rather than proceed), 3 no verdict: Prometheus
could not be read, or it cannot decide on what Prometheus said (an answer with warnings, which
may be partial; a selected SLO's rules failing to evaluate; each named).

Where the rules' health cannot be read (no rules API: Mimir without its ruler, a query-only
proxy; or the SLOs' rule groups not listed: VictoriaMetrics without vmalert), the verdict stands
on the numbers and says so (rule_health_checked: false); --require-rule-health makes it no
verdict (exit 3) instead."""

from __future__ import annotations

import argparse
import sys

from sloctl.cli._common import UsageError, add_command, add_live_prometheus_arguments, live_prometheus_options

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(subparsers, "gate", _run, __doc__)
    add_live_prometheus_arguments(p, slos="to judge")
    p.add_argument(
        "--require-rule-health",
        action="store_true",
        help="give no verdict (exit 3) when the SLOs' rules' health cannot be read, rather than"
        " decide on the numbers alone",
    )


def _run(args: argparse.Namespace) -> int:
    from sloctl.egress import EgressDenied
    from sloctl.gate import Undecided, evaluate, render_verdict
    from sloctl.masking import mask_text
    from sloctl.prometheus import PrometheusError
    from sloctl.status import UnknownSlo

    try:
        verdict = evaluate(
            args.prometheus, **live_prometheus_options(args), require_rule_health=args.require_rule_health
        )
    except (EgressDenied, UnknownSlo) as exc:
        raise UsageError(str(exc)) from None
    except (OSError, PrometheusError) as exc:
        print(f"sloctl gate: cannot read Prometheus at {mask_text(args.prometheus)}: {exc}", file=sys.stderr)
        return 3
    except Undecided as exc:
        print(
            f"sloctl gate: cannot decide from Prometheus at {mask_text(args.prometheus)}: {exc}",
            file=sys.stderr,
        )
        return 3
    sys.stdout.write(render_verdict(verdict, url=args.prometheus))
    print(f"sloctl gate: {verdict.action}: {verdict.reason}", file=sys.stderr)
    if verdict.without_policy and len(verdict.without_policy) == len(verdict.slos):
        # A gate that cannot say freeze is a misconfigured gate, not a green light.
        print(
            f"sloctl gate: {', '.join(verdict.without_policy)}: no error-budget policy, so this gate"
            " proceeds whatever the budget; add policy steps to the SLO (docs/spec.md, 'Error-budget"
            " policy')",
            file=sys.stderr,
        )
    if verdict.rules_unchecked:
        print(f"sloctl gate: rule health not checked: {verdict.rules_unchecked}", file=sys.stderr)
    return 1 if verdict.freeze else 0

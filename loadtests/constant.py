"""Constant rate (open model): ``--rate`` requests per second arrive on a fixed grid whatever
the answers take, drawn from the same route mix as ``steady``; the report adds how late the
arrivals left (client-side delay) beside the latencies.

sloctl loadtest constant --rate 50 --slos slos/ --host http://127.0.0.1:8000 --duration 30s
"""

from sloctl.loadtest.locustlib import ConstantRateShape, ConstantRateUser

__all__ = ["ConstantRateShape", "ConstantRateUser"]

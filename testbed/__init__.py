"""The reference platform API: a small, real implementation of the multi-database management
platform that sloctl's SLOs protect (routes and metrics in docs/metrics.md).

Run it with ``sloctl testbed up`` (starts the databases too) or ``python -m testbed``.
"""

__all__: list[str] = []

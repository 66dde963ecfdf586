"""Shared pytest configuration. Server fixtures (real PostgreSQL, PgBouncer, Redis, MongoDB,
Prometheus) live in tests/fixtures/ and are loaded as plugins here."""

pytest_plugins = ["tests.fixtures.servers", "tests.fixtures.engines"]

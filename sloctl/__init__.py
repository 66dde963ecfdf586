"""sloctl: SLOs as code."""

"""JSON Schema of the native ``sloctl/v1`` format, for editors (yaml-language-server) and CI.

Generated from the one declaration of the format's shape (:mod:`sloctl.spec.native_shape`), the
one the reader checks; what a JSON Schema cannot say is listed in docs/spec.md ("Editor
support"), and ``sloctl validate`` remains the authority for it (PromQL, rules across fields).
"""

from __future__ import annotations

import json

from sloctl.spec.native_shape import SERVICE, WINDOWS
from sloctl.spec.reader import WORDS

SCHEMA_ID = "https://sloctl.dev/schemas/sloctl-v1.json"


def json_schema() -> dict[str, object]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "sloctl/v1 SLO file",
        "description": "A service and its SLOs, or a burn-rate windows catalog (docs/spec.md).",
        "oneOf": [{"$ref": "#/$defs/Service"}, {"$ref": "#/$defs/AlertWindows"}],
        "$defs": {"Service": SERVICE.json_schema(WORDS), "AlertWindows": WINDOWS.json_schema(WORDS)},
    }


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"

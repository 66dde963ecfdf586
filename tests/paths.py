"""Paths shared by tests: the repository root and the shared fixtures beside it."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SLOCTL_SHARED", ROOT.parent / "shared"))
SLOTH = SHARED / "fixtures" / "sloth"
SLOTH_TESTDATA = SLOTH / "testdata"

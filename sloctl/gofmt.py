"""Numbers printed as Go prints them (Sloth is written in Go; ``--compat sloth`` and reading Sloth
files must agree with it to the last digit).

>>> go_float(14.4), go_float(1e-05), go_float_f(99.9), go_float(float("inf"))
('14.4', '1e-05', '99.9', '+Inf')
"""

from __future__ import annotations

import math
from decimal import Decimal

__all__ = ["go_float", "go_float_f"]


def go_float(value: float) -> str:
    """A float64 as Go's ``%v``/``%g`` prints it: shortest digits, exponent below 1e-4 and from
    1e6 (``1e-05``, ``1.5e+06``), which is how Sloth's templates print every number.

    >>> go_float(14.4), go_float(1e-05), go_float(30.0), go_float(2500000.0)
    ('14.4', '1e-05', '30', '2.5e+06')
    """
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    digits, point = _shortest(value)
    sign = "-" if value < 0 else ""
    if digits == "0":
        return sign + "0"
    exp = point - 1
    if exp < -4 or exp >= 6:  # Go: "if precision was the shortest possible, use precision 6"
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    return sign + _fixed(digits, point)


def go_float_f(value: float) -> str:
    """A float64 as Go's ``strconv.FormatFloat(v, 'f', -1, 64)``: shortest digits, never an
    exponent (Sloth's ``sloth_objective`` label).

    >>> go_float_f(99.9), go_float_f(95.0)
    ('99.9', '95')
    """
    if not math.isfinite(value):
        return go_float(value)
    digits, point = _shortest(value)
    sign = "-" if value < 0 else ""
    return sign + ("0" if digits == "0" else _fixed(digits, point))


def _shortest(value: float) -> tuple[str, int]:
    """Shortest round-trip decimal digits of ``value`` without trailing zeros (Python's repr and
    Go's strconv agree on them) and the position of the decimal point after the first ``point``
    digits: ``0.05`` is ``("5", -1)``, ``30.0`` is ``("3", 2)``."""
    parts = Decimal(repr(abs(value))).as_tuple()
    assert isinstance(parts.exponent, int)
    digits = "".join(map(str, parts.digits)).lstrip("0")
    if not digits:
        return "0", 1
    return digits.rstrip("0"), len(digits) + parts.exponent


def _fixed(digits: str, point: int) -> str:
    if point <= 0:
        return "0." + "0" * -point + digits
    if point >= len(digits):
        return digits + "0" * (point - len(digits))
    return digits[:point] + "." + digits[point:]

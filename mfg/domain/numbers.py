"""Numbers as the lab writes them: parsing ``1.2e9``, ``1.2x10^9``, ``1,200x10^6`` and showing
``1.2 x 10^9`` and ``91.2 %``."""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from mfg.errors import RuleViolation

# The largest count any expansion of this kind can reach is ~1e11; 1e13 is physically impossible
# in a culture vessel, so larger values are typing errors (an extra digit or exponent).
MAX_CELLS = 10**13

_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")
_SCI_RE = re.compile(
    r"^(?P<mant>[0-9][0-9,]*(?:\.[0-9]+)?|\.[0-9]+)"
    r"(?:\s*(?:[x×*]\s*10\s*(?:\^|\*\*)?\s*(?P<exp1>[+-]?[0-9]{1,3})|[eE](?P<exp2>[+-]?[0-9]{1,3})))?$"
)


def parse_decimal(text: str, field: str) -> Decimal:
    """Parse a non-negative decimal written the lab's way; the error names ``field``."""
    raw = text
    s = text.strip().translate(_SUPERSCRIPTS).replace("\u00a0", "").replace(" ", "")
    s = s.replace("X", "x")
    m = _SCI_RE.match(s)
    if not m:
        raise RuleViolation(
            field,
            "number-format",
            f"{raw!r} is not a number; write e.g. 1.2e9, 1.2x10^9 or 1,200x10^6",
        )
    mant = m["mant"]
    if "," in mant:
        int_part = mant.split(".")[0]
        groups = int_part.split(",")
        if any(len(g) != 3 for g in groups[1:]) or not groups[0] or len(groups[0]) > 3:
            raise RuleViolation(
                field, "number-format", f"{raw!r}: commas must separate groups of three digits"
            )
        mant = mant.replace(",", "")
    exp = m["exp1"] or m["exp2"] or "0"
    try:
        value = Decimal(mant).scaleb(int(exp))
    except InvalidOperation:
        raise RuleViolation(field, "number-format", f"{raw!r} is not a number") from None
    return value


def parse_ml(text: str, field: str) -> float:
    """A volume in mL as the lab writes it: ``750``, ``750 mL``, ``1,200 mL``. A volume in
    litres is refused with its value in mL (a unit is never converted unasked); a negative
    or non-numeric volume says what a volume is, not how to write a cell count."""
    number = text.strip()
    unit = "mL"
    if number.lower().endswith("ml"):
        number = number[:-2]
    elif number.lower().endswith("l"):
        number, unit = number[:-1], "L"
    number = number.strip()
    if number.startswith("-"):
        raise RuleViolation(field, "volume-range", f"{text!r}: a volume is more than 0 mL")
    try:
        value = parse_decimal(number, field)
    except RuleViolation:
        raise RuleViolation(
            field, "number-format", f"{text!r} is not a volume; write mL, e.g. 750 or 750 mL"
        ) from None
    if unit == "L":
        raise RuleViolation(
            field, "wrong-unit", f"{text!r}: write the volume in mL ({float(value) * 1000:g} mL)"
        )
    return float(value)


def parse_cells(text: str, field: str) -> int:
    """A cell count: a whole, positive number no larger than ``MAX_CELLS``."""
    if text.strip().startswith(("-", "\u2212")):
        raise RuleViolation(
            field, "count-positive", f"{text.strip()!r}: a cell count must be > 0, not negative"
        )
    value = parse_decimal(text, field)
    if value <= 0:
        raise RuleViolation(field, "count-positive", f"{text.strip()!r}: a cell count must be > 0")
    if value > MAX_CELLS:
        raise RuleViolation(
            field,
            "count-impossible",
            f"{text.strip()!r} is above {format_cells(MAX_CELLS)} cells, which no culture reaches",
        )
    if value != value.to_integral_value():
        raise RuleViolation(
            field, "count-whole", f"{text.strip()!r} is not a whole number of cells"
        )
    return int(value)


def parse_percent(text: str, field: str) -> float:
    """A percentage 0-100, written ``91.2`` or ``91.2 %``; a fraction such as 0.912 is refused."""
    s = text.strip().rstrip("%").strip()
    try:
        value = float(Decimal(s))
    except (InvalidOperation, ValueError):
        raise RuleViolation(field, "percent-format", f"{text!r} is not a percentage") from None
    if not math.isfinite(value) or not 0 <= value <= 100:
        raise RuleViolation(field, "percent-range", f"{text.strip()!r} must be between 0 and 100 %")
    return value


def format_cells(n: float | int | None, digits: int = 2) -> str:
    """``1200000000`` -> ``1.2 x 10^9``; small numbers stay plain. The mantissa is rounded (half
    to even) on the exact decimal value: ``1950000000`` at 2 digits is ``2.0``, never the ``1.9``
    that binary floating point gave."""
    if n is None:
        return "-"
    if n == 0:
        return "0"
    if abs(n) < 10_000:
        return f"{n:g}"
    value = Decimal(str(n))
    places = Decimal(1).scaleb(-max(digits - 1, 0))
    exp = value.adjusted()
    mant = value.scaleb(-exp).quantize(places, rounding=ROUND_HALF_EVEN)
    if abs(mant) >= 10:
        exp += 1
        mant = value.scaleb(-exp).quantize(places, rounding=ROUND_HALF_EVEN)
    return f"{mant} x 10^{exp}"


def format_cells_short(n: float | int | None) -> str:
    """For tables: up to three significant digits, no trailing zero beyond the first decimal
    (``1.95 x 10^9``, ``1.2 x 10^9``, ``1.0 x 10^8``), so that 1.95e9 is not shown as 1.9."""
    shown = format_cells(n, 3)
    if " x 10^" not in shown:
        return shown
    mant, exp = shown.split(" x 10^")
    if mant.endswith("0") and "." in mant and len(mant.split(".")[1]) > 1:
        mant = mant[:-1]
    return f"{mant} x 10^{exp}"


def format_pct(p: float | None, decimals: int = 1) -> str:
    return "-" if p is None else f"{p:.{decimals}f} %"

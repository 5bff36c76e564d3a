"""The product specification: dose levels, harvest window and release tests of one spec version.

Built by ``mfg.specfiles.load_product`` from a versioned TOML file; plain frozen dataclasses here.
Result parsing and pass / fail / pending evaluation live beside the model (see ``results.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class TestKind(StrEnum):
    NUMERIC = "numeric"
    CATEGORICAL = "categorical"


NUMERIC_OPERATORS = (">=", ">", "<=", "<")


def format_limit(limit: float | None) -> str:
    """``70.0`` stays ``70.0`` (as the spec writes it); ``3000000.0`` becomes ``3e+06``."""
    if limit is None:
        return "-"
    return f"{limit:.1f}" if limit == int(limit) and abs(limit) < 1e5 else f"{limit:g}"


@dataclass(frozen=True)
class TestSpec:
    code: str
    name: str
    method: str
    kind: TestKind
    # numeric tests
    operator: str | None = None
    limit: float | None = None
    unit: str = ""
    # categorical tests
    allowed: tuple[str, ...] = ()
    passing: tuple[str, ...] = ()
    may_be_pending: bool = False
    group: str = ""

    @property
    def acceptance(self) -> str:
        """The specification as printed: ``>= 70.0 %`` or ``No growth``."""
        if self.kind is TestKind.NUMERIC:
            unit = f" {self.unit}" if self.unit else ""
            return f"{self.operator} {format_limit(self.limit)}{unit}"
        return " / ".join(self.passing)


@dataclass(frozen=True)
class CoaLayout:
    title: str = "Certificate of Analysis"
    subtitle: str = ""
    sections: tuple[str, ...] = ("identity", "product", "results", "disposition", "signatures")
    footer: str = ""
    logo: str = ""


@dataclass(frozen=True)
class Product:
    code: str
    name: str
    spec_version: str
    protocol: str
    dose_unit: str
    dose_levels: dict[str, float]
    weight_cap_kg: float
    window_first_day: int
    window_last_day: int
    tests: tuple[TestSpec, ...]
    storage: str = ""
    shelf_life_days: int = 365
    assumed_car_pct: float = 30.0
    bag_volume_ml: float = 50.0
    coa: CoaLayout = field(default_factory=CoaLayout)
    source_file: str = ""
    sha256: str = ""

    def test(self, code: str) -> TestSpec | None:
        code = code.strip().upper()
        return next((t for t in self.tests if t.code == code), None)

    @property
    def test_codes(self) -> tuple[str, ...]:
        return tuple(t.code for t in self.tests)

    def in_window(self, day: int) -> bool:
        return self.window_first_day <= day <= self.window_last_day

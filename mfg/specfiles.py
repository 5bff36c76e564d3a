"""The validating loader of product specifications and COA layouts (versioned TOML files).

Files are named ``<PRODUCT>-v<VERSION>.toml``. ``coa_templates/`` (data only, shipped with
CellTrail) holds the packaged products; a site may add its own under ``$MFG_HOME/products``.
Every error names the file, the key and the rule broken.
"""

from __future__ import annotations

import hashlib
import math
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mfg.domain.specs import NUMERIC_OPERATORS, CoaLayout, Product, TestKind, TestSpec
from mfg.domain.text import describe_char, first_unsafe
from mfg.errors import CellTrailError

# the shipped product files: data next to the mfg package (in the source tree and when installed)
PACKAGED_DIR = Path(__file__).resolve().parent.parent / "coa_templates"


class TemplateError(CellTrailError):
    rule = "bad-product-file"

    def __init__(self, file: str, key: str, rule: str, message: str) -> None:
        super().__init__(f"{file}: {key}: {message}", rule=rule)
        self.file = file
        self.key = key


class _Reader:
    def __init__(self, file: str, data: dict[str, Any]) -> None:
        self.file = file
        self.data = data

    def fail(self, key: str, rule: str, message: str) -> TemplateError:
        return TemplateError(self.file, key, rule, message)

    def table(self, key: str, required: bool = True) -> dict[str, Any]:
        value = self.data.get(key)
        if value is None and not required:
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, "missing-table", f"a [{key}] table is required")
        return value

    def get(
        self,
        tbl: dict[str, Any],
        path: str,
        key: str,
        kind: type | tuple[type, ...],
        default: Any = ...,
    ) -> Any:
        full = f"{path}.{key}" if path else key
        if key not in tbl:
            if default is ...:
                raise self.fail(full, "missing-key", "is required")
            return default
        value = tbl[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            raise self.fail(full, "wrong-type", f"must be {_names(kinds)}, got a boolean")
        if not isinstance(value, kinds):
            raise self.fail(full, "wrong-type", f"must be {_names(kinds)}, got {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail(full, "not-finite", "must be a finite number")
        if isinstance(value, str) and not value.strip() and default is ...:
            raise self.fail(full, "empty", "must not be empty")
        for text in value if isinstance(value, list) else [value]:
            self.check_text(full, text)
        return value

    def check_text(self, key: str, value: object) -> None:
        """Text of the file is printed on COAs, labels and screens: no control, escape or
        invisible formatting character (the rule for every text a person types)."""
        bad = first_unsafe(value) if isinstance(value, str) else None
        if bad is not None:
            raise self.fail(
                key,
                "control-characters",
                f"contains {describe_char(bad[1])} at position {bad[0] + 1}: control, escape and "
                "invisible formatting characters are not allowed",
            )


def _names(kinds: Iterable[type]) -> str:
    names = {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        list: "a list",
        dict: "a table",
    }
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _test(r: _Reader, i: int, t: Any, seen: set[str]) -> TestSpec:
    path = f"tests[{i}]"
    if not isinstance(t, dict):
        raise r.fail(path, "wrong-type", "each [[tests]] entry must be a table")
    code = r.get(t, path, "code", str).strip().upper()
    if not code.isalnum() or len(code) > 12:
        raise r.fail(f"{path}.code", "test-code-format", f"{code!r}: 1-12 letters or digits")
    if code in seen:
        raise r.fail(f"{path}.code", "duplicate-test-code", f"{code} appears twice")
    seen.add(code)
    path = f"tests.{code}"
    kind_text = r.get(t, path, "kind", str)
    try:
        kind = TestKind(kind_text)
    except ValueError:
        raise r.fail(
            f"{path}.kind", "unknown-test-kind", "must be numeric or categorical"
        ) from None
    common = dict(
        code=code,
        name=r.get(t, path, "name", str),
        method=r.get(t, path, "method", str),
        kind=kind,
        may_be_pending=r.get(t, path, "may_be_pending", bool, False),
        group=r.get(t, path, "group", str, ""),
    )
    if kind is TestKind.NUMERIC:
        op = r.get(t, path, "operator", str)
        if op not in NUMERIC_OPERATORS:
            raise r.fail(
                f"{path}.operator",
                "unknown-operator",
                f"{op!r}: one of {' '.join(NUMERIC_OPERATORS)}",
            )
        limit = float(r.get(t, path, "limit", (int, float)))
        unit = r.get(t, path, "unit", str, "")
        if limit < 0 or (unit.strip() == "%" and limit > 100):
            raise r.fail(
                f"{path}.limit",
                "limit-range",
                f"{limit:g} {unit}: a percentage limit is 0-100 %"
                if limit >= 0
                else f"{limit:g}: results are never negative, so the limit is >= 0",
            )
        for extra in ("allowed", "passing"):
            if extra in t:
                raise r.fail(f"{path}.{extra}", "not-for-numeric", "only categorical tests have it")
        return TestSpec(operator=op, limit=limit, unit=unit, **common)
    allowed = r.get(t, path, "allowed", list)
    passing = r.get(t, path, "passing", list)
    if len(allowed) < 2 or not all(isinstance(v, str) and v.strip() for v in allowed):
        raise r.fail(f"{path}.allowed", "allowed-values", "needs two or more non-empty strings")
    lowered = [v.casefold() for v in allowed]
    if len(set(lowered)) != len(lowered):
        raise r.fail(f"{path}.allowed", "allowed-values", "values must differ (ignoring case)")
    if not passing or not all(isinstance(v, str) and v.casefold() in lowered for v in passing):
        raise r.fail(
            f"{path}.passing", "passing-not-allowed", "must list one or more of the allowed values"
        )
    if len(passing) == len(allowed):
        raise r.fail(f"{path}.passing", "passing-not-allowed", "some allowed value must fail")
    for extra in ("operator", "limit"):
        if extra in t:
            raise r.fail(f"{path}.{extra}", "not-for-categorical", "only numeric tests have it")
    return TestSpec(allowed=tuple(allowed), passing=tuple(passing), **common)


def _identity(r: _Reader) -> tuple[str, str]:
    p = r.table("product")
    code = r.get(p, "product", "code", str).strip().upper()
    if not code.isalnum() or not 2 <= len(code) <= 10:
        raise r.fail("product.code", "product-code-format", f"{code!r}: 2-10 letters or digits")
    version = str(r.get(p, "product", "spec_version", (str, int))).strip()
    if not version or not version.replace(".", "").isalnum():
        raise r.fail("product.spec_version", "version-format", f"{version!r} is not a version")
    return code, version


def _dose(r: _Reader) -> tuple[dict[str, float], float, str]:
    d = r.table("dose")
    levels_raw = r.get(d, "dose", "levels", dict)
    if not levels_raw:
        raise r.fail("dose.levels", "no-dose-levels", "at least one dose level is required")
    levels: dict[str, float] = {}
    for name, value in levels_raw.items():
        r.check_text("dose.levels", name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise r.fail(f"dose.levels.{name}", "dose-positive", "must be a number > 0")
        if not math.isfinite(float(value)):
            raise r.fail(f"dose.levels.{name}", "not-finite", "must be a finite number")
        levels[name.strip().upper()] = float(value)
    cap = float(r.get(d, "dose", "weight_cap_kg", (int, float)))
    if not 20 <= cap <= 300:
        raise r.fail("dose.weight_cap_kg", "weight-cap-range", "must be 20-300 kg")
    return levels, cap, r.get(d, "dose", "unit", str, "CAR+ viable T cells/kg")


def _window_and_projection(r: _Reader) -> tuple[int, int, float]:
    w = r.table("harvest_window")
    first = r.get(w, "harvest_window", "first_day", int)
    last = r.get(w, "harvest_window", "last_day", int)
    if not 0 < first <= last <= 60:
        raise r.fail("harvest_window", "window-order", "need 0 < first_day <= last_day <= 60")
    proj = r.table("projection", required=False)
    car_pct = float(r.get(proj, "projection", "assumed_car_pct", (int, float), 30.0))
    if not 0 < car_pct <= 100:
        raise r.fail("projection.assumed_car_pct", "percent-range", "must be > 0 and <= 100")
    return first, last, car_pct


def _tests(r: _Reader) -> tuple[TestSpec, ...]:
    tests_raw = r.data.get("tests")
    if not isinstance(tests_raw, list) or not tests_raw:
        raise r.fail("tests", "no-tests", "at least one [[tests]] entry is required")
    seen: set[str] = set()
    return tuple(_test(r, i, t, seen) for i, t in enumerate(tests_raw))


def _layout(r: _Reader) -> CoaLayout:
    c = r.table("coa", required=False)
    sections = r.get(c, "coa", "sections", list, list(CoaLayout().sections))
    known_sections = {"identity", "product", "results", "disposition", "signatures", "revisions"}
    for s in sections:
        if s not in known_sections:
            raise r.fail(
                "coa.sections",
                "unknown-section",
                f"{s!r}: one of {', '.join(sorted(known_sections))}",
            )
    return CoaLayout(
        title=r.get(c, "coa", "title", str, CoaLayout().title),
        subtitle=r.get(c, "coa", "subtitle", str, ""),
        sections=tuple(sections),
        footer=r.get(c, "coa", "footer", str, ""),
        logo=r.get(c, "coa", "logo", str, ""),
    )


def _storage(r: _Reader) -> tuple[int, float]:
    p = r.table("product")
    shelf = r.get(p, "product", "shelf_life_days", int, 365)
    if not 1 <= shelf <= 3650:
        raise r.fail("product.shelf_life_days", "shelf-life-range", "must be 1-3650 days")
    bag_ml = float(r.get(p, "product", "bag_volume_ml", (int, float), 50.0))
    if not 0 < bag_ml <= 1000:
        raise r.fail("product.bag_volume_ml", "bag-volume-range", "must be > 0 and <= 1000 mL")
    return shelf, bag_ml


KNOWN_SECTIONS = ("product", "dose", "harvest_window", "projection", "tests", "coa")


def parse_product(text: str, file: str = "<product>") -> Product:
    """Validate and build a Product from TOML text; every error names file, key and rule."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise TemplateError(file, "(syntax)", "toml-syntax", str(e)) from None
    r = _Reader(file, data)
    for key in data:
        if key not in KNOWN_SECTIONS:
            raise r.fail(
                key, "unknown-key", f"not a known section ({', '.join(sorted(KNOWN_SECTIONS))})"
            )
    code, version = _identity(r)
    levels, cap, dose_unit = _dose(r)
    first, last, car_pct = _window_and_projection(r)
    tests = _tests(r)
    layout = _layout(r)
    shelf, bag_ml = _storage(r)
    p = r.table("product")
    return Product(
        code=code,
        name=r.get(p, "product", "name", str),
        spec_version=version,
        protocol=r.get(p, "product", "protocol", str, ""),
        storage=r.get(p, "product", "storage", str, ""),
        shelf_life_days=shelf,
        bag_volume_ml=bag_ml,
        dose_unit=dose_unit,
        dose_levels=levels,
        weight_cap_kg=cap,
        window_first_day=first,
        window_last_day=last,
        assumed_car_pct=car_pct,
        tests=tests,
        coa=layout,
        source_file=file,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
    )


_CACHE: dict[tuple[str, int, int], Product] = {}


def load_file(path: Path) -> Product:
    """Load and validate one file (cached while the file's size and mtime are unchanged)."""
    try:
        st = path.stat()
    except OSError:
        st = None
    key = (str(path), st.st_mtime_ns, st.st_size) if st else None
    if key is not None and key in _CACHE:
        return _CACHE[key]
    product = _load_file(path)
    if key is not None:
        _CACHE[key] = product
    return product


def _load_file(path: Path) -> Product:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TemplateError(str(path), "(file)", "file-not-found", "no such file") from None
    except UnicodeDecodeError:
        raise TemplateError(str(path), "(file)", "not-utf8", "is not UTF-8 text") from None
    except OSError as e:
        raise TemplateError(str(path), "(file)", "unreadable", e.strerror or str(e)) from None
    product = parse_product(text, str(path))
    expected = f"{product.code}-v{product.spec_version}.toml"
    if path.name != expected:
        raise TemplateError(
            str(path),
            "product",
            "file-name",
            f"a file for {product.code} v{product.spec_version} must be named {expected}",
        )
    return product


def search_dirs(extra: Path | None = None) -> list[Path]:
    dirs = [PACKAGED_DIR]
    if extra is not None and extra.is_dir():
        dirs.append(extra)
    return dirs


def _version_key(v: str) -> tuple[int | str, ...]:
    return tuple(int(p) if p.isdigit() else p for p in v.split("."))


def available(product_code: str, extra: Path | None = None) -> dict[str, Path]:
    """Spec versions of ``product_code`` found on disk: version -> file. A code no spec file
    can have (a file's code is 2-10 letters or digits) has none: never a glob pattern (a code
    edited in SQL to hold ``**`` or a leading ``/`` made ``glob`` raise, not refuse)."""
    code = product_code.strip().upper()
    if not code.isalnum() or not 2 <= len(code) <= 10:
        return {}
    found: dict[str, Path] = {}
    for d in search_dirs(extra):
        for f in sorted(d.glob(f"{code}-v*.toml")):
            found[f.stem.split("-v", 1)[1]] = f
    return dict(sorted(found.items(), key=lambda kv: _version_key(kv[0])))


def load_product(
    product_code: str, version: str | None = None, extra: Path | None = None
) -> Product:
    """Load ``product_code`` at ``version`` (default: the newest version on disk)."""
    versions = available(product_code, extra)
    if not versions:
        raise TemplateError(
            f"{product_code.strip().upper()}-v*.toml",
            "product",
            "unknown-product",
            f"no specification file for product {product_code!r}",
        )
    if version is None:
        version = next(reversed(versions))
    if version not in versions:
        raise TemplateError(
            f"{product_code.upper()}-v{version}.toml",
            "product.spec_version",
            "unknown-spec-version",
            f"no file for version {version} (have {', '.join(versions)})",
        )
    return load_file(versions[version])

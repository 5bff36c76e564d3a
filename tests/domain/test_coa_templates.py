"""The product definition loader: BH002 v1 as shipped, and broken files named by file, key, rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mfg.domain import specs
from mfg.specfiles import (
    PACKAGED_DIR,
    TemplateError,
    available,
    load_file,
    load_product,
    parse_product,
)

SHIPPED = PACKAGED_DIR / "BH002-v1.toml"
TEXT = SHIPPED.read_text(encoding="utf-8")


def test_bh002_v1_as_the_issue_specifies():
    p = load_product("BH002", "1")
    assert (p.code, p.spec_version, p.name) == (
        "BH002",
        "1",
        "BH002 injection, CD19-BCMA CAR-T cells",
    )
    assert (p.window_first_day, p.window_last_day, p.weight_cap_kg) == (10, 14, 100.0)
    assert p.test_codes == (
        "APPEAR",
        "VIAB",
        "CD3",
        "CAR",
        "VCN",
        "POT",
        "ENDO",
        "GRAM",
        "MYCO",
        "STER",
        "RCL",
        "BEADS",
    )
    assert {t.code for t in p.tests if t.may_be_pending} == {"VCN", "STER", "RCL"}
    acceptance = {t.code: t.acceptance for t in p.tests}
    assert acceptance["VIAB"] == ">= 70.0 %"
    assert acceptance["CD3"].startswith(">= 80.0")
    assert acceptance["CAR"].startswith(">= 10.0")
    assert acceptance["VCN"].startswith("<= 5.0")
    assert acceptance["POT"].startswith("> 50.0")
    assert acceptance["ENDO"].startswith("< 5.0")
    assert acceptance["BEADS"].startswith("< 100.0")
    assert acceptance["STER"] == "No growth"
    appear = p.test("appear")
    assert appear is not None and appear.kind is specs.TestKind.CATEGORICAL
    assert appear.allowed == ("Conforms", "Does not conform")
    assert available("bh002") == {"1": SHIPPED}
    assert len(p.sha256) == 64


def write(tmp_path: Path, text: str, name: str = "BH002-v1.toml") -> Path:
    f = tmp_path / name
    f.write_text(text, encoding="utf-8")
    return f


def replace_once(old: str, new: str) -> str:
    assert TEXT.count(old) >= 1, old
    return TEXT.replace(old, new, 1)


BROKEN = [
    # (description, text, key, rule)
    ("syntax", TEXT + "\n[[tests]\n", "(syntax)", "toml-syntax"),
    ("unknown section", TEXT + "\n[extras]\nx = 1\n", "extras", "unknown-key"),
    ("no product table", replace_once("[product]", "[productx]"), "productx", "unknown-key"),
    (
        "code missing",
        replace_once('code = "BH002"', 'kode = "BH002"'),
        "product.code",
        "missing-key",
    ),
    ("code wrong type", replace_once('code = "BH002"', "code = 2"), "product.code", "wrong-type"),
    (
        "code format",
        replace_once('code = "BH002"', 'code = "BH-002"'),
        "product.code",
        "product-code-format",
    ),
    (
        "empty name",
        replace_once('name = "BH002 injection, CD19-BCMA CAR-T cells"', 'name = "  "'),
        "product.name",
        "empty",
    ),
    (
        "spec version format",
        replace_once('spec_version = "1"', 'spec_version = "1 beta"'),
        "product.spec_version",
        "version-format",
    ),
    (
        "shelf life",
        replace_once("shelf_life_days = 365", "shelf_life_days = 0"),
        "product.shelf_life_days",
        "shelf-life-range",
    ),
    (
        "bag volume",
        replace_once("bag_volume_ml = 50.0", "bag_volume_ml = 5000.0"),
        "product.bag_volume_ml",
        "bag-volume-range",
    ),
    (
        "dose level negative",
        replace_once("DL1 = 1.0e6", "DL1 = -1.0e6"),
        "dose.levels.DL1",
        "dose-positive",
    ),
    (
        "dose level boolean",
        replace_once("DL1 = 1.0e6", "DL1 = true"),
        "dose.levels.DL1",
        "dose-positive",
    ),
    (
        "no dose levels",
        replace_once("levels = { DL1 = 1.0e6, DL2 = 2.0e6, DL3 = 3.0e6 }", "levels = {}"),
        "dose.levels",
        "no-dose-levels",
    ),
    (
        "weight cap",
        replace_once("weight_cap_kg = 100.0", "weight_cap_kg = 1000.0"),
        "dose.weight_cap_kg",
        "weight-cap-range",
    ),
    (
        "weight cap nan",
        replace_once("weight_cap_kg = 100.0", "weight_cap_kg = nan"),
        "dose.weight_cap_kg",
        "not-finite",
    ),
    (
        "window order",
        replace_once("first_day = 10", "first_day = 15"),
        "harvest_window",
        "window-order",
    ),
    (
        "window type",
        replace_once("last_day = 14", 'last_day = "14"'),
        "harvest_window.last_day",
        "wrong-type",
    ),
    (
        "car pct",
        replace_once("assumed_car_pct = 30.0", "assumed_car_pct = 130.0"),
        "projection.assumed_car_pct",
        "percent-range",
    ),
    (
        "duplicate code",
        replace_once('code = "CD3"', 'code = "VIAB"'),
        "tests[2].code",
        "duplicate-test-code",
    ),
    (
        "test code format",
        replace_once('code = "CD3"', 'code = "CD-3"'),
        "tests[2].code",
        "test-code-format",
    ),
    (
        "unknown kind",
        replace_once('kind = "numeric"', 'kind = "numerical"'),
        "tests.VIAB.kind",
        "unknown-test-kind",
    ),
    (
        "unknown operator",
        replace_once('operator = ">="', 'operator = "=>"'),
        "tests.VIAB.operator",
        "unknown-operator",
    ),
    ("limit missing", replace_once("limit = 70.0", ""), "tests.VIAB.limit", "missing-key"),
    # a negative limit: every (never negative) result passes ">=" and fails "<="
    (
        "negative limit",
        replace_once("limit = 70.0", "limit = -70.0"),
        "tests.VIAB.limit",
        "limit-range",
    ),
    (
        "percent limit over 100",
        replace_once("limit = 70.0", "limit = 170.0"),
        "tests.VIAB.limit",
        "limit-range",
    ),
    (
        "escape in a test name",
        replace_once('name = "Viability"', 'name = "Via\\u001b[2Jbility"'),
        "tests.VIAB.name",
        "control-characters",
    ),
    (
        "invisible character in an allowed value",
        replace_once('allowed = ["Conforms",', 'allowed = ["Con\\u200bforms",'),
        "tests.APPEAR.allowed",
        "control-characters",
    ),
    (
        "escape in the COA footer",
        replace_once('footer = "Autologous', 'footer = "\\u001b]8;;http://x\\u001b\\\\Autologous'),
        "coa.footer",
        "control-characters",
    ),
    (
        "escape in a dose level",
        replace_once("DL1 = 1.0e6", '"DL\\u001b1" = 1.0e6'),
        "dose.levels",
        "control-characters",
    ),
    (
        "passing not allowed",
        replace_once('passing = ["Conforms"]', 'passing = ["Conform"]'),
        "tests.APPEAR.passing",
        "passing-not-allowed",
    ),
    (
        "every value passes",
        replace_once('passing = ["Conforms"]', 'passing = ["Conforms", "Does not conform"]'),
        "tests.APPEAR.passing",
        "passing-not-allowed",
    ),
    (
        "one allowed value",
        replace_once('allowed = ["Conforms", "Does not conform"]', 'allowed = ["Conforms"]'),
        "tests.APPEAR.allowed",
        "allowed-values",
    ),
    (
        "limit on categorical",
        replace_once('passing = ["Conforms"]', 'passing = ["Conforms"]\nlimit = 1'),
        "tests.APPEAR.limit",
        "not-for-categorical",
    ),
    (
        "pending not a boolean",
        replace_once('kind = "categorical"', 'kind = "categorical"\nmay_be_pending = "yes"'),
        "tests.APPEAR.may_be_pending",
        "wrong-type",
    ),
    (
        "coa section",
        replace_once('sections = ["identity",', 'sections = ["pictures",'),
        "coa.sections",
        "unknown-section",
    ),
]


@pytest.mark.parametrize(
    ("text", "key", "rule"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN]
)
def test_every_error_names_file_key_and_rule(tmp_path: Path, text: str, key: str, rule: str):
    f = write(tmp_path, text)
    with pytest.raises(TemplateError) as e:
        load_file(f)
    assert (e.value.file, e.value.key, e.value.rule) == (str(f), key, rule)
    assert str(e.value).startswith(f"{f}: {key}: ")


def test_no_tests_at_all(tmp_path: Path):
    head = TEXT.split("[[tests]]")[0]
    with pytest.raises(TemplateError) as e:
        load_file(write(tmp_path, head))
    assert (e.value.key, e.value.rule) == ("tests", "no-tests")


def test_file_name_must_match_product_and_version(tmp_path: Path):
    f = write(tmp_path, TEXT, "BH002-v2.toml")
    with pytest.raises(TemplateError) as e:
        load_file(f)
    assert (e.value.key, e.value.rule) == ("product", "file-name")
    assert "BH002-v1.toml" in e.value.message


def test_missing_and_non_utf8_files(tmp_path: Path):
    with pytest.raises(TemplateError) as e:
        load_file(tmp_path / "BH002-v9.toml")
    assert e.value.rule == "file-not-found"
    f = tmp_path / "BH002-v1.toml"
    f.write_bytes(b"\xff\xfe[product]")
    with pytest.raises(TemplateError) as e:
        load_file(f)
    assert (e.value.file, e.value.rule) == (str(f), "not-utf8")


@pytest.mark.parametrize("code", ["**", "/BH002", "BH*", "BH002/../x", "B[H]002", "", "x" * 11])
def test_a_product_code_no_file_can_have_is_unknown_never_a_glob(code: str):
    """A product code edited in SQL to a glob pattern (``**`` made Path.glob raise ValueError,
    a leading ``/`` NotImplementedError) is an unknown product, like any other."""
    assert available(code) == {}
    with pytest.raises(TemplateError) as e:
        load_product(code, "1")
    assert e.value.rule == "unknown-product"


def test_unknown_product_and_version():
    with pytest.raises(TemplateError) as e:
        load_product("XY999")
    assert e.value.rule == "unknown-product"
    with pytest.raises(TemplateError) as e:
        load_product("BH002", "7")
    assert (e.value.key, e.value.rule) == ("product.spec_version", "unknown-spec-version")


def test_site_products_directory_adds_versions(tmp_path: Path):
    v2 = TEXT.replace('spec_version = "1"', 'spec_version = "2"').replace(
        "limit = 70.0", "limit = 75.0", 1
    )
    write(tmp_path, v2, "BH002-v2.toml")
    assert list(available("BH002", tmp_path)) == ["1", "2"]
    newest = load_product("BH002", None, tmp_path)
    assert newest.spec_version == "2" and newest.test("VIAB").limit == 75.0  # type: ignore[union-attr]
    assert load_product("BH002", "1", tmp_path).test("VIAB").limit == 70.0  # type: ignore[union-attr]


def test_parse_product_hash_depends_on_every_byte():
    a = parse_product(TEXT, "a")
    b = parse_product(TEXT + "\n# a comment\n", "a")
    assert a.sha256 != b.sha256 and a.tests == b.tests


# -- mfg product check -----------------------------------------------------------------------
@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("MFG_HOME", str(tmp_path / "home"))
    for var in ("MFG_USER", "MFG_PASSWORD", "MFG_DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)
    return CliRunner()


def test_product_check_accepts_the_shipped_file(runner: CliRunner):
    from mfg.cli import app

    r = runner.invoke(app, ["product", "check", str(SHIPPED)])
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(
        "ok: BH002 spec version 1, 12 release tests, dose levels DL1, DL2, DL3"
    )
    r = runner.invoke(app, ["product", "check", str(SHIPPED), "--json"])
    data = json.loads(r.stdout)
    assert data["product"] == "BH002" and len(data["tests"]) == 12


def test_product_check_refuses_a_broken_file_with_one_line(runner: CliRunner, tmp_path: Path):
    from mfg.cli import app

    f = write(tmp_path, replace_once("limit = 70.0", "limit = true"))
    r = runner.invoke(app, ["product", "check", str(f)])
    assert r.exit_code == 1
    assert r.stdout == ""
    assert r.stderr == (
        f"refused: {f}: tests.VIAB.limit: must be an integer or a number, got a boolean "
        "[wrong-type]\n"
    )

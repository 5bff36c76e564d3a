"""Bad input everywhere (Hypothesis): parsers, services and CLI options get random and hostile
values (huge numbers, NaN, inf, unicode, control characters, SQL text). Never a traceback or an
uncaught exception, never a partial write, and text that is accepted is stored verbatim."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from mfg.errors import CellTrailError
from tests.robustness.support import counts
from tests.support import world
from tests.support.constants import NOW, PASSWORD

HOSTILE = [
    "",
    " ",
    "\x00",
    "\x1b[31mred",
    "\r\n",
    "'; DROP TABLE lot; --",
    "' OR '1'='1",
    "Robert'); DELETE FROM auditevent;--",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "Infinity",
    "1e999",
    "9" * 400,
    "-1",
    "0",
    "1e-400",
    "0x1F",
    "1_000",
    "١٢٣",  # Arabic-Indic digits
    "１２３",  # full-width digits
    "1.2×10⁹",
    "10^",
    "e9",
    "%",
    "100 %",
    "\u202e1.0e9",  # right-to-left override
    "ñ" * 3,
    "😀",
    "a" * 5000,
    "[bold]x[/]",
    "{}",
    "null",
    "today",
    "2026-02-30",
    "9999-99-99",
]
hostile_text = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=60))
hostile_float = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -0.0, 5e-324]),
)
huge_int = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 2**63 - 1, 2**63, 10**13, 10**13 + 1]),
)
FAST = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def only_refusals(fn, *args):  # type: ignore[no-untyped-def]
    """Call ``fn``: it returns, or refuses with a CellTrailError; anything else is a bug."""
    try:
        return fn(*args)
    except CellTrailError:
        return None


# -- pure parsers ---------------------------------------------------------------------------


@FAST
@given(hostile_text)
def test_number_and_date_parsers(text):
    from mfg.domain import numbers
    from mfg.domain.dates import parse_date

    for fn in (numbers.parse_cells, numbers.parse_percent, numbers.parse_decimal):
        v = only_refusals(fn, text, "f")
        if v is not None and fn is not numbers.parse_decimal:
            assert math.isfinite(v)
        if v is not None and fn is numbers.parse_cells:
            assert 0 < v <= numbers.MAX_CELLS
        if v is not None and fn is numbers.parse_percent:
            assert 0 <= v <= 100
    only_refusals(parse_date, text, "d", NOW.date())


@FAST
@given(hostile_text)
def test_result_parser_for_every_test_of_the_product(text):
    from mfg.domain.results import parse_result
    from mfg.specfiles import load_product

    for t in load_product("BH002").tests:
        only_refusals(parse_result, t, text)


@FAST
@given(st.one_of(hostile_text, st.text(alphabet="CT1|-.:0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")))
def test_label_payload_decoder(text):
    from labels.payload import decode

    only_refusals(decode, text)
    only_refusals(decode, text, "site-key")


def _product_text() -> str:
    from mfg import specfiles

    return (specfiles.PACKAGED_DIR / "BH002-v1.toml").read_text(encoding="utf-8")


@FAST
@given(st.data())
def test_toml_templates_with_hostile_values(data):
    from mfg.specfiles import parse_product

    text = _product_text()
    lines = text.splitlines()
    i = data.draw(st.integers(0, len(lines) - 1))
    if "=" in lines[i]:
        key = lines[i].split("=", 1)[0]
        value = data.draw(
            st.one_of(
                st.sampled_from(
                    ["nan", "inf", "-inf", "1e999", "-1", "0", '""', "[]", "{}", "true"]
                ),
                hostile_text.map(lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'),
            )
        )
        lines[i] = f"{key}= {value}"
    else:
        lines[i] = data.draw(hostile_text)
    only_refusals(parse_product, "\n".join(lines), "fuzz.toml")
    only_refusals(parse_product, data.draw(hostile_text), "fuzz.toml")


# -- services: nothing partial, text verbatim ----------------------------------------------


@pytest.fixture
def lot_in_expansion(db, actors):  # type: ignore[no-untyped-def]
    world.subject(db, actors["tech"])
    return world.lot(db, actors["tech"]).lot_number


@FAST
@given(total=huge_int, viable=huge_int, day=huge_int, volume=hostile_float, method=hostile_text)
def test_record_count_with_hostile_values(
    db, actors, lot_in_expansion, total, viable, day, volume, method
):
    from mfg.services import counts as svc
    from mfg.store.tables import CellCount

    before = counts(db)
    cmd = svc.RecordCount(lot_in_expansion, total, viable, day=day, volume_ml=volume, method=method)
    try:
        v = svc.record_count(cmd, db=db, actor=actors["tech"], now=NOW)
    except CellTrailError:
        assert counts(db) == before  # refused: nothing written, no audit event
        return
    with db.read() as s:
        row = s.get(CellCount, v.id)
    assert row is not None and row.method == method and row.total_cells == total
    assert counts(db)["CellCount"] == before["CellCount"] + 1


@FAST
@given(sid=hostile_text, site=hostile_text, weight=hostile_float, initials=hostile_text)
def test_add_subject_with_hostile_values(db, actors, sid, site, weight, initials):
    from mfg.services import subjects
    from mfg.store.tables import Subject

    before = counts(db)
    cmd = subjects.AddSubject(sid, site, "SLE", weight, "DL1", initials=initials)
    try:
        v = subjects.add_subject(cmd, db=db, actor=actors["tech"], now=NOW)
    except CellTrailError:
        assert counts(db) == before
        return
    from mfg.domain.identity import subject_id

    with db.read() as s:
        from sqlmodel import select

        row = s.exec(select(Subject).where(Subject.subject_id == v.subject_id)).one()
    # kept in its one canonical form (upper case: a typed "null" is subject NULL)
    assert row.subject_id == v.subject_id == subject_id(sid)


@pytest.fixture
def harvested(db, actors):  # type: ignore[no-untyped-def]
    lv, _ = world.harvested_lot(db, actors["tech"])
    return lv.lot_number


@FAST
@given(data=st.data(), value=hostile_text, method_ref=st.one_of(st.none(), hostile_text))
def test_add_result_with_hostile_values(db, actors, harvested, data, value, method_ref):
    from mfg.services import results
    from mfg.store.tables import ReleaseResult

    code = data.draw(st.sampled_from([*db.product("BH002").test_codes, "XXX", "", "'--"]))
    before = counts(db)
    before_results = _n(db, ReleaseResult)
    try:
        v = results.add_result(
            results.AddResult(harvested, code, value, method_ref=method_ref),
            db=db,
            actor=actors["tech"],
            now=NOW,
        )
    except CellTrailError:
        assert counts(db) == before and _n(db, ReleaseResult) == before_results
        return
    with db.read() as s:
        from sqlmodel import col, select

        row = s.exec(select(ReleaseResult).order_by(col(ReleaseResult.id).desc())).first()
    assert (row is not None and row.value_text == value.strip()) or row.value_text == value
    del v


def _n(db, table) -> int:  # type: ignore[no-untyped-def]
    from tests.robustness.support import n_rows

    return n_rows(db, table)


@FAST
@given(payload=st.one_of(hostile_text, st.just("CT1|L|BH002-26-0001|XXXX")))
def test_scan_with_hostile_payloads(db, actors, harvested, payload):
    from mfg.services import labels

    before = counts(db)
    only_refusals(lambda: labels.scan(payload, db=db, actor=actors["tech"]))
    assert counts(db) == before


# -- CLI: exit codes 0/1/2 only, nothing partial ---------------------------------------------


@pytest.fixture
def cli_env(db, actors, lot_in_expansion, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MFG_HOME", str(tmp_path / "cli-home"))
    monkeypatch.setenv("MFG_AUDIT_KEY_FILE", str(db.settings.audit_key_path))
    monkeypatch.setenv("MFG_PASSWORD", PASSWORD)
    return db.engine.url.render_as_string(hide_password=False)


def _run(args):  # type: ignore[no-untyped-def]
    from mfg.cli import app

    r = CliRunner().invoke(app, args)
    assert r.exit_code in (0, 1, 2), (args, r.exit_code, r.output, r.exception)
    assert "Traceback" not in r.output
    if r.exception is not None:
        assert isinstance(r.exception, SystemExit), repr(r.exception)
    return r


@FAST
@given(
    total=hostile_text,
    viable=hostile_text,
    day=hostile_text,
    volume=hostile_text,
    method=hostile_text,
)
def test_cli_count_add_with_hostile_options(
    db, cli_env, lot_in_expansion, total, viable, day, volume, method
):
    before = counts(db)
    r = _run(
        [
            "count",
            "add",
            lot_in_expansion,
            "--total",
            total,
            "--viable",
            viable,
            "--day",
            day,
            "--volume-ml",
            volume,
            "--method",
            method,
            "--user",
            "tech",
            "--db",
            cli_env,
            "--json",
        ]
    )
    if r.exit_code != 0:
        assert counts(db) == before
    else:
        import json

        assert json.loads(r.stdout)["method"] == method


@FAST
@given(lot=hostile_text, sid=hostile_text, reason=hostile_text, date=hostile_text)
def test_cli_other_commands_with_hostile_arguments(db, cli_env, lot, sid, reason, date):
    before = counts(db)
    for args in (
        ["lot", "show", lot],
        ["lot", "register", sid, "--source", reason, "--apheresis-date", date],
        ["lot", "terminate", lot, "--cause", sid, "--reason", reason],
        ["subject", "weight", sid, "--weight-kg", lot, "--reason", reason],
        ["harvest", lot, "--date", date, "--total-viable", sid, "--car-pct", reason],
        ["audit", "log", "--lot", lot],
    ):
        who = "qa" if args[1] == "terminate" or args[0] == "audit" else "tech"
        r = _run([*args, "--user", who, "--db", cli_env])
        if r.exit_code != 0:
            assert counts(db) == before
        before = counts(db)


@FAST
@given(name=hostile_text, hours=hostile_text, reason=hostile_text)
def test_cli_session_and_account_commands_with_hostile_arguments(db, cli_env, name, hours, reason):
    for args, who in (
        (["login", "--user", name, "--password-stdin"], None),
        (["whoami"], None),
        (["logout"], None),
        (["user", "events", "--hours", hours], "admin"),
        (["user", "role", name, "--role", reason, "--reason", reason], "admin"),
        (["user", "passwd", "--password-stdin"], name),
    ):
        _run([*args, *(["--user", who] if who else []), "--db", cli_env])


CSV_FIELDS = (
    "lot_id", "subject_id", "site", "indication", "weight_kg", "dose_level", "source",
    "apheresis_date", "harvest_date", "car_viable_cells", "state", "VIAB", "ENDO", "STER",
)  # fmt: skip


@FAST
@given(data=st.data())
def test_csv_import_with_hostile_values(db, actors, tmp_path, data):
    from mfg.services import importer
    from mfg.store.tables import Lot, ReleaseResult, Subject
    from tests.reports import scenario

    fields = data.draw(st.lists(st.sampled_from(CSV_FIELDS), min_size=1, max_size=3, unique=True))
    values = {f: data.draw(hostile_text) for f in fields}
    n = data.draw(st.integers(0, 10**6))
    row = {**scenario.row(f"BH002-25-{n % 9999 + 1:04d}", f"H-{n}"), **values}
    path = scenario.write_csv(tmp_path / f"fuzz-{n}.csv", [row])
    tables = (Subject, Lot, ReleaseResult)
    before = counts(db), tuple(_n(db, t) for t in tables)
    try:
        staged = importer.import_lots(path, db=db, actor=actors["qa"], now=NOW)
    except CellTrailError:
        assert (counts(db), tuple(_n(db, t) for t in tables)) == before  # all or nothing
        return
    assert tuple(_n(db, t) for t in tables) == before[1]  # staging writes no lot
    res = importer.approve_import(staged.id, PASSWORD, db=db, actor=actors["qa2"], now=NOW)
    assert res.lots == 1
    if "site" in values:
        from sqlmodel import select

        from mfg.domain import identity

        # the importer keeps the id in its canonical form ('1e999' is subject '1E999')
        sid = identity.subject_id(row["subject_id"])
        with db.read() as s:
            subj = s.exec(select(Subject).where(Subject.subject_id == sid)).one()
        # and the site in its canonical form too ('NaN' is site 'NAN'), as subject add keeps it
        assert subj.site == identity.site(values["site"])


@FAST
@given(raw=st.binary(max_size=400))
def test_csv_import_of_arbitrary_bytes(db, actors, tmp_path, raw):
    from mfg.services import importer

    path = tmp_path / "bytes.csv"
    path.write_bytes(raw)
    before = counts(db)
    try:
        importer.import_lots(path, db=db, actor=actors["qa"], now=NOW)
    except CellTrailError:
        assert counts(db) == before
    else:
        raise AssertionError("arbitrary bytes were staged as an import")

"""One lot whose specification cannot be read takes no list of other lots down with it.

An SQL edit of one lot's spec version (to a version with no file, holding an escape sequence)
or product code (to a glob pattern), or of a subject's dose level or weight (text, NaN), used to
make Today's, the board's, the QA queue's and ``mfg lot list``'s reads refuse for every user:
the whole lab lost its worklist to one edited row. The lists now show every other lot as before
and flag the edited one ("not read", the rule first, escapes shown as text), once; whatever
works from that lot's spec stays refused. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from mfg.errors import CellTrailError
from mfg.services import board, labels, lots, release, worklist
from tests.release.conftest import PASSING, enter, harvested, sign
from tests.support import world
from tests.support.constants import NOW, TODAY

EDITED = "9\x1b[2J"


def _edit(db, sql: str, **params: str) -> None:  # type: ignore[no-untyped-def]
    with db.engine.begin() as conn:
        conn.execute(text(sql), params)


@pytest.fixture
def lab(db, actors):  # type: ignore[no-untyped-def]
    """Lots in expansion: A (spec version edited), B (its subject's dose level edited), C
    (untouched), F (its subject's weight edited: text on SQLite, NaN on PostgreSQL), G (product
    code edited to a glob pattern); I registered yesterday, no count (spec version edited).
    Awaiting disposition: D (spec version edited), E (untouched). H harvested, its results
    entered and not verified (spec version edited)."""
    tech = actors["tech"]
    out = {}
    for name, subject in (("A", "S-001"), ("B", "S-002"), ("C", "S-003"), ("F", "S-006")):
        world.subject(db, tech, subject)
        out[name] = world.lot(db, tech, subject).lot_number
        world.expand(db, tech, out[name], {0: (1.1e8, 1.0e8), 3: (2.6e8, 2.4e8)})
    world.subject(db, tech, "S-007")
    out["G"] = world.lot(db, tech, "S-007").lot_number
    world.subject(db, tech, "S-009")
    out["I"] = world.lot(db, tech, "S-009", day0=TODAY - timedelta(days=1)).lot_number
    for name, subject in (("D", "S-004"), ("E", "S-005"), ("H", "S-008")):
        out[name] = harvested(db, actors, subject)
        enter(db, actors, out[name], PASSING, verify_by=None if name == "H" else "tech2")
    for name in ("A", "D", "H", "I"):
        _edit(db, "UPDATE lot SET spec_version = :v WHERE lot_number = :n", v=EDITED, n=out[name])
    _edit(db, "UPDATE lot SET product_code = '/**' WHERE lot_number = :n", n=out["G"])
    _edit(db, "UPDATE subject SET dose_level = 'DL9' WHERE subject_id = 'S-002'")
    weight = "NaN" if db.dialect == "postgresql" else "heavy"
    _edit(db, f"UPDATE subject SET weight_kg = '{weight}' WHERE subject_id = 'S-006'")
    return out


SPEC_REFUSED = ("A", "D", "G", "H", "I")  # Today lists these apart; B and F: the board does


def _inert(note: str) -> None:
    assert "\x1b" not in note and "\\x1b[2J" in note, note


def test_the_board_lists_every_lot_and_flags_the_unreadable_ones(db, actors, lab):  # type: ignore[no-untyped-def]
    rows = {r.lot_number: r for r in board.board(db=db, actor=actors["tech"], now=NOW).rows}
    assert set(rows) == set(lab.values())
    a, c = rows[lab["A"]], rows[lab["C"]]
    assert a.flags[0] == "NOT READ" and a.not_read.startswith("not read [unknown-spec-version]: ")
    _inert(a.not_read)
    assert a.projection_note == a.not_read and a.target_dose_cells is None and a.dose_met is None
    assert a.day_n == 11 and a.state == "in_expansion"  # the lot's own columns and counts
    assert a.last_count_day == 3 and a.fold_expansion == pytest.approx(2.4)
    assert a.last_viability_pct == pytest.approx(2.4e8 / 2.6e8 * 100)
    rules = {"B": "unknown-dose-level", "F": None, "G": "unknown-product", "I": None}
    for name, rule in rules.items():
        row = rows[lab[name]]
        assert row.flags[0] == "NOT READ" and row.target_dose_cells is None, (name, row)
        assert rule is None or row.not_read.startswith(f"not read [{rule}]: "), (name, row)
    assert "weight_kg" in rows[lab["F"]].not_read or "weight" in rows[lab["F"]].not_read
    assert not c.not_read and "NOT READ" not in c.flags and c.target_dose_cells
    assert c.projection_note and not c.projection_note.startswith("not read")
    assert not rows[lab["E"]].not_read and rows[lab["E"]].dose_met is True


def test_the_qa_queue_lists_no_result_it_would_refuse_to_verify(db, actors, lab):  # type: ignore[no-untyped-def]
    listed = {r.lot_number for r in board.results_to_verify(db=db, actor=actors["qa"])}
    assert lab["H"] not in listed  # its spec is refused: verifying is
    _edit(db, "UPDATE lot SET spec_version = '1' WHERE lot_number = :n", n=lab["H"])
    listed = {r.lot_number for r in board.results_to_verify(db=db, actor=actors["qa"])}
    assert lab["H"] in listed  # put back: its results are there to verify


def test_the_qa_queue_lists_the_unreadable_lot_flagged(db, actors, lab):  # type: ignore[no-untyped-def]
    rows = {r.lot_number: r for r in board.awaiting_disposition(db=db, actor=actors["qa"], now=NOW)}
    assert set(rows) == {lab["D"], lab["E"]}  # H: results to verify first
    assert rows[lab["D"]].flags[0] == "NOT READ" and rows[lab["E"]].dose_met is True
    _inert(rows[lab["D"]].not_read)


@pytest.mark.parametrize("limit", [worklist.LIMIT, None])
def test_today_lists_the_others_and_the_unreadable_lot_apart(db, actors, lab, limit):  # type: ignore[no-untyped-def]
    refused = {lab[name] for name in SPEC_REFUSED}
    for who in ("tech", "qa"):
        w = worklist.worklist(db=db, actor=actors[who], now=NOW, limit=limit)
        unread = [i for i in w.items if i.kind == "not-read"]
        dose = {lab["B"], lab["F"]}  # spec read, target dose refused: listed too
        assert sorted(i.lot_number for i in unread) == sorted(refused | dose), who
        by_lot = {i.lot_number: i.text for i in unread}
        assert all(i.urgent for i in unread)
        assert all(by_lot[n].startswith("spec not read [") for n in refused), by_lot
        assert by_lot[lab["B"]].startswith("dose not read [unknown-dose-level]: "), by_lot
        weight = "weight-range" if db.dialect == "postgresql" else "weight-format"  # NaN, text
        assert by_lot[lab["F"]].startswith(f"dose not read [{weight}]: "), by_lot
        _inert(by_lot[lab["A"]])
        assert "[unknown-product]" in by_lot[lab["G"]], by_lot
        others = {(i.kind, i.lot_number) for i in w.items if i.kind != "not-read"}
        assert not {n for _, n in others} & refused, others  # listed once, apart (H's results)
        if who == "tech":  # counts due on the readable lots in expansion (B, F: spec is read)
            assert {lab["B"], lab["C"], lab["F"]} <= {n for k, n in others if k.startswith("count")}
        else:
            assert ("sign", lab["E"]) in others
        assert dict(w.by_kind)["not-read"] == len(refused | dose)
        if limit is None:  # every item listed: each kind's count is what the list holds
            listed: dict[str, int] = {}
            for i in w.items:
                listed[i.kind] = listed.get(i.kind, 0) + 1
            assert dict(w.by_kind) == listed and w.total == len(w.items), (w.by_kind, listed)


def test_the_lot_list_flags_the_unreadable_lots(db, actors, lab):  # type: ignore[no-untyped-def]
    views = {v.lot_number: v for v in lots.list_lots(db=db, actor=actors["qa"])}
    assert set(views) == set(lab.values())
    for name in ("A", "B", "D", "F", "G", "H", "I"):
        v = views[lab[name]]
        assert v.not_read.startswith("not read [") and not v.product_name, name
        assert v.target_dose_cells is None, name
    _inert(views[lab["A"]].not_read)
    assert not views[lab["C"]].not_read and views[lab["C"]].target_dose_cells


def test_what_works_from_the_unreadable_lots_spec_stays_refused(db, actors, lab):  # type: ignore[no-untyped-def]
    def refused(rule: str, act) -> None:  # type: ignore[no-untyped-def]
        with pytest.raises(CellTrailError) as e:
            act()
        assert e.value.rule == rule

    tech, qa = actors["tech"], actors["qa"]
    for name in ("A", "G", "B", "F"):
        rule = {"A": "unknown-spec-version", "G": "unknown-product", "B": "unknown-dose-level"}
        refused(
            rule.get(name, "weight-format" if db.dialect == "sqlite" else "weight-range"),
            lambda n=lab[name]: lots.show_lot(n, db=db, actor=tech),
        )
    refused("unknown-spec-version", lambda: sign(db, actors, lab["D"]))
    assert release.signatures(lab["D"], db=db, actor=qa) == []  # nothing written
    refused(
        "unknown-spec-version",
        lambda: release.add_result(
            release.AddResult(lab["H"], "VIAB", "92.0"), db=db, actor=tech, now=NOW
        ),
    )
    refused(
        "unknown-spec-version",
        lambda: release.verify_result(lab["H"], "VCN", db=db, actor=actors["tech2"], now=NOW),
    )
    world.approve_label_layouts(db)
    refused(
        "unknown-spec-version",
        lambda: labels.print_labels(
            labels.PrintLabels(lab["D"], "dose-bag"), db=db, actor=tech, now=NOW
        ),
    )
    assert sign(db, actors, lab["E"]).decision == "released"  # the readable lot is signed
    release.issue_coa(lab["E"], destination="test", db=db, actor=qa, now=NOW)
    _edit(db, "UPDATE lot SET spec_version = :v WHERE lot_number = :n", v=EDITED, n=lab["E"])
    refused(  # its COA, issued before the edit, is not issued again, nor a named revision
        "unknown-spec-version",
        lambda: release.issue_coa(lab["E"], destination="test", db=db, actor=qa, now=NOW),
    )
    refused(
        "unknown-spec-version",
        lambda: release.issue_coa(
            lab["E"], revision=1, destination="test", db=db, actor=qa, now=NOW
        ),
    )


@pytest.mark.parametrize(
    ("weight", "refused"),
    [("text", True), ("0", True), ("-3", True), ("300.5", True), ("20", False), ("300", False)],
)
def test_a_body_weight_edited_alone_is_found_and_listed_apart(db, actors, weight, refused):  # type: ignore[no-untyped-def]
    """With every dose level a spec's, the subjects are sought by weight per level (three
    ranges of ``ix_subject_dose``): a weight out of bounds, or text (NaN on PostgreSQL), is
    found as the scan of every subject found it, on the last of three levels as on the first;
    the bounds themselves are body weights."""
    tech = actors["tech"]
    numbers = []
    for subject, level in (("S-101", "DL3"), ("S-102", "DL1"), ("S-103", "DL2")):
        world.subject(db, tech, subject, dose_level=level)
        numbers.append(world.lot(db, tech, subject).lot_number)
    if weight == "text":
        weight = "NaN" if db.dialect == "postgresql" else "heavy"
    _edit(db, f"UPDATE subject SET weight_kg = '{weight}' WHERE subject_id = 'S-101'")
    w = worklist.worklist(db=db, actor=tech, now=NOW)
    unread = {i.lot_number: i.text for i in w.items if i.kind == "not-read"}
    if refused:
        assert list(unread) == [numbers[0]], unread
        assert unread[numbers[0]].startswith("dose not read [weight-"), unread
    else:
        assert unread == {}, unread


def test_a_weight_among_hundreds_of_dose_levels_is_found(sqlite_db):  # type: ignore[no-untyped-def]
    """Hundreds of dose levels (only SQL edits make them; with no spec read, every level is
    taken for one) are sought by one scan, not three ranges each: SQLite refuses an
    expression over 1,000 terms deep, and Today's read failed for everyone."""
    from mfg.services.pinned_specs import SEEK_LEVELS, _odd_weight

    subjects = [{"i": f"S-{i:03d}", "level": f"L{i}"} for i in range(3 * SEEK_LEVELS + 400)]
    with sqlite_db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO subject (subject_id, site, indication, weight_kg, weight_on,"
                " dose_level, created_at, row_version) VALUES (:i, 'BJ01', 'SLE', 62.5,"
                " '2026-01-01', :level, '2026-01-01 00:00:00', 1)"
            ),
            subjects,
        )
    levels = [s["level"] for s in subjects]
    with sqlite_db.engine.connect() as conn:
        assert not _odd_weight(conn, sorted(levels))
        assert not _odd_weight(conn, sorted(levels)[:SEEK_LEVELS])
    _edit(sqlite_db, "UPDATE subject SET weight_kg = 'heavy' WHERE subject_id = 'S-433'")
    with sqlite_db.engine.connect() as conn:
        assert _odd_weight(conn, sorted(levels))
        assert not _odd_weight(conn, sorted(levels)[:SEEK_LEVELS])  # not among these


@pytest.mark.parametrize("column", ["product_code", "spec_version"])
def test_a_spec_edited_to_a_blob_is_listed_apart(sqlite_db, column):  # type: ignore[no-untyped-def]
    """SQLite keeps a blob an SQL edit writes into a text column (``X'...'``): the lot's spec
    is refused and listed apart, never a failure of Today, the board or the QA queue (the
    refused pair was written into the SQL of the lots being expanded as a literal, and a blob
    had none: every user's Today failed)."""
    from tests.conftest import add_users

    actors = add_users(sqlite_db)
    tech = actors["tech"]
    numbers = []
    for subject in ("S-201", "S-202"):
        world.subject(sqlite_db, tech, subject)
        numbers.append(world.lot(sqlite_db, tech, subject).lot_number)
    _edit(sqlite_db, f"UPDATE lot SET {column} = X'43415254' WHERE lot_number = :n", n=numbers[0])
    for who in ("tech", "qa"):
        for limit in (worklist.LIMIT, None):
            w = worklist.worklist(db=sqlite_db, actor=actors[who], now=NOW, limit=limit)
            unread = {i.lot_number: i.text for i in w.items if i.kind == "not-read"}
            assert list(unread) == [numbers[0]], (who, unread)
            assert unread[numbers[0]].startswith("spec not read ["), unread
    rows = {r.lot_number: r for r in board.board(db=sqlite_db, actor=actors["qa"], now=NOW).rows}
    assert rows[numbers[0]].not_read and not rows[numbers[1]].not_read

"""Today's narrow reads of the active lots (``lot_status``) say what the board says: the counts due
and harvest windows of the lots being expanded, the lots ready for disposition and the open
alerts, on SQLite and PostgreSQL, by the indexes meant for them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mfg.services import board, lot_status, release, worklist
from tests.conftest import add_users
from tests.release.conftest import PASSING, enter, harvested, sign
from tests.support import world
from tests.support.constants import NOW, TODAY
from tests.support.plans import query_plans, statements_sent


def test_the_lots_ready_for_disposition_are_the_tallies_rule_worked_out_in_sql(db, actors):
    """``ready_for_disposition`` lists, in lot-number order, the lots in testing whose tests are
    all reported, none failing, pending or unverified: the rule Today applied to the board's
    tallies of each lot, on both back-ends; QA's Today lists them all and counts them."""
    first = ready_lot_of(db, actors, "S-020")
    second = ready_lot_of(db, actors, "S-021")
    not_ready = [
        ready_lot_of(db, actors, "S-022", verify_by=None),  # unverified
        ready_lot_of(db, actors, "S-023", STER="pending"),
        ready_lot_of(db, actors, "S-024", VIAB="61"),  # fails
        harvested(db, actors, "S-025"),  # nothing reported
    ]
    missing = harvested(db, actors, "S-026")
    enter(db, actors, missing, {k: v for k, v in PASSING.items() if k != "APPEAR"})
    not_ready.append(missing)
    one_unverified = harvested(db, actors, "S-030")  # every result verified but one
    enter(db, actors, one_unverified, {k: v for k, v in PASSING.items() if k != "APPEAR"})
    enter(db, actors, one_unverified, {"APPEAR": PASSING["APPEAR"]}, verify_by=None)
    not_ready.append(one_unverified)
    signed = ready_lot_of(db, actors, "S-027")
    sign(db, actors, signed)  # released: no longer in testing
    corrected = ready_lot_of(db, actors, "S-028", VIAB="61")  # a failure corrected: ready
    _correct(db, actors, corrected, "VIAB", "91.5")
    not_ready.append(ready_lot_of(db, actors, "S-029"))  # a pass corrected to a failure
    _correct(db, actors, not_ready[-1], "VIAB", "61")
    rows = board.board(db=db, actor=actors["qa"], now=NOW, active_only=True).rows
    assert {r.state for r in rows} == {"harvested", "in_release_testing"}
    by_rule = [
        r.lot_number
        for r in rows
        if not (r.unverified_results or r.oos or r.pending_results)
        and r.state != "conditionally_released"
    ]
    assert sorted(by_rule) == [first, second, corrected]
    assert lot_status.ready_for_disposition(db) == [first, second, corrected]
    for limit in (None, worklist.LIMIT):
        today = worklist.worklist(db=db, actor=actors["qa"], now=NOW, limit=limit)
        assert dict(today.by_kind)["sign"] == 3
        signs = [i.lot_number for i in today.items if i.kind == "sign"]
        assert signs == [first, second, corrected]
    found = worklist._Found(1)  # a cap of one: the first in lot-number order kept, both counted
    worklist._ready(found, lot_status.ready_for_disposition(db))
    assert [(k, lot) for k, lot, *_ in found.kept] == [("sign", first)]
    assert found.seen == {("sign", False): 3}


def _correct(db, actors, lot, code, value):  # type: ignore[no-untyped-def]
    """A result corrected (the old one superseded), and the new one verified."""
    release.correct_result(
        release.AddResult(lot, code, value),
        "transcription error",
        db=db,
        actor=actors["tech"],
        now=NOW,
    )
    release.verify_result(lot, code, db=db, actor=actors["tech2"], now=NOW)


def test_a_ready_lot_whose_day_0_is_no_date_is_listed_apart_not_to_sign(sqlite_db):
    """An SQL edit leaves a ready lot's day 0 no date: QA's Today lists it as not read, never as
    ready for disposition (SQLite: PostgreSQL's dates are dates)."""
    actors = add_users(sqlite_db)
    kept, edited = (ready_lot_of(sqlite_db, actors, s) for s in ("S-050", "S-051"))
    with sqlite_db.engine.begin() as conn:
        sql = "UPDATE lot SET day0 = '2026-02-30' WHERE lot_number = ?"
        conn.exec_driver_sql(sql, (edited,))
    assert lot_status.ready_for_disposition(sqlite_db) == [kept]
    today = worklist.worklist(db=sqlite_db, actor=actors["qa"], now=NOW, limit=None)
    assert [(i.kind, i.lot_number) for i in today.items if i.lot_number == edited] == [
        ("not-read", edited)
    ]


def test_the_lots_ready_are_found_in_indexes_without_reading_a_result(sqlite_db, monkeypatch):
    """SQLite answers each lot's three questions (a failing or pending result, an unverified
    one, how many pass) from ``ix_releaseresult_open`` and migration 0010's
    ``ix_releaseresult_unverified``, never reading a result's row (each lot's rows were read:
    0.21 against 0.08 s at 100,000 lots). A result whose evaluation an SQL edit made none of
    pass, fail and pending is not counted as reported: its lot is not listed; nor is a lot
    with a second current result, failing, beside its passing one (only SQL makes one)."""
    actors = add_users(sqlite_db)
    kept, edited, doubled = (
        ready_lot_of(sqlite_db, actors, s) for s in ("S-052", "S-053", "S-054")
    )
    of_lot = "lot_pk = (SELECT id FROM lot WHERE lot_number = ?)"
    with sqlite_db.engine.begin() as conn:
        sql = f"UPDATE releaseresult SET evaluation = 'PASS' WHERE test_code = 'VIAB' AND {of_lot}"
        conn.exec_driver_sql(sql, (edited,))
        columns = (
            "lot_pk, test_code, value_text, qualifier, unit, evaluation, entered_by, entered_at, "
            "verified_by, verified_at, after_disposition, row_version"
        )
        sql = (
            f"INSERT INTO releaseresult ({columns}) SELECT lot_pk, test_code, '61', qualifier, "
            "unit, 'fail', entered_by, entered_at, verified_by, verified_at, after_disposition, "
            f"1 FROM releaseresult WHERE test_code = 'VIAB' AND {of_lot}"
        )
        conn.exec_driver_sql(sql, (doubled,))
    sent: list[str] = []
    select_rows = lot_status.select_rows

    def spy(conn, query):  # type: ignore[no-untyped-def]
        sent.append(str(query.compile(conn.engine, compile_kwargs={"literal_binds": True})))
        return select_rows(conn, query)

    monkeypatch.setattr(lot_status, "select_rows", spy)
    assert lot_status.ready_for_disposition(sqlite_db) == [kept]
    ready_sql = [q for q in sent if "FROM releaseresult" in q]
    assert len(ready_sql) == 1, sent
    plan = query_plans(sqlite_db.engine, [(ready_sql[0], ())])[ready_sql[0]]
    results = [line for line in plan if " releaseresult " in f"{line} "]
    assert len(results) == 3, plan
    for line in results:
        assert "COVERING INDEX ix_releaseresult_open" in line or (
            "ix_releaseresult_unverified" in line
        ), plan


def ready_lot_of(db, actors, subject_id, verify_by="tech2", **values):  # type: ignore[no-untyped-def]
    lot = harvested(db, actors, subject_id)
    enter(db, actors, lot, {**PASSING, **values}, verify_by=verify_by)
    return lot


def test_an_open_alert_on_an_active_lot_is_on_everyones_today(db, actors):
    lot = harvested(db, actors, "S-020")
    enter(db, actors, lot, {**PASSING, "STER": "pending"})
    sign(db, actors, lot, "conditional-release", reason="sterility pending")
    # sterility grows after the conditional release: a late OOS raises an alert on the lot
    release.correct_result(
        release.AddResult(lot, "STER", "Growth"),
        "day 14 read-out",
        db=db,
        actor=actors["tech"],
        now=NOW,
    )
    (row,) = board.board(db=db, actor=actors["qa"], now=NOW, active_only=True).rows
    assert row.alerts == 1 and row.state == "conditionally_released"
    assert lot_status.open_alerts(db) == [(lot, 1)]
    for who in ("tech", "qa"):
        items = worklist.worklist(db=db, actor=actors[who], now=NOW).items
        assert ("alert", lot, "1 open alert(s)", True) in [
            (i.kind, i.lot_number, i.text, i.urgent) for i in items
        ], who


def _expected_flags(db, tech, now):  # type: ignore[no-untyped-def]
    """Today's count and harvest-window flags of the lots being expanded, worked out in Python
    from the board's own row of each lot (its day N, last count and overdue flag) and the
    spec's window: what ``expansion_lots`` computes in SQL."""
    out = []
    spec = db.product("BH002")  # the spec every lot of these tests is registered under
    first, last = spec.window_first_day, spec.window_last_day
    for r in board.board(db=db, actor=tech, now=now, active_only=True).rows:
        if r.state not in board.COUNT_STATES:
            continue
        since = None if r.last_count_day is None else r.day_n - r.last_count_day
        if r.overdue_count:
            count = lot_status.OVERDUE
        elif since is None or since >= lot_status.COUNT_DUE_AFTER_DAYS:
            count = lot_status.DUE
        else:
            count = 0
        window = 0
        if r.state == "in_expansion" and first <= r.day_n <= last:
            window = lot_status.LAST_DAY if r.day_n == last else lot_status.IN_WINDOW
        out.append((r.lot_number, r.state, count, window, r.last_count_day, r.day_n, (first, last)))
    return sorted(out)


def _flag_counts(rows):  # type: ignore[no-untyped-def]
    counts: dict[tuple[str, int], int] = {}
    for r in rows:
        for key in (("count", r[2]), ("window", r[3])):
            if key[1]:  # flag 0: nothing to do, not counted
                counts[key] = counts.get(key, 0) + 1
    return counts


def _assert_capped_reads_are_heads(db, now, every):  # type: ignore[no-untyped-def]
    """A capped read holds exactly the lots among the first ``cap`` (in lot order) of their
    count flag or of their window flag, in lot order, and counts every lot as the full read."""
    for cap in (0, 1, 2):
        rows, counts = lot_status.expansion_lots(db, db.today(now), cap)
        heads = set()
        for i in (2, 3):
            for flag in {r[i] for r in every} - {0}:
                heads |= set([r for r in every if r[i] == flag][:cap])
        assert rows == [r for r in every if r in heads], cap
        assert counts == _flag_counts(every), cap


def test_the_flags_worked_out_in_sql_are_the_boards_rules_day_by_day(db, actors):
    """``expansion_lots`` flags counts and harvest windows in SQL from bound dates; from day 0
    to past the window's last day, on both back-ends, it says what the board's rows imply."""
    tech = actors["tech"]
    world.subject(db, tech, "S-030")
    world.lot(db, tech, "S-030", day0=TODAY)  # registered, never counted
    world.subject(db, tech, "S-031")
    counted = world.lot(db, tech, "S-031", day0=TODAY - timedelta(days=9))
    world.expand(db, tech, counted.lot_number)  # counts on days 0-9
    world.subject(db, tech, "S-032")
    once = world.lot(db, tech, "S-032", day0=TODAY - timedelta(days=1))
    world.expand(db, tech, once.lot_number, {1: world.GROWTH[0]})  # one count, yesterday
    harvested(db, actors, "S-033")  # not being expanded: not listed
    seen_flags = set()
    for days in range(0, 9):
        now = NOW + timedelta(days=days)
        rows, counts = lot_status.expansion_lots(db, db.today(now))
        got = sorted(rows)
        assert got == _expected_flags(db, tech, now), days
        assert counts == _flag_counts(got), days
        _assert_capped_reads_are_heads(db, now, got)
        seen_flags |= {(g[2], g[3]) for g in got}
    # every count flag and every window flag was met on the way
    assert {c for c, _ in seen_flags} == {0, lot_status.OVERDUE, lot_status.DUE}
    assert {w for _, w in seen_flags} == {0, lot_status.IN_WINDOW, lot_status.LAST_DAY}


def test_today_lists_the_most_urgent_items_and_counts_them_all(db, actors):
    """With a limit, Today's list is the head of the full list, most urgent first, and the
    counts cover every item, listed or not."""
    tech = actors["tech"]
    for i in range(6):
        world.subject(db, tech, f"S-04{i}")
        lot = world.lot(db, tech, f"S-04{i}", day0=TODAY - timedelta(days=2 * i))
        if i % 2:
            world.expand(db, tech, lot.lot_number, {0: world.GROWTH[0]})
    for subject in ("S-048", "S-049"):
        testing = harvested(db, actors, subject)
        enter(db, actors, testing, {"VIAB": "91.5", "CD3": "96.1 %"}, verify_by=None)
    for who in ("tech", "qa"):
        full = worklist.worklist(db=db, actor=actors[who], now=NOW, limit=None)
        assert full.complete and full.total == len(full.items) >= 3, who
        kinds = [i.kind for i in full.items]
        assert full.by_kind == tuple(
            (k, kinds.count(k)) for k in sorted(set(kinds), key=worklist._rank)
        )
        assert full.urgent == sum(i.urgent for i in full.items)
        for limit in (1, 2, full.total - 1):
            head = worklist.worklist(db=db, actor=actors[who], now=NOW, limit=limit)
            assert head.items == full.items[:limit], (who, limit)
            assert (head.total, head.urgent, head.by_kind) == (
                full.total,
                full.urgent,
                full.by_kind,
            )
            assert not head.complete
    kinds = {i.kind for i in worklist.worklist(db=db, actor=tech, now=NOW, limit=None).items}
    assert {"count-overdue", "count-due"} <= kinds
    qa = worklist.worklist(db=db, actor=actors["qa"], now=NOW, limit=None)
    assert dict(qa.by_kind)["verify"] == 4  # two results of each lot, entered by the technician


def test_records_to_verify_of_earlier_lots_come_before_results_of_later_ones(db, actors):
    """The records to verify (harvest, weight) and the results to verify feed one kind from two
    sources: with more results than the limit, a harvest of an earlier lot must still head the
    list (each source keeps its own first items; a shared count left records no room)."""
    first = harvested(db, actors, "S-050", verify=False)  # harvest + weight to verify
    later = [harvested(db, actors, f"S-05{i}") for i in (1, 2)]
    for lot in later:
        enter(db, actors, lot, {"VIAB": "91.5", "CD3": "96.1 %"}, verify_by=None)
    qa = actors["qa"]
    full = worklist.worklist(db=db, actor=qa, now=NOW, limit=None)
    assert [i.lot_number for i in full.items[:2]] == [first, first]
    assert dict(full.by_kind)["verify"] == 6
    for limit in (1, 2, 3, 5):
        head = worklist.worklist(db=db, actor=qa, now=NOW, limit=limit)
        assert head.items == full.items[:limit], limit


def test_the_last_count_of_a_lot_is_one_look_up_in_the_current_counts_index(sqlite_db):
    """SQLite finds a lot's last current count in ``ix_cellcount_current`` (migration 0006)
    without sorting the lot's counts: a temporary B-tree per lot was about 60 ms of Today's read
    at 100,000 lots (a tenth)."""
    from sqlalchemy import select

    from mfg.store.tables import Lot

    query = select(Lot.__table__.c.id, lot_status._last_count_id())  # type: ignore[attr-defined]
    sql = str(
        query.compile(dialect=sqlite_db.engine.dialect, compile_kwargs={"literal_binds": True})
    )
    with sqlite_db.engine.connect() as conn:
        plan = [r[-1] for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")]
    lookups = [p for p in plan if "newest" in p]
    assert lookups and all("ix_cellcount_current" in p for p in lookups), plan
    assert not any("TEMP B-TREE" in p for p in plan), plan


def test_todays_reads_find_open_alerts_thawed_bags_and_lots_by_their_indexes(
    sqlite_db, monkeypatch
):
    """Migration 0009: SQLite finds the open alerts in ``ix_alert_open`` (counted there before
    their lots are read: joined the other way every active lot was probed), the thawed bags in
    ``ix_dosebag_thawed`` (every bag was read), and the lots being expanded from
    ``ix_lot_state`` alone; migration 0010: QA's results to verify in
    ``ix_releaseresult_unverified`` (each lot in testing's results were read); none of Today's
    statements reads a whole table."""
    actors = add_users(sqlite_db)
    with statements_sent(sqlite_db.engine) as sent:
        for who in ("tech", "qa"):
            worklist.worklist(db=sqlite_db, actor=actors[who], now=NOW, limit=None)
    flags_sql = _flags_sql(sqlite_db, monkeypatch)  # by the DB-API cursor: no engine event
    plans = query_plans(sqlite_db.engine, [*sent, (flags_sql, ())])
    for statement, plan in plans.items():
        whole = [p for p in plan if p.startswith("SCAN ") and " USING " not in p]
        whole = [p for p in whole if p.split()[1] in TABLES]
        assert not whole or "FROM auditevent" in statement, (statement, plan)  # handover: last
    alerts = [p for s, p in plans.items() if "FROM alert" in s]
    bags = [p for s, p in plans.items() if "FROM dosebag" in s]
    flags = plans[flags_sql]
    assert alerts and all(any("ix_alert_open" in line for line in p) for p in alerts), alerts
    lots = [line for p in alerts for line in p if " lot " in f"{line} "]
    assert lots and all("INTEGER PRIMARY KEY" in line for line in lots), alerts  # not by state
    assert bags and all(any("ix_dosebag_thawed" in line for line in p) for p in bags), bags
    unverified = [p for s, p in plans.items() if "releaseresult.verified_by IS NULL" in s]
    assert unverified, plans
    assert all(any("ix_releaseresult_unverified" in line for line in p) for p in unverified)
    assert any(line.startswith("SEARCH lot USING COVERING INDEX ix_lot_state (") for line in flags)


TABLES = {"lot", "alert", "dosebag", "harvest", "subject", "cellcount", "releaseresult"}


def _flags_sql(db, monkeypatch):  # type: ignore[no-untyped-def]
    """The SQL of the lots being expanded as ``expansion_lots`` sends it."""
    from mfg.store import bulk

    captured: list[str] = []

    def spy(conn, query):  # type: ignore[no-untyped-def]
        sql = query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
        captured.append(str(sql))
        return bulk.select_rows(conn, query)

    monkeypatch.setattr(lot_status, "select_rows", spy)
    lot_status.expansion_lots(db, TODAY, 5)
    return captured[0]


@pytest.mark.postgres
def test_postgresql_looks_up_each_lots_last_count_per_lot(pg_db, monkeypatch):
    """PostgreSQL finds the last count of each lot being expanded by a look-up per lot (a
    LATERAL subquery: the inner side of a nested loop). Joined by the id a correlated subquery
    finds, it hashed every count of every lot and ran the subquery per lot to probe the hash
    (264-290 ms of Today's read at 100,000 lots, against 142-158 ms)."""
    actors = add_users(pg_db)
    world.subject(pg_db, actors["tech"], "S-040")
    counted = world.lot(pg_db, actors["tech"], "S-040", day0=TODAY - timedelta(days=3))
    world.expand(pg_db, actors["tech"], counted.lot_number, {1: world.GROWTH[0]})
    with pg_db.engine.connect() as conn:
        sql = f"EXPLAIN (FORMAT JSON) {_flags_sql(pg_db, monkeypatch)}"
        plan = conn.exec_driver_sql(sql).scalar_one()
    nodes = list(_plan_nodes(plan[0]["Plan"]))
    assert not [n for n in nodes if n.get("Parent Relationship") == "SubPlan"], plan
    loops = [n for n in nodes if n["Node Type"] == "Nested Loop"]
    inner = [c for n in loops for c in n["Plans"] if c["Parent Relationship"] == "Inner"]
    limits = [n for c in inner for n in _plan_nodes(c) if n["Node Type"] == "Limit"]
    looked_up = [n for c in limits for n in _plan_nodes(c) if _reads(n, "cellcount")]
    every = [n for n in nodes if _reads(n, "cellcount")]
    assert looked_up and every == looked_up, plan  # no other read of the counts


def _reads(node, table):  # type: ignore[no-untyped-def]
    return node.get("Relation Name") == table


def _plan_nodes(node):  # type: ignore[no-untyped-def]
    yield node
    for child in node.get("Plans", []):
        yield from _plan_nodes(child)


def test_a_capped_read_keeps_a_lot_in_the_head_of_one_flag_only(db, actors):
    """Six lots all overdue for a count, three of them in the harvest window: with a cap of 2
    the count's head is the first two lots, the window's the first two in the window; the
    third lot is read for its window alone, and Today lists it only there."""
    tech = actors["tech"]
    spec = db.product("BH002")
    inside = [spec.window_first_day + d for d in range(3)]  # inside, before its last day
    assert inside[-1] < spec.window_last_day
    for i, days in enumerate((inside[0], 4, inside[1], 5, inside[2], 6)):
        world.subject(db, tech, f"S-07{i}")
        lot = world.lot(db, tech, f"S-07{i}", day0=TODAY - timedelta(days=days))
        world.expand(db, tech, lot.lot_number, {0: world.GROWTH[0]})
    rows, _ = lot_status.expansion_lots(db, TODAY)
    assert {r[2] for r in rows} == {lot_status.OVERDUE}
    assert [r[3] for r in rows] == [lot_status.IN_WINDOW, 0] * 3
    capped, counts = lot_status.expansion_lots(db, TODAY, 2)
    assert [r[0] for r in capped] == [rows[0][0], rows[1][0], rows[2][0]]
    assert counts[("count", lot_status.OVERDUE)] == 6
    _assert_capped_reads_are_heads(db, NOW, sorted(rows))
    items = worklist.worklist(db=db, actor=tech, now=NOW, limit=None).items
    for limit in (0, 2, 4):
        head = worklist.worklist(db=db, actor=tech, now=NOW, limit=limit)
        assert head.items == items[:limit] and head.total == len(items), limit


def test_today_caps_the_records_to_verify_and_counts_them_all(db, actors):
    """Four harvested lots with their harvest and weight to verify (eight items from one
    source): QA's Today with any limit, 0 included, is the head of the full list and counts
    all eight."""
    lots = [harvested(db, actors, f"S-08{i}", verify=False) for i in range(4)]
    qa = actors["qa"]
    full = worklist.worklist(db=db, actor=qa, now=NOW, limit=None)
    mine = [i for i in full.items if i.kind == "verify"]
    assert [i.lot_number for i in mine] == [n for n in sorted(lots) for _ in (0, 1)]
    assert dict(full.by_kind)["verify"] == 8
    for limit in (0, 1, 3, 5, 7):
        head = worklist.worklist(db=db, actor=qa, now=NOW, limit=limit)
        assert head.items == full.items[:limit], limit
        assert (head.total, head.urgent, head.by_kind) == (full.total, full.urgent, full.by_kind)


def test_the_flags_and_the_whole_lots_are_read_on_one_snapshot(db, actors, monkeypatch):
    """A count recorded between the flags' read and the whole lots' read is seen by neither:
    the lot counted as overdue is the lot listed as overdue (PostgreSQL reads at REPEATABLE
    READ; at READ COMMITTED the second read saw the count and the lot left the list)."""
    tech = actors["tech"]
    world.subject(db, tech, "S-090")
    lot = world.lot(db, tech, "S-090", day0=TODAY - timedelta(days=5))  # never counted: overdue
    heads = lot_status._heads

    def count_in_between(*args):  # type: ignore[no-untyped-def]
        chosen = heads(*args)
        world.expand(db, tech, lot.lot_number, {5: world.GROWTH[5]})  # counted today
        return chosen

    monkeypatch.setattr(lot_status, "_heads", count_in_between)
    rows, counts = lot_status.expansion_lots(db, TODAY, 200)
    assert counts == {("count", lot_status.OVERDUE): 1}
    assert [r[:3] for r in rows] == [(lot.lot_number, "registered", lot_status.OVERDUE)]
    monkeypatch.setattr(lot_status, "_heads", heads)
    after, _ = lot_status.expansion_lots(db, TODAY, 200)
    assert after == []  # counted today: nothing to do, so not read whole


def _today_world(db, actors):  # type: ignore[no-untyped-def]
    """The kinds a technician's Today lists from several sources: lots being expanded (a count
    overdue, due, in the harvest window), an open alert, records to verify."""
    tech = actors["tech"]
    for i, days in enumerate((0, 3, 5, 11, 12)):
        world.subject(db, tech, f"S-10{i}")
        lot = world.lot(db, tech, f"S-10{i}", day0=TODAY - timedelta(days=days))
        if days in (3, 11):  # counted 3 and 2 days ago
            counted = {3: 0, 11: 9}[days]
            world.expand(db, tech, lot.lot_number, {counted: world.GROWTH[counted]})
    harvested(db, actors, "S-109", verify=False)  # its harvest and weight to verify
    alerted = harvested(db, actors, "S-108")
    enter(db, actors, alerted, {**PASSING, "STER": "pending"})
    sign(db, actors, alerted, "conditional-release", reason="sterility pending")
    late = release.AddResult(alerted, "STER", "Growth")  # a late OOS: an open alert
    release.correct_result(late, "day 14 read-out", db=db, actor=tech, now=NOW)


def _spy_threads(monkeypatch):  # type: ignore[no-untyped-def]
    """The threads ``expansion_lots`` ran in, in call order."""
    import threading

    expansion_lots, threads = lot_status.expansion_lots, []

    def spy(*args):  # type: ignore[no-untyped-def]
        threads.append(threading.get_ident())
        return expansion_lots(*args)

    monkeypatch.setattr(lot_status, "expansion_lots", spy)
    return threads


def _as_before(monkeypatch):  # type: ignore[no-untyped-def]
    """Today as it was read before the read beside: on one thread, the lots being expanded
    kept second, right after the alerts (before the results to verify); the lots that
    ``worklist`` now keeps last are dropped (read again, and not kept)."""
    results, keep = worklist._results_to_verify, worklist._expansion_items
    monkeypatch.setattr("mfg.services.beside.reads_at_once", lambda engine: False)
    monkeypatch.setattr(worklist, "_expansion_items", lambda found, rows, counts: None)

    def expansion_then_results(found, db, actor, readable_lot):  # type: ignore[no-untyped-def]
        keep(found, *lot_status.expansion_lots(db, TODAY, found.cap))
        results(found, db, actor, readable_lot)

    monkeypatch.setattr(worklist, "_results_to_verify", expansion_then_results)


LIMITS = (None, 1, 3, 5, 200)


def test_the_lots_being_expanded_are_read_beside_the_rest_with_the_same_list(
    db, actors, monkeypatch
):
    """Today reads the lots being expanded on a second connection in another thread while this
    one reads the rest (SQLite file and PostgreSQL: ``reads_at_once``; the capped list only)
    and keeps them last; the list, its order and its counts are those of the read before it,
    on one thread with the lots kept second."""
    import threading

    _today_world(db, actors)
    tech, main = actors["tech2"], threading.get_ident()  # tech entered the records to verify
    threads = _spy_threads(monkeypatch)
    beside = [worklist.worklist(db=db, actor=tech, now=NOW, limit=n) for n in LIMITS]
    # the capped lists in another thread; every item ('a': rows built in Python) here
    assert threads[0] == main and len(threads) == len(LIMITS) and main not in threads[1:]
    _as_before(monkeypatch)
    threads.clear()
    before = [worklist.worklist(db=db, actor=tech, now=NOW, limit=n) for n in LIMITS]
    assert threads == [main] * (2 * len(LIMITS))  # read (and kept second), read again (dropped)
    assert beside == before
    kinds = [i.kind for i in before[0].items]
    assert {"count-overdue", "count-due", "harvest-window", "verify", "alert"} <= set(kinds)
    assert kinds.index("alert") < kinds.index("count-overdue") < kinds.index("verify"), kinds


def test_without_a_second_connection_today_reads_everything_here(db, actors, monkeypatch):
    """A server or pool with no connection left for the thread: it gives up before reading,
    and the caller reads the lots being expanded itself, with the same list (no error)."""
    import threading

    from sqlalchemy.exc import OperationalError

    _today_world(db, actors)
    tech, main = actors["tech2"], threading.get_ident()
    expected = worklist.worklist(db=db, actor=tech, now=NOW)
    connect = type(db.engine).connect

    def no_second(engine):  # type: ignore[no-untyped-def]
        if threading.get_ident() != main:
            raise OperationalError("connect", None, Exception("too many clients already"))
        return connect(engine)

    monkeypatch.setattr(type(db.engine), "connect", no_second)
    threads = _spy_threads(monkeypatch)
    assert worklist.worklist(db=db, actor=tech, now=NOW) == expected
    assert threads == [main]


def test_an_error_of_the_read_beside_reaches_the_caller_after_the_rest(db, actors, monkeypatch):
    """A refusal in the lots' read (here: a spec file gone), raised in the thread, is raised by
    ``worklist`` once the caller's own reads are done, as on one thread."""
    import threading

    from mfg.specfiles import TemplateError

    _today_world(db, actors)
    main, ran_in, done = threading.get_ident(), [], []
    thawed = worklist._thawed

    def refuse(*args):  # type: ignore[no-untyped-def]
        ran_in.append(threading.get_ident())
        raise TemplateError("BH002-v1.toml", "product", "unknown-product", "gone")

    def later(*args):  # type: ignore[no-untyped-def]
        done.append("thawed")
        return thawed(*args)

    monkeypatch.setattr(lot_status, "expansion_lots", refuse)
    monkeypatch.setattr(worklist, "_thawed", later)
    with pytest.raises(TemplateError, match="gone"):
        worklist.worklist(db=db, actor=actors["tech2"], now=NOW)
    assert done == ["thawed"] and ran_in and main not in ran_in


def test_an_error_of_the_caller_waits_for_the_thread_and_wins(db, actors, monkeypatch):
    """When the caller's own read fails while the thread still reads, ``worklist`` raises the
    caller's error, and only once the thread is done (no read left running behind it): the
    thread here goes on only when ``worklist`` has returned or after half a second, so a
    ``worklist`` that did not wait would return with the thread unfinished (unless this
    thread took over half a second from the raise to the assert: then such a one would pass;
    a ``worklist`` that waits passes whatever the timing)."""
    import threading

    _today_world(db, actors)
    caller_failed, returned, finished = threading.Event(), threading.Event(), []

    def slow(*args):  # type: ignore[no-untyped-def]
        assert caller_failed.wait(10)
        finished.append(returned.wait(0.5))  # False: worklist had not returned
        raise ValueError("the thread's read failed too")

    def fail(*args):  # type: ignore[no-untyped-def]
        caller_failed.set()
        raise RuntimeError("the caller's read failed")

    monkeypatch.setattr(lot_status, "expansion_lots", slow)
    monkeypatch.setattr(worklist, "_thawed", fail)
    try:
        with pytest.raises(RuntimeError, match="caller's read"):
            worklist.worklist(db=db, actor=actors["tech2"], now=NOW)
        assert finished == [False]  # done, and before worklist returned
    finally:
        returned.set()


def test_an_in_memory_database_reads_today_on_one_connection():
    """Two connections of an in-memory SQLite database are two empty databases, and a static or
    per-thread pool has no second connection to the same data: Today's reads stay on one
    thread there (``reads_at_once``), and run beside on a file or a server."""
    import warnings

    from sqlalchemy.pool import QueuePool, StaticPool

    from mfg.store.db import make_engine, reads_at_once

    for url in ("sqlite://", "sqlite:///:memory:", "sqlite:///file:today?mode=memory&uri=true"):
        with warnings.catch_warnings():  # SQLAlchemy: its pool for mode=memory will change
            warnings.simplefilter("ignore")
            assert not reads_at_once(make_engine(url)), url  # (a per-thread pool today)
        assert not reads_at_once(make_engine(url, poolclass=QueuePool)), url  # by the URL
    never = "sqlite:////tmp/celltrail-never-opened.db"
    assert not reads_at_once(make_engine(never, poolclass=StaticPool))
    assert reads_at_once(make_engine(never))
    assert reads_at_once(make_engine("postgresql+psycopg://u@localhost/never"))


def test_the_log_in_warm_up_opens_both_connections_today_reads_on(db):
    """While the user types, ``users.warm_up`` opens two pooled connections on a database that
    reads on two at once, so that Today's second read does not open one after Enter."""
    from mfg.services import users

    db.engine.dispose()  # an empty pool
    users.warm_up(db)
    assert db.engine.pool.checkedin() == 2  # type: ignore[attr-defined]

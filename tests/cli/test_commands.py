"""Every command: it works, `--json` parses; init, users, configuration, audit verify."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import typer

from mfg.cli import load_all
from tests.cli.conftest import Home, invoke
from tests.support.constants import PASSWORD


def js(home: Home, *args: str, **kw: object) -> object:
    r = home.ok(*args, "--json", **kw)  # type: ignore[arg-type]
    return json.loads(r.stdout)


def walk(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """(path, command) for every leaf command; typer vendors its own click, so duck-typed."""
    out = []
    for name, cmd in sorted(group.commands.items()):
        if hasattr(cmd, "commands"):
            out += walk(cmd, (*prefix, name))
        else:
            out.append(((*prefix, name), cmd))
    return out


def test_every_command_takes_json_user_and_db_and_shows_an_example():
    root = typer.main.get_command(load_all())
    commands = walk(root)
    assert len(commands) >= 20
    for path, cmd in commands:
        opts = {o for p in cmd.params for o in getattr(p, "opts", [])}
        assert {"--json", "--user", "--db"} <= opts, (
            f"mfg {' '.join(path)} lacks --json/--user/--db"
        )
        assert "Example:" in (cmd.help or ""), (
            f"mfg {' '.join(path)}: docstring needs an Example: line"
        )


def test_a_lot_through_every_foundation_command_with_json(home: Home):
    lot = home.lot(1)
    s = js(
        home,
        "subject",
        "add",
        "S-001",
        "--site",
        "BJ01",
        "--indication",
        "sle",
        "--weight-kg",
        "62.5 kg",
        "--dose-level",
        "dl2",
        "--initials",
        "ab",
        "--dob",
        "1988-04-02",
    )
    assert s == {
        "subject_id": "S-001",
        "site": "BJ01",
        "indication": "SLE",
        "weight_kg": 62.5,
        "weight_on": home.today().isoformat(),
        "dose_level": "DL2",
        "initials": "AB",
        "dob": "1988-04-02",
        "version": 1,
        "weight_recorded_by": "tech",
        "weight_verified_by": None,
    }
    assert js(home, "subject", "show", "S-001") == s
    assert (
        js(home, "subject", "weight", "S-001", "--weight-kg", "64", "--reason", "re-weighed")[
            "weight_kg"
        ]
        == 64.0
    )
    v = js(
        home, "lot", "register", "S-001", "--source", "apheresis", "--apheresis-date", home.day(11)
    )
    assert v["lot_number"] == lot and v["coi"].startswith("CHA9990") and v["state"] == "registered"
    assert v["day0"] == home.day(11) and v["target_dose_cells"] == 128_000_000
    c = js(
        home,
        "count",
        "add",
        lot,
        "--day",
        "0",
        "--total",
        "1.1e8",
        "--viable",
        "1.0e8",
        "--volume-ml",
        "50 mL",
        "--method",
        "NC-200",
    )
    assert (c["expansion_day"], c["viable_cells"], c["volume_ml"], c["method"]) == (
        0,
        10**8,
        50.0,
        "NC-200",
    )
    js(
        home,
        "count",
        "add",
        lot,
        "--date",
        home.day(8),
        "--total",
        "3.2x10^8",
        "--viable",
        "3.0x10^8",
    )
    js(home, "count", "add", lot, "--day", "6", "--total", "1,200x10^6", "--viable", "1.1×10⁹")
    typo = js(home, "count", "add", lot, "--day", "8", "--total", "2.2e10", "--viable", "2.0e10")
    fixed = js(
        home,
        "count",
        "correct",
        lot,
        str(typo["id"]),
        "--day",
        "8",
        "--total",
        "2.2e9",
        "--viable",
        "2.0e9",
        "--reason",
        "exponent typo",
    )
    assert fixed["supersedes_id"] == typo["id"] and fixed["correction_reason"] == "exponent typo"
    g = js(home, "lot", "growth", lot)
    assert [x["viable_cells"] for x in g["counts"]] == [10**8, 3 * 10**8, 11 * 10**8, 2 * 10**9]
    assert g["series"][-1]["fold_expansion"] == pytest.approx(20.0)
    assert g["projection"]["within_window"] is True
    assert [x["id"] for x in g["corrected"]] == [typo["id"]]
    h = js(
        home, "harvest", lot, "--date", "today", "--total-viable", "3.0e9", "--car-pct", "32.5 %"
    )
    assert (h["harvest_day"], h["car_viable_cells"], h["dose_met"]) == (11, 975_000_000, True)
    h2 = js(
        home,
        "harvest",
        lot,
        "--date",
        "today",
        "--total-viable",
        "3.0e9",
        "--car-pct",
        "30",
        "--correct",
        "CAR% re-read",
        user="qa",
    )
    assert h2["correction_reason"] == "CAR% re-read" and h2["car_viable_cells"] == 900_000_000
    shown = js(home, "lot", "show", lot)
    assert shown["state"] == "harvested" and shown["harvest"]["car_pct"] == 30.0
    assert shown["expansion_day_today"] == 11
    assert [x["lot_number"] for x in js(home, "lot", "list", "--state", "harvested")] == [lot]
    assert js(home, "lot", "list", "--state", "registered") == []
    home.subject("S-002")
    other = home.register("S-002", 2)
    t = js(
        home,
        "lot",
        "terminate",
        other,
        "--cause",
        "not_evaluable",
        "--reason",
        "withdrew",
        user="qa",
    )
    assert (t["state"], t["termination_cause"]) == ("terminated", "not_evaluable")
    log = js(home, "audit", "log", "--lot", lot, user="qa")
    assert [e["action"] for e in log][-3:] == [
        "lot.state_changed",
        "harvest.recorded",
        "harvest.corrected",
    ]
    assert len(js(home, "audit", "log", "--last", "2", user="admin")) == 2
    r = js(home, "audit", "verify", user="qa")
    assert r["ok"] is True and r["first_bad_seq"] is None and r["events"] > 15


def test_human_output(home: Home):
    home.subject()
    lot = home.register()
    r = home.ok("lot", "show", lot)
    assert lot in r.stdout and "[registered]" in r.stdout and "1.2 x 10^8" in r.stdout
    r = home.ok("count", "add", lot, "--day", "0", "--total", "1.1e8", "--viable", "1.0e8")
    assert r.stdout == f"count 1: {lot} day 0, viable 1.0 x 10^8 of 1.1 x 10^8 (90.9 %)\n"
    r = home.ok("lot", "growth", lot)
    assert "projection: needs counts on two different days" in r.stdout
    r = home.ok("audit", "verify", user="qa")
    assert r.stdout.startswith("audit trail intact: ")


def test_init_creates_database_config_and_admin(tmp_path: Path):
    home = tmp_path / "fresh"
    r = invoke(home, ["init", "--admin", "alice", "--full-name", "Alice Admin", "--json"])
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["admin_created"] is True and data["schema_revision"]
    assert (home / "celltrail.db").exists() and (home / "config.toml").exists()
    assert data["database"] == f"sqlite:///{home / 'celltrail.db'}"
    r = invoke(home, ["user", "list", "--json"], user="alice")
    assert [(u["username"], u["role"], u["full_name"]) for u in json.loads(r.stdout)] == [
        ("alice", "admin", "Alice Admin")
    ]


def test_init_refuses_a_short_admin_password_and_writes_nothing(tmp_path: Path):
    home = tmp_path / "fresh"
    r = invoke(home, ["init", "--admin", "alice"], password="short")
    assert r.exit_code == 1
    assert r.stderr == "refused: password: needs at least 12 characters [password-too-short]\n"
    assert (
        not (home / "celltrail.db").exists()
        or sqlite3.connect(home / "celltrail.db")
        .execute("SELECT count(*) FROM sqlite_master WHERE name='app_user'")
        .fetchone()[0]
        == 0
    )


def test_init_without_a_terminal_or_password_asks_for_mfg_password(tmp_path: Path):
    r = invoke(tmp_path / "h", ["init", "--admin", "alice"], password=None)
    assert r.exit_code == 1
    assert r.stderr == (
        "refused: password: no terminal to ask the password: run mfg login, or set MFG_PASSWORD "
        "(automation) [password-required]\n"
    )


def test_user_add_password_stdin_and_policy(home: Home):
    u = js(
        home,
        "user",
        "add",
        "bob",
        "--role",
        "qa",
        "--full-name",
        "Bob Q",
        "--password-stdin",
        user="admin",
        input="a-long-password-1\n",
    )
    assert (u["username"], u["role"], u["locked"], u["active"]) == ("bob", "qa", False, True)
    home.ok("lot", "list", user="bob", password="a-long-password-1")
    before = home.snapshot()
    r = home.run(
        "user",
        "add",
        "carl",
        "--role",
        "qa",
        "--full-name",
        "Carl",
        "--password-stdin",
        user="admin",
        input="short\n",
    )
    assert (r.exit_code, r.stderr) == (
        1,
        "refused: password: needs at least 12 characters [password-too-short]\n",
    )
    r = home.run(
        "user",
        "add",
        "carl",
        "--role",
        "boss",
        "--full-name",
        "Carl",
        "--password-stdin",
        user="admin",
        input="carls-long-password\n",
    )
    assert r.exit_code == 1 and r.stderr.endswith("[unknown-role]\n")
    r = home.run("user", "add", "carl", "--role", "qa", "--full-name", "Carl", user="admin")
    assert r.stderr == (
        "refused: password: no terminal to ask the new password: use --password-stdin "
        "[password-required]\n"
    )
    r = home.run(
        "user",
        "add",
        "carl",
        "--role",
        "qa",
        "--full-name",
        "Carl",
        "--password-stdin",
        user="tech",
        input="carls-long-password\n",
    )
    assert (
        r.stderr
        == "refused: role technician may not user.manage (allowed: admin) [not-permitted]\n"
    )
    assert home.snapshot() == before


def test_deactivate_activate_and_passwd(home: Home):
    home.ok("user", "deactivate", "tech", "--reason", "left", user="admin")
    r = home.run("lot", "list")
    assert r.exit_code == 1 and r.stderr.endswith("[authentication-failed]\n")
    home.ok("user", "activate", "tech", "--reason", "back", user="admin")
    home.ok("user", "passwd", "--password-stdin", input="a-brand-new-password\n")
    assert home.run("lot", "list").exit_code == 1
    home.ok("lot", "list", password="a-brand-new-password")
    users = js(home, "user", "list", user="admin")
    assert {u["username"] for u in users} == {"admin", "tech", "qa", "qa2", "sponsor"}


def test_config_show(home: Home, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MFG_SITE_TZ", "Asia/Shanghai")
    monkeypatch.setenv("MFG_LABEL_KEY", "s3cret-key")
    from typer.testing import CliRunner

    from mfg.cli import app as the_app

    r = CliRunner().invoke(the_app, ["config", "show", "--json"])
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    s = data["settings"]
    assert s["home"] == str(home.path) and s["facility_id"] == "A9990"
    assert (
        s["site_timezone"] == "Asia/Shanghai" and data["sources"]["site_timezone"] == "$MFG_SITE_TZ"
    )
    assert data["sources"]["facility_id"] == str(home.path / "config.toml")
    assert s["label_key"] == "*** (set)" and "s3cret" not in r.stdout
    assert s["database_url"] == f"sqlite:///{home.db_path}"
    r = CliRunner().invoke(the_app, ["config", "show"])
    assert r.exit_code == 0 and "Asia/Shanghai" in r.stdout and "s3cret" not in r.stdout


def test_db_option_points_elsewhere(home: Home, tmp_path: Path):
    other = tmp_path / "other.db"
    r = invoke(home.path, ["init", "--admin", "zed", "--db", f"sqlite:///{other}"])
    assert r.exit_code == 0, r.stderr
    r = invoke(home.path, ["user", "list", "--json", "--db", f"sqlite:///{other}"], user="zed")
    assert [u["username"] for u in json.loads(r.stdout)] == ["zed"]


def test_product_show(home: Home):
    p = js(home, "product", "show", "BH002")
    assert p["code"] == "BH002" and p["dose_levels"] == {"DL1": 1e6, "DL2": 2e6, "DL3": 3e6}
    assert home.ok("product", "show").stdout.startswith(
        "BH002 injection, CD19-BCMA CAR-T cells (BH002)"
    )


# -- audit verify after tampering with the sqlite3 module -----------------------------------------
@pytest.fixture
def tampered(home: Home) -> Home:
    home.subject()
    lot = home.register()
    home.expand(lot)
    return home


def _drop_audit_triggers(c: sqlite3.Connection) -> None:
    """What a tamperer with the file does first: the append-only triggers go."""
    c.execute("DROP TRIGGER auditevent_no_update")
    c.execute("DROP TRIGGER auditevent_no_delete")


def test_the_audit_table_refuses_edits(tampered: Home):
    with sqlite3.connect(tampered.db_path) as c:
        with pytest.raises(sqlite3.IntegrityError, match="append-only: UPDATE refused"):
            c.execute("UPDATE auditevent SET reason = 'x' WHERE seq = 2")
        with pytest.raises(sqlite3.IntegrityError, match="append-only: DELETE refused"):
            c.execute("DELETE FROM auditevent WHERE seq = 2")


def verify(home: Home) -> tuple[int, str]:
    r = home.run("audit", "verify", user="qa")
    return r.exit_code, r.stderr


def test_verify_names_a_changed_row(tampered: Home):
    with sqlite3.connect(tampered.db_path) as c:
        (seq,) = c.execute(
            "SELECT min(seq) FROM auditevent WHERE action = 'count.recorded'"
        ).fetchone()
        _drop_audit_triggers(c)
        c.execute(
            "UPDATE auditevent SET new_values = replace(new_values, '100000000', '900000000') "
            "WHERE seq = ?",
            (seq,),
        )
    assert verify(tampered) == (
        1,
        f"refused: audit trail broken at event {seq}: event {seq} was changed after it was "
        "written (its keyed hash does not match: edited, or re-hashed by someone without the "
        "site's key) [audit-chain-broken]\n",
    )
    r = tampered.run("audit", "verify", "--json", user="qa")
    assert r.exit_code == 1 and json.loads(r.stdout)["first_bad_seq"] == seq


def test_verify_names_a_deleted_row(tampered: Home):
    with sqlite3.connect(tampered.db_path) as c:
        _drop_audit_triggers(c)
        c.execute("DELETE FROM auditevent WHERE seq = 6")
    assert verify(tampered) == (
        1,
        "refused: audit trail broken at event 6: event 6 is missing (found 7 in its place) "
        "[audit-chain-broken]\n",
    )


def test_verify_names_two_swapped_rows(tampered: Home):
    with sqlite3.connect(tampered.db_path) as c:
        _drop_audit_triggers(c)
        c.execute("UPDATE auditevent SET seq = -1 WHERE seq = 9")
        c.execute("UPDATE auditevent SET seq = 9 WHERE seq = 10")
        c.execute("UPDATE auditevent SET seq = 10 WHERE seq = -1")
    assert verify(tampered) == (
        1,
        "refused: audit trail broken at event 9: event 9 does not link to event 8 "
        "[audit-chain-broken]\n",
    )


def test_verify_intact(tampered: Home):
    code, err = verify(tampered)
    assert (code, err) == (0, "")
    assert PASSWORD  # the tamper tests above start from this intact trail

"""Rules for bad input (issue 2): exit 1, one exact stderr line naming field and rule, nothing
written, no traceback. Usage errors exit 2."""

from __future__ import annotations

import pytest

from tests.cli.conftest import Home


def refused(
    home: Home, args: list[str], line: str, user: str = "tech", password: str | None = None
) -> None:
    before = home.snapshot()
    kw = {} if password is None else {"password": password}
    r = home.run(*args, user=user, **kw)
    assert r.exit_code == 1, (r.stdout, r.stderr)
    assert r.stderr == line + "\n"
    assert r.stdout == ""
    assert home.snapshot() == before, "a refused command wrote something"


@pytest.fixture
def lot(home: Home) -> str:
    home.subject()
    return home.register()


def test_viable_more_than_total(home: Home, lot: str):
    refused(
        home,
        ["count", "add", lot, "--day", "9", "--total", "2.0e9", "--viable", "2.1e9"],
        "refused: viable: viable cells (2,100,000,000) exceed total cells (2,000,000,000) "
        "[viable-exceeds-total]",
    )


@pytest.mark.parametrize(
    ("total", "line"),
    [
        ("-1e9", "refused: total: '-1e9': a cell count must be > 0, not negative [count-positive]"),
        ("0", "refused: total: '0': a cell count must be > 0 [count-positive]"),
        (
            "1.2e9 cells",
            "refused: total: '1.2e9 cells' is not a number; write e.g. 1.2e9, "
            "1.2x10^9 or 1,200x10^6 [number-format]",
        ),
    ],
)
def test_negative_zero_or_unreadable_counts(home: Home, lot: str, total: str, line: str):
    refused(home, ["count", "add", lot, "--day", "1", f"--total={total}", "--viable", "1e8"], line)


@pytest.mark.parametrize(
    ("volume", "line"),
    [
        ("0.75 L", "refused: volume_ml: '0.75 L': write the volume in mL (750 mL) [wrong-unit]"),
        ("-5", "refused: volume_ml: '-5': a volume is more than 0 mL [volume-range]"),
        (
            "lots",
            "refused: volume_ml: 'lots' is not a volume; write mL, e.g. 750 or 750 mL "
            "[number-format]",
        ),
    ],
)
def test_a_culture_volume_is_in_ml_and_its_message_is_about_volumes(
    home: Home, lot: str, volume: str, line: str
):
    """The volume's message is a volume's (it quoted the cell-count hint "1.2e9, 1.2x10^9"),
    and litres are refused naming the mL, never converted unasked."""
    args = ["count", "add", lot, "--day", "1", "--total", "2e8", "--viable", "1.8e8"]
    refused(home, [*args, f"--volume-ml={volume}"], line)


def test_date_before_day0(home: Home, lot: str):
    d = home.day(12)
    refused(
        home,
        ["count", "add", lot, "--date", d, "--total", "1e9", "--viable", "9e8"],
        f"refused: date: {d} precedes day 0 ({home.day(11)}) [count-before-day-0]",
    )


def test_date_in_the_future(home: Home, lot: str):
    d = home.day(-1)
    refused(
        home,
        ["count", "add", lot, "--date", d, "--total", "1e9", "--viable", "9e8"],
        f"refused: date: {d} is after today ({home.today()}) [date-in-future]",
    )
    refused(
        home,
        ["lot", "register", "S-001", "--source", "apheresis", "--apheresis-date", d],
        f"refused: apheresis_date: {d} is after today ({home.today()}) [date-in-future]",
    )


def test_day0_missing_for_the_source(home: Home):
    home.subject()
    refused(
        home,
        ["lot", "register", "S-001", "--source", "apheresis"],
        "refused: apheresis_date: fresh apheresis material needs --apheresis-date [day0-missing]",
    )
    refused(
        home,
        ["lot", "register", "S-001", "--source", "cryo-pbmc", "--apheresis-date", home.day(30)],
        "refused: thaw_date: cryopreserved PBMC need --thaw-date (day 0) [day0-missing]",
    )


def test_unknown_subject_lot_dose_level_indication(home: Home, lot: str):
    refused(
        home,
        ["lot", "register", "S-404", "--source", "apheresis", "--apheresis-date", home.day(1)],
        "refused: subject 'S-404' does not exist [unknown-subject]",
    )
    refused(
        home,
        ["count", "add", "BH002-26-9999", "--day", "1", "--total", "1e9", "--viable", "9e8"],
        "refused: lot 'BH002-26-9999' does not exist [unknown-lot]",
    )
    refused(
        home,
        ["lot", "show", "BH002-26-9999"],
        "refused: lot 'BH002-26-9999' does not exist [unknown-lot]",
    )
    base = ["subject", "add", "S-002", "--site", "BJ01", "--weight-kg", "70"]
    refused(
        home,
        [*base, "--indication", "SLE", "--dose-level", "DL4"],
        "refused: dose_level: 'DL4' is not a dose level of BH002 (one of DL1, DL2, DL3) "
        "[unknown-dose-level]",
    )
    refused(
        home,
        [*base, "--indication", "RA", "--dose-level", "DL1"],
        "refused: indication: 'RA' is not one of SLE, LN, SSc, SjS, AAV, IIM [unknown-indication]",
    )


def test_count_after_harvest(home: Home, lot: str):
    home.expand(lot)
    home.ok("harvest", lot, "--date", "today", "--total-viable", "3.0e9", "--car-pct", "32.5")
    refused(
        home,
        ["count", "add", lot, "--date", "today", "--total", "2.0e9", "--viable", "1.9e9"],
        f"refused: lot: lot {lot} is harvested: counts are recorded during expansion only "
        "[count-after-harvest]",
    )


@pytest.mark.parametrize("weight", ["19.9", "300.5", "350 kg"])
def test_weight_outside_20_300(home: Home, weight: str):
    shown = weight.removesuffix(" kg")
    refused(
        home,
        [
            "subject",
            "add",
            "S-002",
            "--site",
            "BJ01",
            "--indication",
            "SLE",
            "--weight-kg",
            weight,
            "--dose-level",
            "DL1",
        ],
        f"refused: weight_kg: {shown} kg is outside 20-300 kg [weight-range]",
    )


def test_wrong_role(home: Home, lot: str):
    refused(
        home,
        ["count", "add", lot, "--day", "1", "--total", "1e9", "--viable", "9e8"],
        "refused: role sponsor may not count.add (allowed: technician) [not-permitted]",
        user="sponsor",
    )
    refused(
        home,
        ["lot", "terminate", lot, "--cause", "manufacturing", "--reason", "x"],
        "refused: role technician may not lot.terminate (allowed: qa) [not-permitted]",
    )
    refused(
        home,
        ["audit", "verify"],
        "refused: role technician may not audit.verify (allowed: admin, qa) [not-permitted]",
    )


def test_wrong_password_is_refused_and_only_the_failed_login_is_recorded(home: Home, lot: str):
    before = home.snapshot()
    r = home.run(
        "count",
        "add",
        lot,
        "--day",
        "1",
        "--total",
        "1e9",
        "--viable",
        "9e8",
        password="not-the-password",
    )
    assert r.exit_code == 1 and r.stdout == ""
    assert r.stderr == (
        "refused: unknown user or wrong password (4 attempt(s) left before lock-out) "
        "[authentication-failed]\n"
    )
    after = home.snapshot()
    # the failed attempt is audited (it counts towards the lock-out); no count was written
    assert after["cellcount"] == before["cellcount"]
    assert after["auditevent"] == before["auditevent"] + 1


def test_unknown_user_and_missing_user(home: Home):
    before = home.snapshot()
    r = home.run("lot", "list", user="mallory")
    assert r.exit_code == 1
    assert r.stderr == "refused: unknown user or wrong password [authentication-failed]\n"
    after = home.snapshot()  # only the failed log-in, for the admins' report (mfg user events)
    assert {t for t in before if before[t] != after[t]} == {"auditevent"}
    assert after["auditevent"] == before["auditevent"] + 1
    r = home.run("lot", "list", user=None)
    assert r.exit_code == 1
    assert r.stderr == (
        "refused: user: say who you are: mfg login, or --user NAME (or MFG_USER) [user-required]\n"
    )


def test_locked_account_after_five_wrong_passwords(home: Home):
    for _ in range(5):
        assert home.run("lot", "list", password="nope-nope-nope").exit_code == 1
    refused(
        home,
        ["lot", "list"],
        "refused: account tech is locked after 5 wrong passwords; an admin must unlock it "
        "(mfg user unlock) [account-locked]",
    )
    home.ok("user", "unlock", "tech", "--reason", "confirmed by phone", user="admin")
    home.ok("lot", "list")


def test_no_traceback_on_bad_config(home: Home):
    (home.path / "config.toml").write_text('facility_id = "O0001"\n')
    r = home.run("lot", "list")
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert r.stderr.startswith(f"refused: {home.path / 'config.toml'}: facility_id 'O0001'")
    assert r.stderr.endswith("[bad-configuration]\n") and r.stderr.count("\n") == 1


@pytest.mark.parametrize(
    "args",
    [
        ["count", "add", "BH002-26-0001", "--day", "1", "--total", "1e9"],  # --viable missing
        ["count", "add", "BH002-26-0001", "--day", "one", "--total", "1e9", "--viable", "1e8"],
        ["lot", "show"],
        ["lot", "show", "BH002-26-0001", "--colour"],
        ["lot", "dance"],
        ["subject", "add", "S-1", "--site", "X"],
        ["harvest", "BH002-26-0001", "--bags", "many"],
    ],
)
def test_usage_errors_exit_2_and_write_nothing(home: Home, args: list[str]):
    before = home.snapshot()
    r = home.run(*args)
    assert r.exit_code == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.output and ("Usage:" in r.stderr or "Error" in r.stderr)
    assert home.snapshot() == before


def test_an_implausible_count_is_recorded_with_the_tuis_warnings_on_stderr(home: Home, lot: str):
    """`mfg count add` said nothing of a second count the same day or a 12-fold jump in a day
    (the TUI asks; the hostile trial of 2026-12-04); a script reading --json is not disturbed."""
    home.ok("count", "add", lot, "--day", "0", "--total", "1.1e8", "--viable", "1.0e8")
    r = home.ok("count", "add", lot, "--day", "1", "--total", "1.3e9", "--viable", "1.2e9")
    assert "CHECK: viable cells up 12-fold in 1 day(s) since day 0: check the exponent" in r.stderr
    r = home.ok(
        "count", "add", lot, "--day", "1", "--total", "1.3e9", "--viable", "1.2e9", "--json"
    )
    assert "is this a second count of the same day?" in r.stderr and r.stdout.startswith("{")
    r = home.ok("count", "add", lot, "--day", "3", "--total", "1.5e9", "--viable", "1.4e9")
    assert "CHECK" not in r.stderr  # a plausible count: nothing to check


def test_a_count_recorded_is_not_called_refused_when_its_check_cannot_read(
    home: Home, lot: str, monkeypatch: pytest.MonkeyPatch
):
    """The warnings read the lot's counts again after the write: a failure there said
    "refused" (exit 1) of a count that is recorded."""
    from mfg.errors import RuleViolation
    from mfg.services import counts

    def unreadable(*_a: object, **_k: object) -> None:
        raise RuleViolation("viable_cells", "stored-value-unreadable", "count 1: not a number")

    monkeypatch.setattr(counts, "count_history", unreadable)
    r = home.ok("count", "add", lot, "--day", "0", "--total", "1.1e8", "--viable", "1.0e8")
    assert f"{lot} day 0, viable 1.0 x 10^8" in r.stdout, r.stdout  # recorded, and said so
    assert "CHECK: the plausibility check did not run: viable_cells" in r.stderr
    assert "refused" not in r.stderr

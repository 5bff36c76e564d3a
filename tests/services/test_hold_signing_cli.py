"""The e-signatures of `mfg hold place|lift|administer-oos` and `mfg import approve` (21 CFR
11.200(a)): the password is typed at signing (or --password-stdin), never taken from
MFG_PASSWORD; a refused signing writes nothing. Each on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from mfg.services import importer, release
from mfg.services.uow import Actor, Database
from mfg.store.tables import AuditEvent, ImportBatch, LotHold, OosAdministration
from tests.services.test_holds import LATER, count, released_with_bags
from tests.support.constants import NOW, PASSWORD

# mfg runs on data made at NOW: its clock is fixed a week on (cli_clock), not the real one
pytestmark = pytest.mark.usefixtures("cli_clock")


def mfg(db: Database, home: Path, user: str, *args: str, input: str | None = None) -> Result:
    from mfg.cli import app

    url = db.engine.url.render_as_string(hide_password=False)
    env = {"MFG_HOME": str(home), "MFG_PASSWORD": PASSWORD, "MFG_USER": user}
    return CliRunner().invoke(app, [*args, "--db", url], env=env, input=input)


def refused_unsigned(db: Database, home: Path, table: type, *args: str) -> None:
    before = (count(db, table), count(db, AuditEvent))
    r = mfg(db, home, "qa", *args)
    assert r.exit_code == 1, r.output
    assert "[signature-password-required]" in r.stderr and "MFG_PASSWORD" in r.stderr
    assert (count(db, table), count(db, AuditEvent)) == before


def test_holds_are_signed_with_a_typed_password_never_mfg_password(db, actors, tmp_path):
    lot, _ = released_with_bags(db, actors)
    home = tmp_path / "home"
    refused_unsigned(db, home, LotHold, "hold", "place", lot, "--reason", "LN2 excursion")
    r = mfg(db, home, "qa", "hold", "place", lot, "--reason", "LN2 excursion", "--password-stdin",
            input=PASSWORD + "\n")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert count(db, LotHold) == 1
    refused_unsigned(db, home, LotHold, "hold", "lift", lot, "--reason", "log reviewed")
    r = mfg(db, home, "qa", "hold", "lift", lot, "--reason", "log reviewed", "--password-stdin",
            input="wrong password!\n")  # fmt: skip
    assert r.exit_code == 1 and "[authentication-failed]" in r.stderr
    r = mfg(db, home, "qa", "hold", "lift", lot, "--reason", "log reviewed", "--password-stdin",
            input=PASSWORD + "\n")  # fmt: skip
    assert r.exit_code == 0 and "not on hold" in r.stdout


def test_oos_administration_is_signed_at_the_terminal(db, actors, tmp_path):
    lot, _ = released_with_bags(db, actors)
    release.add_result(
        release.AddResult(lot, "STER", "Growth"), db=db, actor=actors["tech"], now=LATER
    )
    home = tmp_path / "home"
    args = ("hold", "administer-oos", lot, "--physician", "Dr. A. Chen", "--reason", "no option")
    refused_unsigned(db, home, OosAdministration, *args)
    r = mfg(db, home, "qa", *args, "--password-stdin", input=PASSWORD + "\n")
    assert r.exit_code == 0, r.output
    assert "for Dr. A. Chen signed by" in r.stdout and "Dr Dr." not in r.stdout


def test_import_approval_is_signed_at_the_terminal(db, actors: dict[str, Actor], tmp_path):
    from tests.reports import scenario

    path = scenario.write_csv(tmp_path / "h.csv", [scenario.row("BH002-25-0001", "H-001")])
    staged = importer.import_lots(path, db=db, actor=actors["qa"], now=NOW)
    home = tmp_path / "home"
    before = (count(db, AuditEvent), count(db, ImportBatch))
    r = mfg(db, home, "qa2", "import", "approve", str(staged.id))
    assert r.exit_code == 1 and "[signature-password-required]" in r.stderr, r.output
    assert (count(db, AuditEvent), count(db, ImportBatch)) == before
    with db.read() as s:
        assert s.get(ImportBatch, staged.id).state == "staged"  # type: ignore[union-attr]
    r = mfg(db, home, "qa2", "import", "approve", str(staged.id), "--password-stdin",
            input=PASSWORD + "\n")  # fmt: skip
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("who", ["tech", "sponsor"])
def test_a_role_that_may_not_hold_is_refused_before_the_password_is_asked(
    db, actors, tmp_path, who
):
    lot, _ = released_with_bags(db, actors)
    r = mfg(db, tmp_path / "home", who, "hold", "place", lot, "--reason", "x")
    assert r.exit_code == 1 and "[not-permitted]" in r.stderr
    assert count(db, LotHold) == 0

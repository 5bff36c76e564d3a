"""A broken ISBT 128 codes file (coa_templates/isbt128-codes.toml, edited by the site) is a
one-line refusal naming the file, never an internal error, and QA cannot approve a layout whose
codes could not print."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from labels import layouts
from mfg.services import label_control
from mfg.services import labels as label_svc
from tests.conftest import add_users
from tests.support import world
from tests.support.constants import NOW, PASSWORD
from tests.support.refusals import assert_refused

BROKEN = {
    "syntax": "[BH002\ncollection_type = ",
    "duplicate-key": '[BH002]\nculture = "YA003"\nculture = "YA003"\n',
}


def _point_at(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    monkeypatch.setattr(layouts, "CODES_FILE", path)
    layouts._codes_text.cache_clear()
    monkeypatch.setattr(layouts, "_codes_text", layouts._codes_text.__wrapped__)


@pytest.mark.parametrize("case", [*BROKEN, "not-utf8", "missing"])
def test_a_broken_codes_file_is_refused_by_every_label_command(
    sqlite_db, tmp_path, monkeypatch, case, cli_clock
):
    db = sqlite_db
    actors = add_users(db)
    now = cli_clock
    lv, _ = world.harvested_lot(db, actors["tech"], now=now)
    world.approve_label_layouts(db, now)
    path = tmp_path / "isbt128-codes.toml"
    if case == "not-utf8":
        path.write_bytes(b"\xff\xfe[BH002]\n")
    elif case != "missing":
        path.write_text(BROKEN[case], encoding="utf-8")
    _point_at(monkeypatch, path)
    env = {
        "MFG_HOME": str(db.settings.home),
        "MFG_DATABASE_URL": db.settings.database_url,
        "MFG_PASSWORD": PASSWORD,
    }
    from mfg.cli import app

    for user, args, stdin in (
        ("qa", ["labels", "layouts"], None),
        ("tech", ["labels", "print", lv.lot_number, "--kind", "culture", "-o", "x.pdf"], None),
        ("qa", ["labels", "approve-layout", "culture", "--reason", "ok", "--password-stdin"], PASSWORD),
    ):  # fmt: skip
        r = CliRunner().invoke(app, [*args, "--user", user], env=env, input=stdin)
        assert r.exit_code == 1, (args, r.exit_code, r.stdout, r.stderr)
        line = r.stderr.strip()
        assert line.startswith("refused: isbt128_codes: ") and line.endswith("[codes-file-broken]")
        assert str(path) in line and len(line.splitlines()) == 1
    assert not (tmp_path / "x.pdf").exists()
    assert_refused(
        db,
        lambda: label_svc.print_labels(
            label_svc.PrintLabels(lv.lot_number, "culture", reprint_reason="x"),
            db=db,
            actor=actors["tech"],
            now=now,
        ),
        "codes-file-broken",
        "isbt128_codes",
    )


@pytest.mark.parametrize(
    "text, rule",
    [
        ("# every product deleted\n", "codes-file-broken"),
        ('[BH002]\ncollection_type = "1"\nculture = "ZZ"\n', "bad-isbt128-product-code"),
    ],
)
def test_qa_cannot_approve_a_layout_whose_codes_cannot_print(
    db, actors, tmp_path, monkeypatch, text, rule
):
    path = tmp_path / "isbt128-codes.toml"
    path.write_text(text, encoding="utf-8")
    _point_at(monkeypatch, path)
    assert_refused(
        db,
        lambda: label_control.approve_layout(
            "culture", "proofs checked", PASSWORD, db=db, actor=actors["qa"], now=NOW
        ),
        rule,
    )

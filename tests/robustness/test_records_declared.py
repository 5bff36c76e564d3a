"""Every table and column is either checked against the audit trail or exempted with a reason
(mfg/records.py). A table or column added without a line there fails here, saying what to add."""

from __future__ import annotations

from sqlalchemy import inspect
from sqlmodel import SQLModel

import mfg.store.tables  # noqa: F401  (registers every table)
from mfg.integrity import CHECKS
from mfg.recordrules import Check, Exempt
from mfg.records import RECORDS, coverage


def test_every_table_and_column_is_declared():
    schema = {t.name: [c.name for c in t.columns] for t in SQLModel.metadata.sorted_tables}
    missing = coverage(schema).missing
    assert not missing, "\n".join(missing)


def test_the_migrated_database_has_no_undeclared_table(db):
    """Tables made by migrations only (not in the models) are caught too."""
    insp = inspect(db.engine)
    schema = {
        t: [c["name"] for c in insp.get_columns(t)]
        for t in insp.get_table_names()
        if t != "alembic_version"
    }
    missing = coverage(schema).missing
    assert not missing, "\n".join(missing)


def test_every_exemption_says_why_and_every_check_exists():
    for rec in RECORDS:
        for column, rule in rec.columns.items():
            if isinstance(rule, Exempt):
                assert len(rule.why) > 15, f"{rec.table}.{column}: say why it is exempt"
            if isinstance(rule, Check):
                assert rule.name in CHECKS, f"{rec.table}.{column}: no check {rule.name!r}"


def test_the_failure_message_says_what_to_add():
    missing = coverage({"lot": ["id", "lot_number", "colour"], "hold": ["id"]}).missing
    text = "\n".join(missing)
    assert "column lot.colour is neither checked nor exempted" in text
    assert 'add "colour": val("<event key>") or exempt("<why>") to the \'lot\' Record' in text
    assert "table hold is not declared: add Record('hold'" in text

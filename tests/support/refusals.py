"""The one "refused, and nothing written" assertion of the suite.

``snapshot`` is every row of every table (their content, not only their number) plus the head of
the audit chain; ``assert_refused`` runs a call that must be refused with a given rule (and
field, and error class) and compares the snapshot before and after, so a refusal that wrote a
row, changed a state or appended an audit event fails, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlmodel import SQLModel

import mfg.store.tables  # noqa: F401  (every table registered on the metadata)
from mfg.errors import CellTrailError, RuleViolation
from mfg.services.uow import Database


def snapshot(db: Database) -> dict[str, object]:
    """Per table: its row count and a digest of every row in primary-key order."""
    out: dict[str, object] = {}
    with db.engine.connect() as c:
        for t in SQLModel.metadata.sorted_tables:
            rows = c.execute(select(t).order_by(*t.primary_key.columns)).all()
            digest = hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()
            out[t.name] = (len(rows), digest)
    return out


def assert_refused(
    db: Database,
    fn: Callable[[], object],
    rule: str,
    field: str | None = None,
    kind: type[CellTrailError] = CellTrailError,
) -> CellTrailError:
    """``fn()`` raises ``kind`` with ``rule`` (and ``field``), and nothing was written."""
    before = snapshot(db)
    with pytest.raises(kind) as e:
        fn()
    assert e.value.rule == rule, f"{e.value.rule} != {rule}: {e.value}"
    if field is not None:
        assert isinstance(e.value, RuleViolation), e.value
        assert e.value.field == field, f"field {e.value.field} != {field}: {e.value}"
    after = snapshot(db)
    changed = [t for t in before if before[t] != after.get(t)]
    assert not changed, f"a refused call wrote to: {', '.join(changed)}"
    return e.value

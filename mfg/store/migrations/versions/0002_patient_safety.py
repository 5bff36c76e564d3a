"""patient safety: holds, OOS administration, site settings, staged imports, verification of
the values that set the dose, historical lots; canonical identifiers.

Revision ID: 0002
Revises: 0004
Create Date: 2026-12-01 23:20:24.783666

Data: every subject id, lot number, COI code and user name already stored is rewritten in its
canonical form (Unicode NFC, control / format / zero-width characters removed, surrounding
whitespace removed, one letter case: ids upper, user names lower; the rules of
``mfg.domain.identity``, frozen here as they were at 0002).

Two existing rows that become the same id (``s-003`` and ``S-003``; ``qa`` and ``qa\\n``) are
NOT merged: the oldest row (lowest id) keeps the canonical id, each later one is renamed
``<id>.DUP<n>`` (user names ``<name>.dup<n>``) so that it can no longer be confused with it, a
renamed user is deactivated, and every lot of every subject involved is put on a QA hold naming
both records. Only a person can decide which patient a lot belongs to; the hold stops any bag of
those lots from being issued until QA has checked and lifted it (``mfg hold lift``).

Every change is recorded in the audit trail (EU GMP Annex 11 section 4.8: a data migration is
documented): one ``identity.canonicalised`` event per id rewritten (old and new value) and one
``lot.hold_placed`` event per hold, by user ``system``, appended to the 0.1 trail with 0.1's
unkeyed SHA-256 chain (migration 0003 then checks that chain and keys it). ``mfg audit verify``
follows the renames and finds the holds' events, so an upgraded database verifies clean.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
import sqlmodel
from alembic import context, op

import mfg.store.types

revision = "0002"
down_revision = "0004"
branch_labels = None
depends_on = None

_INVISIBLE = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})


def _clean(text: str) -> str:
    t = unicodedata.normalize("NFC", text)
    return "".join(c for c in t if unicodedata.category(c) not in _INVISIBLE).strip()


def _subject(text: str) -> str:
    return _clean(text).upper()


def _lot(text: str) -> str:
    return _clean(text).upper()


def _coi(text: str) -> str:
    return "".join(_clean(text).upper().split())


def _user(text: str) -> str:
    return _clean(text).lower()


def _canonicalise(
    conn: sa.Connection,
    table: str,
    column: str,
    fn: Callable[[str], str],
    suffix: str,
    width: int,
    log: list[tuple[int, str, str]],
) -> list[tuple[int, str, str]]:
    """Rewrite ``column`` canonically; returns (row id, stored value, new value) of collisions
    (the row that was renamed), the first row of each canonical value keeping it. Every row
    rewritten is appended to ``log`` as (row id, stored value, new value)."""
    rows = conn.execute(sa.text(f"SELECT id, {column} FROM {table} ORDER BY id")).all()
    taken: dict[str, str] = {}
    new_values: dict[int, str] = {}
    collisions: list[tuple[int, str, str]] = []
    for pk, value in rows:
        canon = fn(value) or f"ID{pk}"
        if canon in taken:
            n = 2
            while True:
                tail = f"{suffix}{n}"
                candidate = canon[: width - len(tail)] + tail
                if candidate not in taken:
                    break
                n += 1
            collisions.append((pk, value, candidate))
            canon = candidate
        taken[canon] = value
        if canon != value:
            new_values[pk] = canon
            log.append((pk, value, canon))
    # two passes so that a rename never trips the unique constraint on its way
    for pk in new_values:
        conn.execute(
            sa.text(f"UPDATE {table} SET {column} = :v WHERE id = :id"),
            {"v": f"~{pk}~", "id": pk},
        )
    for pk, canon in new_values.items():
        conn.execute(
            sa.text(f"UPDATE {table} SET {column} = :v WHERE id = :id"), {"v": canon, "id": pk}
        )
    return collisions


def _hold(conn: sa.Connection, lot_pk: int, reason: str, now: datetime) -> None:
    hold = sa.table(
        "lothold",
        sa.column("lot_pk", sa.Integer()),
        sa.column("reason", sa.Text()),
        sa.column("placed_by", sa.String()),
        sa.column("placed_name", sa.String()),
        sa.column("placed_at", mfg.store.types.UTCDateTime()),
        sa.column("placed_hash", sa.String()),
        sa.column("row_version", sa.Integer()),
    )
    conn.execute(
        sa.insert(hold).values(
            lot_pk=lot_pk,
            reason=reason,
            placed_by="system",
            placed_name="CellTrail migration 0002",
            placed_at=now,
            placed_hash=hashlib.sha256(reason.encode("utf-8")).hexdigest(),
            row_version=1,
        )
    )


def _canonical_ids() -> None:
    conn = op.get_bind()
    now = context.config.attributes.get("now") or datetime.now(UTC)
    logs: dict[str, list[tuple[int, str, str]]] = {k: [] for k in _RENAMED}
    subjects = _canonicalise(conn, "subject", "subject_id", _subject, ".DUP", 40, logs["subject"])
    for pk, old, new in subjects:
        first = conn.execute(
            sa.text("SELECT id, subject_id FROM subject WHERE subject_id = :c"),
            {"c": _subject(old)},
        ).first()
        involved = [pk] + ([first[0]] if first else [])
        reason = (
            f"identity collision found by migration 0002: subject ids {old!r} and "
            f"{_subject(old)!r} were two records; the later one is now {new}. "
            "Check which patient this lot belongs to before lifting the hold."
        )
        lots = conn.execute(
            sa.text("SELECT id FROM lot WHERE subject_pk IN :pks").bindparams(
                sa.bindparam("pks", expanding=True)
            ),
            {"pks": involved},
        ).all()
        for (lot_pk,) in lots:
            _hold(conn, lot_pk, reason, now)
    lot_numbers = _canonicalise(conn, "lot", "lot_number", _lot, "D", 24, logs["lot"])
    cois = _canonicalise(conn, "lot", "coi", _coi, "D", 14, logs["coi"])
    for pk, old, new in lot_numbers + cois:
        _hold(
            conn,
            pk,
            f"identity collision found by migration 0002: {old!r} became {new}. "
            "Check this lot's identity before lifting the hold.",
            now,
        )
    users = _canonicalise(conn, "app_user", "username", _user, ".dup", 64, logs["user"])
    for pk, _old, _new in users:
        conn.execute(
            sa.text("UPDATE app_user SET active = :f WHERE id = :id"), {"f": False, "id": pk}
        )
    collided = {
        (what, pk)
        for what, rows in (("subject", subjects), ("lot", lot_numbers), ("coi", cois))
        for pk, _old, _new in rows
    } | {("user", pk) for pk, _old, _new in users}
    _record(conn, logs, collided, now)


# what was rewritten -> (audit entity, the column as the trail names it)
_RENAMED = {
    "subject": ("subject", "subject_id"),
    "lot": ("lot", "lot_number"),
    "coi": ("lot", "coi"),
    "user": ("user", "username"),
}
_EVENT = sa.table(
    "auditevent",
    *(sa.column(c) for c in ("seq", "username", "action", "entity", "entity_id", "lot_number")),
    *(sa.column(c) for c in ("old_values", "new_values", "reason", "prev_hash", "hash")),
    sa.column("at", mfg.store.types.UTCDateTime()),
)


class _Trail:
    """Appends events to the 0.1 trail (not yet keyed: 0003 keys it), chained the 0.1 way."""

    def __init__(self, conn: sa.Connection, now: datetime) -> None:
        from mfg import audit

        self.conn, self.now, self.legacy_hash = conn, now, audit.legacy_hash
        head = conn.execute(
            sa.text("SELECT seq, hash FROM auditevent ORDER BY seq DESC LIMIT 1")
        ).first()
        self.seq, self.prev = (int(head[0]), str(head[1])) if head else (0, audit.GENESIS)
        self.canonical_json = audit.canonical_json

    def add(self, action: str, entity: str, eid: str, lot: str | None, **kw: Any) -> None:
        self.seq += 1
        row = SimpleNamespace(
            seq=self.seq,
            at=self.now,
            username="system",
            action=action,
            entity=entity,
            entity_id=eid,
            lot_number=lot,
            old_values=self.canonical_json(kw.get("old")),
            new_values=self.canonical_json(kw["new"]),
            reason=kw["reason"],
        )
        digest = self.legacy_hash(row, self.prev)
        self.conn.execute(sa.insert(_EVENT).values(**vars(row), prev_hash=self.prev, hash=digest))
        self.prev = digest


def _record(
    conn: sa.Connection,
    logs: dict[str, list[tuple[int, str, str]]],
    collided: set[tuple[str, int]],
    now: datetime,
) -> None:
    """One event per id rewritten and per hold placed (what ``mfg audit verify`` follows)."""
    holds = conn.execute(
        sa.text(
            "SELECT h.id, h.reason, h.placed_hash, l.lot_number FROM lothold h "
            "JOIN lot l ON l.id = h.lot_pk ORDER BY h.id"
        )
    ).all()
    if not holds and not any(logs.values()):
        return
    trail = _Trail(conn, now)
    lots = dict(conn.execute(sa.text("SELECT id, lot_number FROM lot")).all())
    for what, (entity, column) in _RENAMED.items():
        for pk, old, new in logs[what]:
            lot = lots[pk] if entity == "lot" else None
            values: dict[str, object] = {column: new}
            why = f"migration 0002: {column} in its canonical form"
            if (what, pk) in collided:
                why = f"migration 0002: renamed, its canonical form was another record's {column}"
                if what == "user":
                    values["active"] = False
                    why += "; deactivated"
            trail.add(
                "identity.canonicalised",
                entity,
                lot or new,
                lot,
                old={column: old},
                new=values,
                reason=why,
            )
    for hold_id, reason, digest, lot in holds:
        trail.add(
            "lot.hold_placed",
            "lothold",
            str(hold_id),
            lot,
            new={
                "signed_by": "CellTrail migration 0002",
                "meaning": "hold placed",
                "sha256": digest,
            },
            reason=reason,
        )


def upgrade() -> None:
    op.create_table(
        "importbatch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("file_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("product_code", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("lot_count", sa.Integer(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("staged_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("staged_at", mfg.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("decided_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("decided_at", mfg.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("record_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("row_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("importbatch", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_importbatch_sha256"), ["sha256"], unique=False)
    op.create_table(
        "sitesetting",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("changed_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("changed_at", mfg.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("row_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "lothold",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lot_pk", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("placed_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("placed_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("placed_at", mfg.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("placed_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("lifted_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("lifted_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("lifted_at", mfg.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("lift_reason", sa.Text(), nullable=True),
        sa.Column("lifted_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("row_version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["lot_pk"], ["lot.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("lothold", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lothold_lot_pk"), ["lot_pk"], unique=False)
    op.create_table(
        "oosadministration",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lot_pk", sa.Integer(), nullable=False),
        sa.Column("physician", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("holds_covered", sa.Text(), nullable=False),
        sa.Column("signed_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("printed_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("signed_at", mfg.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("record_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.ForeignKeyConstraint(["lot_pk"], ["lot.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("oosadministration", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oosadministration_lot_pk"), ["lot_pk"], unique=False)
    with op.batch_alter_table("harvest", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("verified_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.add_column(
            sa.Column("verified_at", mfg.store.types.UTCDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("lot", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("historical", sa.Boolean(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("import_pk", sa.Integer(), nullable=True))
    with op.batch_alter_table("subject", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "weight_recorded_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column(
                "weight_verified_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column(
                "weight_verified_at", mfg.store.types.UTCDateTime(timezone=True), nullable=True
            )
        )
    _canonical_ids()


def downgrade() -> None:
    with op.batch_alter_table("subject", schema=None) as batch_op:
        batch_op.drop_column("weight_verified_at")
        batch_op.drop_column("weight_verified_by")
        batch_op.drop_column("weight_recorded_by")
    with op.batch_alter_table("lot", schema=None) as batch_op:
        batch_op.drop_column("import_pk")
        batch_op.drop_column("historical")
    with op.batch_alter_table("harvest", schema=None) as batch_op:
        batch_op.drop_column("verified_at")
        batch_op.drop_column("verified_by")
    op.drop_table("oosadministration")
    op.drop_table("lothold")
    op.drop_table("sitesetting")
    op.drop_table("importbatch")

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
those lots from being issued until QA has checked and lifted it (``mfg lot hold lift``).
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op

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
) -> list[tuple[int, str, str]]:
    """Rewrite ``column`` canonically; returns (row id, stored value, new value) of collisions
    (the row that was renamed), the first row of each canonical value keeping it."""
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


def _hold(conn: sa.Connection, lot_pk: int, reason: str) -> None:
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
            placed_at=datetime.now(UTC),
            placed_hash=hashlib.sha256(reason.encode("utf-8")).hexdigest(),
            row_version=1,
        )
    )


def _canonical_ids() -> None:
    conn = op.get_bind()
    subjects = _canonicalise(conn, "subject", "subject_id", _subject, ".DUP", 40)
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
            _hold(conn, lot_pk, reason)
    renamed = _canonicalise(conn, "lot", "lot_number", _lot, "D", 24)
    renamed += _canonicalise(conn, "lot", "coi", _coi, "D", 14)
    for pk, old, new in renamed:
        _hold(
            conn,
            pk,
            f"identity collision found by migration 0002: {old!r} became {new}. "
            "Check this lot's identity before lifting the hold.",
        )
    users = _canonicalise(conn, "app_user", "username", _user, ".dup", 64)
    for pk, _old, _new in users:
        conn.execute(
            sa.text("UPDATE app_user SET active = :f WHERE id = :id"), {"f": False, "id": pk}
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

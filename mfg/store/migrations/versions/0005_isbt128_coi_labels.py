"""ISBT 128 chain of identity (therapy events) and label control

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-01 23:50:00

Every lot gets a therapy event. A 0.1 database gave each lot its own 14-character COI code
(FIN + year + 6 digits + check character); this migration gives each subject ONE therapy event,
whose ISBT 128 CoI is ``CH`` + the first 13 characters of the code of that subject's first lot
(same FIN, year and sequence), and links all the subject's lots to it. ``lot.coi`` keeps the code
each lot was registered with (signed disposition records and the audit trail name it), so labels
printed before the upgrade still scan.

The upgrade records what it made in the keyed audit trail (``mfg init`` passes the site's audit
key as ``audit_keys``): ``therapy_event.migrated`` per new therapy event (user ``system``, the
upgrade's time, the subject and the CoI) and ``lot.therapy_event_linked`` per lot (the CoI of
the event it joined), so the record check compares these rows like any other.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import sqlmodel
from alembic import context, op

import mfg.store.types

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None


def _create_tables() -> None:
    op.create_table(
        "therapy_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_pk", sa.Integer(), nullable=False),
        sa.Column("coi", sqlmodel.sql.sqltypes.AutoString(length=15), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("started_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("started_at", mfg.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["subject_pk"], ["subject.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("therapy_event", schema=None) as b:
        b.create_index(b.f("ix_therapy_event_coi"), ["coi"], unique=True)
        b.create_index(b.f("ix_therapy_event_subject_pk"), ["subject_pk"], unique=False)
    op.create_table(
        "labelevent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("print_pk", sa.Integer(), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("at", mfg.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["print_pk"], ["labelprint.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("labelevent", schema=None) as b:
        b.create_index(b.f("ix_labelevent_print_pk"), ["print_pk"], unique=False)
    op.create_table(
        "labellayoutapproval",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("username", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("printed_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("meaning", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("signed_at", mfg.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "version", "definition_sha256"),
    )


def _migrate_cois(now: datetime) -> list[tuple[str, str, str | None, dict[str, Any], str]]:
    """One therapy event per subject, CoI from the subject's first lot's 0.1 code; returns the
    audit events to append (action, entity id, lot number, new values, reason)."""
    from mfg.store.tables import TherapyEvent

    conn = op.get_bind()
    lots = conn.execute(
        sa.text(
            "SELECT l.id, l.subject_pk, l.coi, l.lot_number, s.subject_id FROM lot l "
            "JOIN subject s ON s.id = l.subject_pk ORDER BY l.id"
        )
    ).all()
    event_of: dict[int, tuple[int, str]] = {}
    events: list[tuple[str, str, str | None, dict[str, Any], str]] = []
    for lot_id, subject_pk, code, lot_number, subject_id in lots:
        if subject_pk not in event_of:
            new = "CH" + code[:13]
            why = f"migration 0005: from the 0.1 COI code {code} of the subject's first lot"
            conn.execute(
                sa.insert(TherapyEvent.__table__),  # type: ignore[attr-defined]
                {
                    "subject_pk": subject_pk,
                    "coi": new,
                    "reason": why,
                    "started_by": "system",
                    "started_at": now,
                },
            )
            pk = conn.execute(
                sa.text("SELECT id FROM therapy_event WHERE coi = :c"), {"c": new}
            ).scalar_one()
            event_of[subject_pk] = (pk, new)
            events.append(
                ("therapy_event.migrated", new, None, {"subject_id": subject_id, "coi": new}, why)
            )
        pk, new = event_of[subject_pk]
        conn.execute(
            sa.text("UPDATE lot SET therapy_event_pk = :e WHERE id = :i"), {"e": pk, "i": lot_id}
        )
        events.append(
            (
                "lot.therapy_event_linked",
                lot_number,
                lot_number,
                {"therapy_event_coi": new},
                f"migration 0005: the lot's 0.1 COI code {code} belongs to therapy event {new}",
            )
        )
    return events


def _audit(events: list[tuple[str, str, str | None, dict[str, Any], str]], now: datetime) -> None:
    """Append the upgrade's events to the keyed chain (the key comes from ``mfg init``)."""
    from mfg import audit
    from mfg.errors import ConfigError
    from mfg.store.tables import AuditEvent

    if not events:
        return
    attributes = context.config.attributes
    keys = attributes.get("audit_keys")
    conn = op.get_bind()
    seq, prev = audit.head(conn)
    if keys is None:
        raise ConfigError(
            "upgrading the schema to 0005 records the new therapy events in the audit trail "
            "with the site's audit key: run `mfg init` (it reads the key)",
            rule="audit-key-needed",
        )
    chain = audit.Chainer(keys(seq == 0), seq, prev)
    rows = [
        chain.row(
            at=now,
            username="system",
            action=action,
            entity=action.split(".", 1)[0],
            entity_id=entity_id,
            lot_number=lot_number,
            old_values=audit.canonical_json(None),
            new_values=audit.canonical_json(new),
            reason=reason,
        )
        for action, entity_id, lot_number, new, reason in events
    ]
    conn.execute(sa.insert(AuditEvent.__table__), rows)  # type: ignore[attr-defined]
    trail = conn.execute(sa.text("SELECT hash FROM auditevent WHERE seq = 1")).scalar_one()
    attributes["audit_appended"] = (trail, rows[-1]["seq"], rows[-1]["hash"])


def upgrade() -> None:
    _create_tables()
    with op.batch_alter_table("lot", schema=None) as b:
        b.drop_index("ix_lot_coi")
        b.alter_column(
            "coi",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=14),
            type_=sqlmodel.sql.sqltypes.AutoString(length=15),
            existing_nullable=False,
        )
        b.add_column(sa.Column("therapy_event_pk", sa.Integer(), nullable=True))
        b.create_index(b.f("ix_lot_coi"), ["coi"], unique=False)
        b.create_index(b.f("ix_lot_therapy_event_pk"), ["therapy_event_pk"], unique=False)
        b.create_foreign_key(
            "fk_lot_therapy_event_pk", "therapy_event", ["therapy_event_pk"], ["id"]
        )
    now = context.config.attributes.get("now") or datetime.now(UTC)
    _audit(_migrate_cois(now), now)
    with op.batch_alter_table("lot", schema=None) as b:
        b.alter_column("therapy_event_pk", existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table("labelprint", schema=None) as b:
        b.add_column(sa.Column("layout_version", sa.Integer(), nullable=True))
        b.add_column(sa.Column("isbt128", sa.Text(), nullable=True))
        b.add_column(sa.Column("printer", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("labelprint", schema=None) as b:
        b.drop_column("printer")
        b.drop_column("isbt128")
        b.drop_column("layout_version")
    with op.batch_alter_table("lot", schema=None) as b:
        b.drop_constraint("fk_lot_therapy_event_pk", type_="foreignkey")
        b.drop_index(b.f("ix_lot_therapy_event_pk"))
        b.drop_index(b.f("ix_lot_coi"))
        b.drop_column("therapy_event_pk")
        b.create_index(b.f("ix_lot_coi"), ["coi"], unique=True)
    op.drop_table("labellayoutapproval")
    with op.batch_alter_table("labelevent", schema=None) as b:
        b.drop_index(b.f("ix_labelevent_print_pk"))
    op.drop_table("labelevent")
    with op.batch_alter_table("therapy_event", schema=None) as b:
        b.drop_index(b.f("ix_therapy_event_subject_pk"))
        b.drop_index(b.f("ix_therapy_event_coi"))
    op.drop_table("therapy_event")

"""keyed audit chain: key_id on every event, the 0.1 chain re-keyed, append-only triggers

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 23:40:00

An existing trail is first checked link by link with the unkeyed SHA-256 of CellTrail 0.1; a
broken one is NOT keyed (that would launder the tampering): the upgrade stops and says where.
An intact one is re-chained with the site's audit key (``mfg init`` passes it) and the upgrade
appends ``audit.chain_keyed`` naming the old head. What this can honestly claim for events
before the upgrade: they are what the database held at the upgrade, unchanged since; whether
someone re-hashed the unkeyed 0.1 chain before that cannot be known.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import context, op
from sqlmodel.sql.sqltypes import AutoString

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SQLITE_TRIGGERS = [
    "CREATE TRIGGER auditevent_no_update BEFORE UPDATE ON auditevent BEGIN "
    "SELECT RAISE(ABORT, 'audit events are append-only: UPDATE refused'); END",
    "CREATE TRIGGER auditevent_no_delete BEFORE DELETE ON auditevent BEGIN "
    "SELECT RAISE(ABORT, 'audit events are append-only: DELETE refused'); END",
]
PG_TRIGGERS = [
    "CREATE OR REPLACE FUNCTION celltrail_audit_append_only() RETURNS trigger "
    "LANGUAGE plpgsql AS $$ BEGIN "
    "RAISE EXCEPTION 'audit events are append-only: % refused', TG_OP; END $$",
    "CREATE TRIGGER auditevent_append_only BEFORE UPDATE OR DELETE ON auditevent "
    "FOR EACH ROW EXECUTE FUNCTION celltrail_audit_append_only()",
    "CREATE TRIGGER auditevent_no_truncate BEFORE TRUNCATE ON auditevent "
    "FOR EACH STATEMENT EXECUTE FUNCTION celltrail_audit_append_only()",
]


def upgrade() -> None:
    op.add_column(
        "auditevent",
        sa.Column(
            "key_id",
            AutoString(length=16),
            nullable=False,
            server_default="",
        ),
    )
    _key_existing_chain(op.get_bind())
    for statement in PG_TRIGGERS if op.get_bind().dialect.name == "postgresql" else SQLITE_TRIGGERS:
        op.execute(statement)


def _key_existing_chain(conn: Any) -> None:
    from mfg import audit
    from mfg.errors import ConfigError
    from mfg.store.tables import AuditEvent

    table = AuditEvent.__table__  # type: ignore[attr-defined]
    n = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
    if not n:
        return
    attributes = context.config.attributes
    ring = attributes.get("audit_keyring")
    if ring is None:
        raise ConfigError(
            "upgrading the schema to 0003 keys the audit trail with the site's audit key: "
            "run `mfg init` (it creates or reads the key)",
            rule="audit-key-needed",
        )
    chain = audit.Chainer(ring, 0, audit.GENESIS)
    legacy_prev = audit.GENESIS
    updates: list[dict[str, Any]] = []
    after = 0
    while True:
        rows = conn.execute(
            sa.select(table).where(table.c.seq > after).order_by(table.c.seq).limit(5000)
        ).all()
        if not rows:
            break
        for r in rows:
            _check_legacy(audit, r, chain.seq + 1, legacy_prev)
            legacy_prev = r.hash
            fields = {k: getattr(r, k) for k in _FIELDS}
            new = chain.row(**fields)
            updates.append(
                {"s": r.seq, "k": new["key_id"], "p": new["prev_hash"], "h": new["hash"]}
            )
        after = rows[-1].seq
        _apply(conn, table, updates)
        updates.clear()
    keyed_at = attributes.get("now") or datetime.now(UTC)
    row = chain.row(
        at=keyed_at,
        username="system",
        action="audit.chain_keyed",
        entity="audit",
        entity_id="0003",
        lot_number=None,
        old_values=audit.canonical_json({"unkeyed_head": legacy_prev, "events": n}),
        new_values=audit.canonical_json({"key_id": ring.current, "events": n}),
        reason="upgrade to schema 0003: the 0.1 trail was intact and is now keyed",
    )
    conn.execute(sa.insert(table), row)
    trail = conn.execute(sa.select(table.c.hash).where(table.c.seq == 1)).scalar_one()
    attributes["audit_keyed"] = (trail, row["seq"], row["hash"])


_FIELDS = (
    "at",
    "username",
    "action",
    "entity",
    "entity_id",
    "lot_number",
    "old_values",
    "new_values",
    "reason",
)


def _check_legacy(audit: Any, r: Any, expected: int, prev: str) -> None:
    from mfg.errors import ConfigError

    problem = ""
    if r.seq != expected:
        problem = f"event {expected} is missing or out of order"
    elif r.prev_hash != prev:
        problem = f"event {r.seq} does not link to event {r.seq - 1}"
    elif audit.legacy_hash(r, prev) != r.hash:
        problem = f"event {r.seq} was changed after it was written"
    if problem:
        raise ConfigError(
            f"the audit trail is broken ({problem}); it is NOT keyed, because keying it would "
            "hide the damage: investigate with CellTrail 0.1 (`mfg audit verify`) or restore "
            "a backup that verifies, then upgrade",
            rule="audit-chain-broken",
        )


def _apply(conn: Any, table: Any, updates: list[dict[str, Any]]) -> None:
    if not updates:
        return
    stmt = (
        table.update()
        .where(table.c.seq == sa.bindparam("s"))
        .values(key_id=sa.bindparam("k"), prev_hash=sa.bindparam("p"), hash=sa.bindparam("h"))
    )
    conn.execute(stmt, updates)


def downgrade() -> None:
    raise NotImplementedError(
        "0003 re-keyed the audit trail and cannot be undone: restore a backup taken before it"
    )

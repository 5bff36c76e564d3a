"""an index of the accounts' audit events, for the log-in's check against the trail

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 22:30:00

A log-in (and a resumed session) now checks the account's role, active flag and password hash
against what the audit trail recorded for it (``mfg.services.account_trail``): an account
edited in SQL (a technician made QA, a deactivated account reactivated, another password's hash
swapped in, an account inserted) signed releases, and once the edit was put back nothing showed.
The account's events are found by this partial index (only ``entity = 'user'`` rows: no cost for
any other event). Nothing else changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

NAME = "ix_auditevent_user"
USERS = sa.text("entity = 'user'")


def upgrade() -> None:
    op.create_index(
        NAME,
        "auditevent",
        ["entity_id", "seq"],
        unique=False,
        sqlite_where=USERS,
        postgresql_where=USERS,
    )


def downgrade() -> None:
    op.drop_index(NAME, table_name="auditevent")

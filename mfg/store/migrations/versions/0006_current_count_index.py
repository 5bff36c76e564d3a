"""an index of each lot's current counts, by day and entry (issue 15)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 15:00:00

Today flags the count of every lot being expanded from its last current count (by day, then
entry). With only ``ix_cellcount_lot_pk``, SQLite read all of a lot's counts and sorted them for
each lot (50,000 lots at 100,000: about 60 ms of Today's read); this partial index of the current
counts (``superseded_by_id IS NULL``) on (lot, day, id) answers it with one look-up per lot, on
SQLite and PostgreSQL. Nothing else changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

NAME = "ix_cellcount_current"
CURRENT = sa.text("superseded_by_id IS NULL")


def upgrade() -> None:
    op.create_index(
        NAME,
        "cellcount",
        ["lot_pk", "expansion_day", "id"],
        unique=False,
        sqlite_where=CURRENT,
        postgresql_where=CURRENT,
    )


def downgrade() -> None:
    op.drop_index(NAME, table_name="cellcount")

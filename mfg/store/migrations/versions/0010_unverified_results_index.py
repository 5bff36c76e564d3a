"""The current release results nobody has verified yet, indexed for Today (issue 15)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 05:00:00

Today lists, for QA and for technicians (both verify results), every current result of a lot
in testing that still needs its second person. SQLite found them lot by lot: each lot in testing
probed in ``ix_releaseresult_lot_pk`` and each of its results read to see whether it was
verified (100,000 lots, 39,849 in testing, 475,873 results, 3,068 to verify: 160 ms in
sqlite3). This partial index holds only the current results not yet verified, so the list is a
read of those few: 13 ms. A result is in it from its entry until its verification or
correction; verified and superseded results (nearly all of a site's) are not in it. Nothing
else changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

UNVERIFIED = sa.text("superseded_by_id IS NULL AND verified_by IS NULL")


def upgrade() -> None:
    op.create_index(
        "ix_releaseresult_unverified",
        "releaseresult",
        ["lot_pk"],
        sqlite_where=UNVERIFIED,
        postgresql_where=UNVERIFIED,
    )


def downgrade() -> None:
    op.drop_index("ix_releaseresult_unverified", table_name="releaseresult")

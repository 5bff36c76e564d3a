"""indexes of the specs and the (dose level, weight) present, for the report's targets (issue 15)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 17:30:00

The success-rate report works out a target dose for every (spec, dose level, body weight)
present, from ``SELECT DISTINCT`` of the lots' specs and of the subjects' dose levels and
weights. On SQLite without an index each was a scan of the whole table, before any lot was
grouped: 16 ms for the specs and 38 ms for the (dose level, weight) pairs (about 2,400 to keep
apart) at 100,000 lots. ``ix_lot_spec`` and ``ix_subject_dose`` answer both from the index
alone: 6.5 ms each (sqlite3, medians of 7). PostgreSQL may still read the whole index for them.
The price: every lot and subject inserted, and every body weight changed, updates one more
index. Nothing else changes.
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_lot_spec", "lot", ["product_code", "spec_version"], unique=False)
    op.create_index("ix_subject_dose", "subject", ["dose_level", "weight_kg"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_subject_dose", table_name="subject")
    op.drop_index("ix_lot_spec", table_name="lot")

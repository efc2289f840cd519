"""drop ix_feed_entries_signal_id: ix_feed_entries_signal_id_seq (signal_id, seq) serves
every lookup it served, and each report paid for both on every feed entry it appended

Revision ID: 0005_drop_redundant_feed_index
Revises: 0004_organisations_referrals
Create Date: 2026-11-25
"""
from __future__ import annotations

from alembic import op

revision = '0005_drop_redundant_feed_index'
down_revision = '0004_organisations_referrals'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('feed_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_feed_entries_signal_id')


def downgrade() -> None:
    with op.batch_alter_table('feed_entries', schema=None) as batch_op:
        batch_op.create_index('ix_feed_entries_signal_id', ['signal_id'], unique=False)

"""wrong PINs counted per case and UTC day (the per-network counts live outside the
database, keyed without an address); people's reports held while the feed's budget is
spent, and the budget's token bucket on the feed head row that already serialises it

Revision ID: 0006_pin_day_cap_held_reports
Revises: 0005_drop_redundant_feed_index
Create Date: 2026-12-03
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006_pin_day_cap_held_reports'
down_revision = '0005_drop_redundant_feed_index'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pin_failures_day', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('held_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_cases_held_at', ['held_at', 'id'], unique=False,
                              postgresql_where=sa.text('held_at IS NOT NULL'),
                              sqlite_where=sa.text('held_at IS NOT NULL'))
    with op.batch_alter_table('feed_head', schema=None) as batch_op:
        batch_op.add_column(sa.Column('person_tokens', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('person_tokens_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('feed_head', schema=None) as batch_op:
        batch_op.drop_column('person_tokens_at')
        batch_op.drop_column('person_tokens')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_held_at')
        batch_op.drop_column('held_at')
        batch_op.drop_column('pin_failures_day')

"""vpdq signals: the type, and the column holding a video's canonical frames

Revision ID: 0009_vpdq_signals
Revises: 0008_list_trust
Create Date: 2026-12-03
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009_vpdq_signals'
down_revision = '0008_list_trust'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('signals') as batch:
        batch.add_column(sa.Column('frames', sa.LargeBinary(), nullable=True))
        batch.drop_constraint(op.f('ck_signals_type'), type_='check')
        batch.create_check_constraint(
            op.f('ck_signals_type'), "type IN ('pdq', 'phash', 'md5', 'sha256', 'vpdq')")


def downgrade() -> None:
    # Fails while a vpdq signal is stored (the narrower check refuses it): withdraw them first.
    with op.batch_alter_table('signals') as batch:
        batch.drop_constraint(op.f('ck_signals_type'), type_='check')
        batch.create_check_constraint(op.f('ck_signals_type'), "type IN ('pdq', 'phash', 'md5', 'sha256')")
        batch.drop_column('frames')

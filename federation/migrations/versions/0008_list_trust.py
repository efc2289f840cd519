"""signals withheld from the feed (disputed, flooded, denied) and the deny list

Revision ID: 0008_list_trust
Revises: 0007_merkle_log
Create Date: 2026-12-03
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008_list_trust'
down_revision = '0007_merkle_log'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('signals', sa.Column('withheld', sa.String(length=16), nullable=True))
    op.add_column('signals', sa.Column('withheld_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('signals', sa.Column('restored_at', sa.DateTime(timezone=True), nullable=True))
    # SQLite cannot add a CHECK without rebuilding `signals`, which every other table
    # references; there the values come only from models.Withheld.
    if op.get_bind().dialect.name == 'postgresql':
        op.create_check_constraint(
            op.f('ck_signals_withheld'), 'signals',
            "withheld IS NULL OR withheld IN ('disputed', 'flood', 'denied')")
    op.create_index('ix_signals_withheld', 'signals', ['withheld'], unique=False,
                    postgresql_where=sa.text('withheld IS NOT NULL'),
                    sqlite_where=sa.text('withheld IS NOT NULL'))
    op.create_table('denied_signals',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('type', sa.String(length=8), nullable=False),
    sa.Column('value', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('added_by', sa.String(length=40), nullable=False),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("type IN ('pdq', 'phash', 'md5', 'sha256')", name=op.f('ck_denied_signals_type')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_denied_signals')),
    sa.UniqueConstraint('type', 'value', name=op.f('uq_denied_signals_type'))
    )


def downgrade() -> None:
    op.drop_table('denied_signals')
    op.drop_index('ix_signals_withheld', table_name='signals')
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_constraint(op.f('ck_signals_withheld'), 'signals', type_='check')
    # SQLite (3.35+) drops a column in place when nothing (index, constraint) uses it.
    op.drop_column('signals', 'restored_at')
    op.drop_column('signals', 'withheld_at')
    op.drop_column('signals', 'withheld')

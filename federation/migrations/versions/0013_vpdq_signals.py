"""vpdq signals: the type, and the column holding a video's canonical frames

Revision ID: 0013_vpdq_signals
Revises: 0012_support_services
Create Date: 2026-12-03
"""
from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

revision = '0013_vpdq_signals'
down_revision = '0012_support_services'
branch_labels = None
depends_on = None

_TYPES = "type IN ('pdq', 'phash', 'md5', 'sha256', 'vpdq')"
_OLD_TYPES = "type IN ('pdq', 'phash', 'md5', 'sha256')"


def upgrade() -> None:
    op.add_column('signals', sa.Column('frames', sa.LargeBinary(), nullable=True))
    _replace_type_check(_TYPES)


def downgrade() -> None:
    # Fails while a vpdq signal is stored (the narrower check refuses it): withdraw them first.
    _replace_type_check(_OLD_TYPES)
    op.drop_column('signals', 'frames')


def _replace_type_check(condition: str) -> None:
    def change() -> None:
        with op.batch_alter_table('signals') as batch:
            batch.drop_constraint(op.f('ck_signals_type'), type_='check')
            batch.create_check_constraint(op.f('ck_signals_type'), condition)
    _rebuilding(change)


def _rebuilding(change: Callable[[], None]) -> None:
    """SQLite changes a CHECK only by rebuilding the table, and dropping the old
    `signals` while case_signals and feed_entries point at it fails with foreign keys
    on. They are off for the rebuild, which keeps every id, so the references hold
    again after it. The pragma takes effect only between transactions, and our engine
    begins one for every statement (federation/db.py), so this goes to the driver."""
    if op.get_bind().dialect.name != 'sqlite':
        change()
        return
    raw = op.get_bind().connection.dbapi_connection
    assert raw is not None  # the migration holds its connection
    raw.commit()
    raw.execute('PRAGMA foreign_keys=OFF')
    try:
        change()
        raw.commit()
    finally:
        raw.execute('PRAGMA foreign_keys=ON')
    problems = raw.execute('PRAGMA foreign_key_check').fetchall()
    if problems:
        raise RuntimeError(f"foreign keys broken by the rebuild of signals: {problems[:5]}")

"""signing_keys.last_seq: for a revoked key, the last feed entry it signed (published in
the JWKS; verifiers refuse what it signs after that seq)

Revision ID: 0010_key_revocation
Revises: 0009_maintenance
Create Date: 2026-12-03
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010_key_revocation'
down_revision = '0009_maintenance'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('signing_keys') as batch:
        batch.add_column(sa.Column('last_seq', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    # Not in batch mode: on SQLite that copies the table, and dropping the old one fails
    # while feed entries point at it. SQLite drops a plain column itself since 3.35.
    op.drop_column('signing_keys', 'last_seq')

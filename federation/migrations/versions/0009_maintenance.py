"""referrals.code_digest may be emptied: `federation maintenance` forgets the digest of a
code that can no longer be used (expired or spent), keeping the row for the counts

Revision ID: 0009_maintenance
Revises: 0008_list_trust
Create Date: 2026-12-03
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009_maintenance'
down_revision = '0008_list_trust'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('referrals') as batch:
        batch.alter_column('code_digest', existing_type=sa.LargeBinary(length=32), nullable=True)


def downgrade() -> None:
    # A forgotten digest cannot come back: give those rows random bytes no code matches.
    referrals = sa.table('referrals', sa.column('id', sa.BigInteger()), sa.column('code_digest', sa.LargeBinary()))
    connection = op.get_bind()
    import secrets
    for (row_id,) in connection.execute(sa.select(referrals.c.id).where(referrals.c.code_digest.is_(None))):
        connection.execute(referrals.update().where(referrals.c.id == row_id)
                           .values(code_digest=secrets.token_bytes(32)))
    with op.batch_alter_table('referrals') as batch:
        batch.alter_column('code_digest', existing_type=sa.LargeBinary(length=32), nullable=False)

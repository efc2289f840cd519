"""receipt_keys, deletion_receipts, cosignatures: platforms' signed receipts for the
deletes they applied and their cosignatures of checkpoints (issue 14)

Revision ID: 0011_receipts_cosignatures
Revises: 0010_key_revocation
Create Date: 2026-12-03
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011_receipts_cosignatures'
down_revision = '0010_key_revocation'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table('receipt_keys',
    sa.Column('kid', sa.String(length=64), nullable=False),
    sa.Column('partner_id', _ID, nullable=False),
    sa.Column('public_key', sa.LargeBinary(length=32), nullable=False),
    sa.Column('created_at', _WHEN, nullable=False),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_receipt_keys_partner_id_partners'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('kid', name=op.f('pk_receipt_keys')),
    sa.UniqueConstraint('public_key', name=op.f('uq_receipt_keys_public_key'))
    )
    op.create_index(op.f('ix_receipt_keys_partner_id'), 'receipt_keys', ['partner_id'], unique=False)
    op.create_table('deletion_receipts',
    sa.Column('id', _ID, nullable=False),
    sa.Column('partner_id', _ID, nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('kid', sa.String(length=64), nullable=False),
    sa.Column('tree_size', sa.BigInteger(), nullable=False),
    sa.Column('deleted_at', _WHEN, nullable=False),
    sa.Column('body', sa.LargeBinary(), nullable=False),
    sa.Column('signature', sa.String(length=100), nullable=False),
    sa.Column('received_at', _WHEN, nullable=False),
    sa.ForeignKeyConstraint(['kid'], ['receipt_keys.kid'], name=op.f('fk_deletion_receipts_kid_receipt_keys')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'],
                            name=op.f('fk_deletion_receipts_partner_id_partners'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['seq'], ['feed_entries.seq'], name=op.f('fk_deletion_receipts_seq_feed_entries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deletion_receipts')),
    sa.UniqueConstraint('partner_id', 'seq', name=op.f('uq_deletion_receipts_partner_id'))
    )
    op.create_index(op.f('ix_deletion_receipts_seq'), 'deletion_receipts', ['seq'], unique=False)
    op.create_table('cosignatures',
    sa.Column('partner_id', _ID, nullable=False),
    sa.Column('tree_size', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('root', sa.LargeBinary(length=32), nullable=False),
    sa.Column('kid', sa.String(length=64), nullable=False),
    sa.Column('timestamp', sa.BigInteger(), nullable=False),
    sa.Column('signature', sa.LargeBinary(length=64), nullable=False),
    sa.Column('received_at', _WHEN, nullable=False),
    sa.ForeignKeyConstraint(['kid'], ['receipt_keys.kid'], name=op.f('fk_cosignatures_kid_receipt_keys')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_cosignatures_partner_id_partners'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('partner_id', 'tree_size', name=op.f('pk_cosignatures'))
    )


def downgrade() -> None:
    op.drop_table('cosignatures')
    op.drop_index(op.f('ix_deletion_receipts_seq'), table_name='deletion_receipts')
    op.drop_table('deletion_receipts')
    op.drop_index(op.f('ix_receipt_keys_partner_id'), table_name='receipt_keys')
    op.drop_table('receipt_keys')

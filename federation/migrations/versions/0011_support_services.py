"""support_services: helplines the portal shows to people, by language and country

Revision ID: 0011_support_services
Revises: 0010_key_revocation
Create Date: 2026-12-03
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011_support_services'
down_revision = '0010_key_revocation'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('support_services',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=120), nullable=False),
    sa.Column('languages', sa.String(length=200), nullable=False),
    sa.Column('countries', sa.String(length=400), nullable=False),
    sa.Column('phone', sa.String(length=40), nullable=True),
    sa.Column('web', sa.String(length=300), nullable=True),
    sa.Column('hours', sa.String(length=120), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_support_services')),
    sa.UniqueConstraint('name', name=op.f('uq_support_services_name'))
    )


def downgrade() -> None:
    op.drop_table('support_services')

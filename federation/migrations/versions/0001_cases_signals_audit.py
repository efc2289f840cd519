"""cases, signals, audit, idempotency, feed head

Revision ID: 0001_cases
Revises: 
Create Date: 2026-11-24
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001_cases'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cases',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('reference_digest', sa.LargeBinary(length=32), nullable=False),
    sa.Column('pin_hash', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('consent_version', sa.SmallInteger(), nullable=False),
    sa.Column('referral_code', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('failed_pin_attempts', sa.Integer(), nullable=False),
    sa.Column('lockouts', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("source IN ('person', 'platform')", name=op.f('ck_cases_source')),
    sa.CheckConstraint("status IN ('active', 'withdrawn')", name=op.f('ck_cases_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cases')),
    sa.UniqueConstraint('reference_digest', name=op.f('uq_cases_reference_digest'))
    )
    op.create_table('feed_head',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('last_seq', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('id = 1', name=op.f('ck_feed_head_single_row')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feed_head'))
    )
    # The single head row every writer locks (federation.db.lock_feed_head).
    op.execute("INSERT INTO feed_head (id, last_seq) VALUES (1, 0)")
    op.create_table('idempotency_records',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('scope', sa.String(length=80), nullable=False),
    sa.Column('key_digest', sa.LargeBinary(length=32), nullable=False),
    sa.Column('request_digest', sa.LargeBinary(length=32), nullable=False),
    sa.Column('status_code', sa.SmallInteger(), nullable=False),
    sa.Column('response', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotency_records')),
    sa.UniqueConstraint('scope', 'key_digest', name=op.f('uq_idempotency_records_scope'))
    )
    op.create_table('signals',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('type', sa.String(length=8), nullable=False),
    sa.Column('value', sa.String(length=64), nullable=False),
    sa.Column('quality', sa.SmallInteger(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("type IN ('pdq', 'phash', 'md5', 'sha256')", name=op.f('ck_signals_type')),
    sa.CheckConstraint('quality IS NULL OR (quality BETWEEN 0 AND 100)', name=op.f('ck_signals_quality')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signals')),
    sa.UniqueConstraint('type', 'value', name=op.f('uq_signals_type'))
    )
    op.create_table('audit_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('event', sa.String(length=40), nullable=False),
    sa.Column('actor', sa.String(length=40), nullable=False),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('detail', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_audit_events_case_id_cases'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    op.create_table('case_signals',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('signal_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('record_id', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_signals_case_id_cases'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['signal_id'], ['signals.id'], name=op.f('fk_case_signals_signal_id_signals')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_signals')),
    sa.UniqueConstraint('case_id', 'signal_id', name=op.f('uq_case_signals_case_id')),
    sa.UniqueConstraint('record_id', name=op.f('uq_case_signals_record_id'))
    )
    with op.batch_alter_table('case_signals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_signals_signal_id'), ['signal_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('case_signals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_signals_signal_id'))

    op.drop_table('case_signals')
    op.drop_table('audit_events')
    op.drop_table('signals')
    op.drop_table('idempotency_records')
    op.drop_table('feed_head')
    op.drop_table('cases')

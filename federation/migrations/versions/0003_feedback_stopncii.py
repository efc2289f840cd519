"""feedback history and latest verdicts, platform-sourced cases, StopNCII keys

Revision ID: 0003_feedback
Revises: 0002_feed
Create Date: 2026-11-24
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003_feedback'
down_revision = '0002_feed'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('feedback_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('partner_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('signal_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('verdict', sa.String(length=24), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("verdict IN ('match_pending_review', 'blocked', 'not_blocked', 'deleted')", name=op.f('ck_feedback_events_verdict')),
    sa.CheckConstraint('count >= 1', name=op.f('ck_feedback_events_count')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_feedback_events_partner_id_partners'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['signal_id'], ['signals.id'], name=op.f('fk_feedback_events_signal_id_signals')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feedback_events')),
    sa.UniqueConstraint('partner_id', 'signal_id', 'verdict', 'occurred_at', name=op.f('uq_feedback_events_partner_id'))
    )
    with op.batch_alter_table('feedback_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feedback_events_signal_id'), ['signal_id'], unique=False)

    op.create_table('feedback_latest',
    sa.Column('partner_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('signal_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('verdict', sa.String(length=24), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.Column('first_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("verdict IN ('match_pending_review', 'blocked', 'not_blocked', 'deleted')", name=op.f('ck_feedback_latest_verdict')),
    sa.CheckConstraint('count >= 1', name=op.f('ck_feedback_latest_count')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_feedback_latest_partner_id_partners'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['signal_id'], ['signals.id'], name=op.f('fk_feedback_latest_signal_id_signals')),
    sa.PrimaryKeyConstraint('partner_id', 'signal_id', name=op.f('pk_feedback_latest'))
    )
    with op.batch_alter_table('feedback_latest', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feedback_latest_signal_id'), ['signal_id'], unique=False)

    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('partner_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_cases_partner_id_partners'), 'partners', ['partner_id'], ['id'], ondelete='SET NULL')

    with op.batch_alter_table('feed_entries', schema=None) as batch_op:
        batch_op.create_index('ix_feed_entries_signal_id_seq', ['signal_id', 'seq'], unique=False)

    with op.batch_alter_table('partners', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stopncii_subscription_digest', sa.LargeBinary(length=32), nullable=True))
        batch_op.add_column(sa.Column('stopncii_function_digest', sa.LargeBinary(length=32), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_partners_stopncii_subscription_digest'), ['stopncii_subscription_digest'])



def downgrade() -> None:
    with op.batch_alter_table('partners', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_partners_stopncii_subscription_digest'), type_='unique')
        batch_op.drop_column('stopncii_function_digest')
        batch_op.drop_column('stopncii_subscription_digest')

    with op.batch_alter_table('feed_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_feed_entries_signal_id_seq')

    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_cases_partner_id_partners'), type_='foreignkey')
        batch_op.drop_column('partner_id')

    with op.batch_alter_table('feedback_latest', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feedback_latest_signal_id'))

    op.drop_table('feedback_latest')
    with op.batch_alter_table('feedback_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feedback_events_signal_id'))

    op.drop_table('feedback_events')

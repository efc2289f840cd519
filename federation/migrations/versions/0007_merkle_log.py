"""merkle_nodes: the feed as an RFC 9162 Merkle tree, one row per complete perfect
subtree above the leaves, filled in for the entries already in the feed

Revision ID: 0007_merkle_log
Revises: 0006_pin_day_cap_held_reports
Create Date: 2026-12-03
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007_merkle_log'
down_revision = '0006_pin_day_cap_held_reports'
branch_labels = None
depends_on = None

_BATCH = 10_000


def upgrade() -> None:
    nodes = op.create_table('merkle_nodes',
    sa.Column('level', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('idx', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('hash', sa.LargeBinary(length=32), nullable=False),
    sa.CheckConstraint('level >= 1 AND level < 64', name=op.f('ck_merkle_nodes_level')),
    sa.PrimaryKeyConstraint('level', 'idx', name=op.f('pk_merkle_nodes'))
    )
    _backfill(nodes)


def _backfill(nodes: sa.Table) -> None:
    # The tree over entries appended before this revision, built the way publish builds
    # it, a batch of leaves at a time (the frontier carries over between batches).
    from federation.crypto import merkle

    connection = op.get_bind()
    entries = sa.table('feed_entries', sa.column('seq', sa.BigInteger()),
                       sa.column('leaf_hash', sa.LargeBinary()))
    frontier: list[bytes] = []
    size = 0
    while True:
        leaves = connection.execute(sa.select(entries.c.leaf_hash).where(entries.c.seq > size)
                                    .order_by(entries.c.seq).limit(_BATCH)).scalars().all()
        if not leaves:
            return
        frontier, made = merkle.append(frontier, size, list(leaves))
        rows = [{"level": level, "idx": index, "hash": digest} for level, index, digest in made if level]
        if rows:
            connection.execute(nodes.insert(), rows)
        size += len(leaves)


def downgrade() -> None:
    op.drop_table('merkle_nodes')

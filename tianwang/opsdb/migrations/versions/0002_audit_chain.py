"""The audit log's hash chain: each line carries the hash of the line before it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 03:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

#: the hash before the first line of the chain
GENESIS = "0" * 64


def upgrade() -> None:
    # plain ADD COLUMN (no table copy): the append-only triggers stay as they are
    op.add_column('audit_log', sa.Column('prev_hash', sa.String(length=64), nullable=True))
    op.add_column('audit_log', sa.Column('hash', sa.String(length=64), nullable=True))
    chain = op.create_table('audit_chain',
                            sa.Column('id', sa.Integer(), nullable=False),
                            sa.Column('last_hash', sa.String(length=64), nullable=False),
                            sa.Column('lines', sa.Integer(), nullable=False),
                            sa.PrimaryKeyConstraint('id'))
    op.bulk_insert(chain, [{'id': 1, 'last_hash': GENESIS, 'lines': 0}])


def downgrade() -> None:
    op.drop_table('audit_chain')
    op.drop_column('audit_log', 'hash')
    op.drop_column('audit_log', 'prev_hash')

"""The vault: raw personal values sealed with AES-256-GCM, each naming the key that sealed it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 05:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('vault_entries',
                    sa.Column('application_id', sa.String(length=64), nullable=False),
                    sa.Column('field', sa.String(length=64), nullable=False),
                    sa.Column('key_id', sa.String(length=32), nullable=False),
                    sa.Column('nonce', sa.LargeBinary(), nullable=False),
                    sa.Column('ciphertext', sa.LargeBinary(), nullable=False),
                    sa.Column('sealed_at', sa.DateTime(timezone=True), nullable=False),
                    sa.PrimaryKeyConstraint('application_id', 'field'))
    op.create_index('ix_vault_entries_key_id', 'vault_entries', ['key_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_vault_entries_key_id', table_name='vault_entries')
    op.drop_table('vault_entries')

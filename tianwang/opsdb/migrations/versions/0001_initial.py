"""The initial schema of the operational database, and the audit log made append-only.

Revision ID: 0001
Revises:
Create Date: 2026-12-03 01:53:07.300747
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from tianwang.opsdb.models import UtcDateTime

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
UTC = UtcDateTime(timezone=True)


def upgrade() -> None:
    op.create_table('api_keys',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('prefix', sa.String(length=32), nullable=False),
    sa.Column('key_hash', sa.String(length=128), nullable=False),
    sa.Column('client', sa.String(length=64), nullable=False),
    sa.Column('roles', JSON, nullable=False),
    sa.Column('created_at', UTC, nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('revoked_at', UTC, nullable=True),
    sa.Column('last_used_at', UTC, nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('prefix')
    )
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_keys_client'), ['client'], unique=False)

    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('at', UTC, nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('roles', JSON, nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target_type', sa.String(length=32), nullable=False),
    sa.Column('target_ids', JSON, nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.Column('detail', JSON, nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_action'), ['action'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_log_actor'), ['actor'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_log_at'), ['at'], unique=False)

    op.create_table('cases',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('application_id', sa.String(length=64), nullable=True),
    sa.Column('ring_id', sa.String(length=64), nullable=True),
    sa.Column('decision_id', sa.String(length=40), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('risk', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('assignee', sa.String(length=64), nullable=True),
    sa.Column('snoozed_until', UTC, nullable=True),
    sa.Column('outcome', sa.String(length=32), nullable=True),
    sa.Column('typology', sa.String(length=64), nullable=True),
    sa.Column('hold_funding', sa.Boolean(), nullable=False),
    sa.Column('verification_tasks', JSON, nullable=False),
    sa.Column('opened_at', UTC, nullable=False),
    sa.Column('updated_at', UTC, nullable=False),
    sa.Column('due_at', UTC, nullable=True),
    sa.Column('closed_at', UTC, nullable=True),
    sa.Column('last_reviewed_at', UTC, nullable=True),
    sa.Column('reviewed_members', JSON, nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index('cases_queue', ['status', 'risk', 'opened_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_application_id'), ['application_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_assignee'), ['assignee'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_ring_id'), ['ring_id'], unique=False)
        batch_op.create_index('one_open_case_per_ring', ['ring_id'], unique=True,
                              sqlite_where=sa.text("kind = 'ring' AND status != 'closed'"),
                              postgresql_where=sa.text("kind = 'ring' AND status != 'closed'"))

    op.create_table('config_versions',
    sa.Column('version', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('parent', sa.Integer(), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('summary', sa.String(length=500), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('proposed_by', sa.String(length=64), nullable=False),
    sa.Column('proposed_at', UTC, nullable=False),
    sa.Column('reviewed_by', sa.String(length=64), nullable=True),
    sa.Column('reviewed_at', UTC, nullable=True),
    sa.Column('review_comment', sa.String(length=500), nullable=True),
    sa.Column('activated_at', UTC, nullable=True),
    sa.Column('backtest', JSON, nullable=True),
    sa.PrimaryKeyConstraint('version')
    )
    with op.batch_alter_table('config_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_config_versions_status'), ['status'], unique=False)

    op.create_table('decisions',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('application_id', sa.String(length=64), nullable=False),
    sa.Column('decided_at', UTC, nullable=False),
    sa.Column('submitted_at', sa.String(length=40), nullable=False),
    sa.Column('dealer_id', sa.String(length=64), nullable=True),
    sa.Column('fraud_score', sa.Integer(), nullable=False),
    sa.Column('band', sa.String(length=16), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('strategy', sa.String(length=64), nullable=False),
    sa.Column('config_version', sa.String(length=64), nullable=False),
    sa.Column('bundle', sa.String(length=128), nullable=True),
    sa.Column('record', JSON, nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('final_action', sa.String(length=40), nullable=True),
    sa.Column('finalized_at', UTC, nullable=True),
    sa.Column('case_id', sa.String(length=40), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('application_id')
    )
    with op.batch_alter_table('decisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_decisions_band'), ['band'], unique=False)
        batch_op.create_index(batch_op.f('ix_decisions_dealer_id'), ['dealer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_decisions_decided_at'), ['decided_at'], unique=False)

    op.create_table('jobs',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('params', JSON, nullable=False),
    sa.Column('result', JSON, nullable=True),
    sa.Column('error', sa.String(length=1000), nullable=True),
    sa.Column('progress', sa.Float(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', UTC, nullable=False),
    sa.Column('started_at', UTC, nullable=True),
    sa.Column('finished_at', UTC, nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_jobs_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_jobs_status'), ['status'], unique=False)

    op.create_table('model_bundles',
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('path', sa.String(length=1024), nullable=False),
    sa.Column('created_at', UTC, nullable=False),
    sa.Column('metrics', JSON, nullable=False),
    sa.Column('data_range', JSON, nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('activated_at', UTC, nullable=True),
    sa.Column('activated_by', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('outcomes',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('application_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('observed_on', sa.String(length=10), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('at', UTC, nullable=False),
    sa.Column('detail', JSON, nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('outcomes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outcomes_application_id'), ['application_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_outcomes_at'), ['at'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=128), nullable=False),
    sa.Column('password_hash', sa.String(length=256), nullable=False),
    sa.Column('roles', JSON, nullable=False),
    sa.Column('created_at', UTC, nullable=False),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('username')
    )
    op.create_table('verdicts',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('application_id', sa.String(length=64), nullable=True),
    sa.Column('ring_id', sa.String(length=64), nullable=True),
    sa.Column('case_id', sa.String(length=40), nullable=True),
    sa.Column('fraud', sa.Boolean(), nullable=False),
    sa.Column('typology', sa.String(length=64), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('at', UTC, nullable=False),
    sa.Column('applications', JSON, nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('verdicts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_verdicts_application_id'), ['application_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_verdicts_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_verdicts_ring_id'), ['ring_id'], unique=False)

    op.create_table('webhook_outbox',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('event_type', sa.String(length=64), nullable=False),
    sa.Column('payload', JSON, nullable=False),
    sa.Column('created_at', UTC, nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', UTC, nullable=False),
    sa.Column('delivered_at', UTC, nullable=True),
    sa.Column('last_status', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('webhook_outbox', schema=None) as batch_op:
        batch_op.create_index('outbox_due', ['status', 'next_attempt_at'], unique=False)

    op.create_table('case_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('case_id', sa.String(length=40), nullable=False),
    sa.Column('at', UTC, nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('detail', JSON, nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('case_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_events_case_id'), ['case_id'], unique=False)
    _append_only_audit_log()


_SQLITE_TRIGGERS = [
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
]
_POSTGRES_TRIGGERS = [
    "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'audit_log is append-only'; END; $$ LANGUAGE plpgsql",
    "CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()",
]


def _append_only_audit_log() -> None:
    """The database itself refuses to change or remove an audit line."""
    dialect = op.get_bind().dialect.name
    for statement in _SQLITE_TRIGGERS if dialect == "sqlite" else _POSTGRES_TRIGGERS if dialect == "postgresql" else []:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_change ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    with op.batch_alter_table('case_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_events_case_id'))

    op.drop_table('case_events')
    with op.batch_alter_table('webhook_outbox', schema=None) as batch_op:
        batch_op.drop_index('outbox_due')

    op.drop_table('webhook_outbox')
    with op.batch_alter_table('verdicts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_verdicts_ring_id'))
        batch_op.drop_index(batch_op.f('ix_verdicts_at'))
        batch_op.drop_index(batch_op.f('ix_verdicts_application_id'))

    op.drop_table('verdicts')
    op.drop_table('users')
    with op.batch_alter_table('outcomes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outcomes_at'))
        batch_op.drop_index(batch_op.f('ix_outcomes_application_id'))

    op.drop_table('outcomes')
    op.drop_table('model_bundles')
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_jobs_status'))
        batch_op.drop_index(batch_op.f('ix_jobs_kind'))

    op.drop_table('jobs')
    with op.batch_alter_table('decisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_decisions_decided_at'))
        batch_op.drop_index(batch_op.f('ix_decisions_dealer_id'))
        batch_op.drop_index(batch_op.f('ix_decisions_band'))

    op.drop_table('decisions')
    with op.batch_alter_table('config_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_config_versions_status'))

    op.drop_table('config_versions')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('one_open_case_per_ring')
        batch_op.drop_index(batch_op.f('ix_cases_ring_id'))
        batch_op.drop_index(batch_op.f('ix_cases_assignee'))
        batch_op.drop_index(batch_op.f('ix_cases_application_id'))
        batch_op.drop_index('cases_queue')

    op.drop_table('cases')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_at'))
        batch_op.drop_index(batch_op.f('ix_audit_log_actor'))
        batch_op.drop_index(batch_op.f('ix_audit_log_action'))

    op.drop_table('audit_log')
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_keys_client'))

    op.drop_table('api_keys')

"""evidence records: each snapshot's provenance, manifest and RFC 3161 timestamp tokens (or pending ones)

Revision ID: f_evidence
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'f_evidence'
down_revision = 'f_search1'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'evidence_records',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('snapshot_id', sa.Integer(), nullable=True),
        sa.Column('snapshot_key', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('warc', sa.String(length=512), nullable=True),
        sa.Column('offset', sa.BigInteger(), nullable=True),
        sa.Column('record_length', sa.BigInteger(), nullable=True),
        sa.Column('record_id', sa.String(length=128), nullable=True),
        sa.Column('sha256', sa.String(length=64), nullable=True),
        sa.Column('tsa_url', sa.Text(), nullable=True),
        sa.Column('gen_time', sa.DateTime(), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['snapshot_id'], ['snapshots.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('evidence_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_evidence_records_snapshot_id'), ['snapshot_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_evidence_records_snapshot_key'), ['snapshot_key'], unique=False)


def downgrade() -> None:
    op.drop_table('evidence_records')

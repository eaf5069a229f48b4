"""captures.via: whether a capture was taken by the HTTP crawler or through the browser;
sources.browser: a source's own browser mode (auto|always|never), for its recaptures

Revision ID: f_browser
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'f_browser'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('captures') as batch:
        batch.add_column(sa.Column('via', sa.String(length=8), nullable=True))
    with op.batch_alter_table('sources') as batch:
        batch.add_column(sa.Column('browser', sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('sources') as batch:
        batch.drop_column('browser')
    with op.batch_alter_table('captures') as batch:
        batch.drop_column('via')

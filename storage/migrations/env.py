"""Alembic environment: migrates the connection handed over in config.attributes["connection"]."""

from __future__ import annotations

from alembic import context

from citevault.storage.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    version_table="citevault_alembic_version",
)
with context.begin_transaction():
    context.run_migrations()

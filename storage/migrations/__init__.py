"""Alembic migrations of the index schema; run automatically by `citevault.storage.db.open_index`."""

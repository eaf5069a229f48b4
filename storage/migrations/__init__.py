"""Alembic migrations of the index schema; run automatically by `citevault.storage.db.open_index`."""

# The newest revision. `open_index` compares it with the database's and skips Alembic (slow to
# import) when they match; tests/storage/test_index.py checks it against the scripts.
HEAD = "p_cdx5_surt_c_ts_id"

"""Persistence: the SQL index (models, migrations, queries) and the WARC store."""

"""page_terms: PostgreSQL's full-text index in a narrow table of its own, with an index of
adjacent word pairs for phrases

Revision ID: p_search3_terms
Revises: p_search2_title
"""

from __future__ import annotations

from alembic import op

revision = 'p_search3_terms'
down_revision = 'p_search2_title'
branch_labels = None
depends_on = None

# Why (citevault.storage.search has the queries, benchmarks/history/2026-12-07-and-before.md's
# full-text search, p-search3's pass, the numbers):
# - A search's bitmap heap scan visits the row of every match to find the newest few hundred.
#   In `pages` a row carries the metadata and the start of the text (a few rows a block), here
#   an id and two TOAST pointers: a word on 13,000 pages reads ~100 blocks instead of ~3,000.
# - GIN keeps no word positions, so a phrase was checked against the whole tsvector of every page
#   holding all its words ("mayor of stories": 8,919 pages for 13 matches, 150 ms). The pairs
#   index answers "these words, this far apart, next to each other" from the index alone.
# Kept in step with citevault.storage.search (the weights) and the trigger below.
_VECTOR = ("setweight(to_tsvector('english', coalesce({p}title, '')), 'A') || "
           "setweight(to_tsvector('simple', {p}url), 'B') || "
           "setweight(to_tsvector('english', {p}text), 'C')")

# Each lexeme with the next one in the text and how far on it is ("mayor 2 stori": "of" between,
# a stop word without a lexeme). A tsvector keeps at most 256 positions of a lexeme and none past
# 16,383, so pairs are exact for pages shorter than that; the phrase is checked on the
# tsvector afterwards either way.
_PAIRS = """
CREATE FUNCTION citevault_word_pairs(v tsvector) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT coalesce(array_agg(DISTINCT pair), '{}') FROM (
    SELECT lexeme || ' ' || (lead(pos) OVER w - pos) || ' ' || lead(lexeme) OVER w AS pair
    FROM unnest(v) AS u(lexeme, positions, weights), unnest(positions) AS pos
    WINDOW w AS (ORDER BY pos, lexeme)
  ) pairs WHERE pair IS NOT NULL
$$
"""

_SYNC = f"""
CREATE FUNCTION citevault_page_terms() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO page_terms (capture_id, title, search)
  VALUES (NEW.capture_id, to_tsvector('english', coalesce(NEW.title, '')), {_VECTOR.format(p='NEW.')})
  ON CONFLICT (capture_id) DO UPDATE SET title = EXCLUDED.title, search = EXCLUDED.search;
  RETURN NULL;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE TABLE page_terms (capture_id integer PRIMARY KEY "
        "REFERENCES pages (capture_id) ON DELETE CASCADE, title tsvector NOT NULL, search tsvector NOT NULL)"
    )
    op.execute(_PAIRS)
    op.execute(_SYNC)
    op.execute("CREATE TRIGGER pages_terms AFTER INSERT OR UPDATE OF title, url, text ON pages "
               "FOR EACH ROW EXECUTE FUNCTION citevault_page_terms()")
    # The page's tsvector is already computed: copied, not parsed again.
    op.execute("INSERT INTO page_terms SELECT capture_id, to_tsvector('english', coalesce(title, '')), search "
               "FROM pages")
    op.execute("DROP INDEX ix_pages_search")
    op.execute("DROP INDEX ix_pages_title_search")
    op.execute("ALTER TABLE pages DROP COLUMN search")
    op.execute("CREATE INDEX ix_page_terms_search ON page_terms USING gin (search)")
    op.execute("CREATE INDEX ix_page_terms_title ON page_terms USING gin (title)")
    op.execute("CREATE INDEX ix_page_terms_pairs ON page_terms USING gin (citevault_word_pairs(search))")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER pages_terms ON pages")
    op.execute("DROP TABLE page_terms")
    op.execute("DROP FUNCTION citevault_page_terms()")
    op.execute("DROP FUNCTION citevault_word_pairs(tsvector)")
    op.execute(f"ALTER TABLE pages ADD COLUMN search tsvector GENERATED ALWAYS AS ({_VECTOR.format(p='')}) STORED")
    op.execute("CREATE INDEX ix_pages_search ON pages USING gin (search)")
    op.execute("CREATE INDEX ix_pages_title_search ON pages "
               "USING gin (to_tsvector('english', coalesce(title, '')))")

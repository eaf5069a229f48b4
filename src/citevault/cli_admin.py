"""Commands that look after the archive itself: `verify` (fixity) and `reindex` (rebuild the index)."""

from __future__ import annotations

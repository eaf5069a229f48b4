"""citevault: keeps cited web sources alive as WARC files with a SQL index."""

from __future__ import annotations

__all__ = ["__version__"]
__version__ = "0.1.0"

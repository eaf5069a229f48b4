"""Type-checking layout only: citevault.crawler/.storage as mypy sees them (see [tool.mypy])."""

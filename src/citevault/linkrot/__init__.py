"""Link rot: checking cited URLs live against their archived copies (fetch), deciding what a
response means (classify) and keeping the history and per-citation report (report)."""

from __future__ import annotations

from .classify import (
    OUTCOMES,
    CheckResult,
    Page,
    Reference,
    is_home_url,
    parked_reason,
    read_page,
    soft_404_reason,
    text_similarity,
)
from .fetch import LinkChecker, check_url
from .report import (
    archived_capture,
    check_all,
    check_source,
    cited_urls,
    linkcheck_json,
    reference_copy,
    report_all,
    report_source,
)

__all__ = [
    "OUTCOMES",
    "CheckResult",
    "LinkChecker",
    "Page",
    "Reference",
    "archived_capture",
    "check_all",
    "check_source",
    "check_url",
    "cited_urls",
    "is_home_url",
    "linkcheck_json",
    "parked_reason",
    "read_page",
    "reference_copy",
    "report_all",
    "report_source",
    "soft_404_reason",
    "text_similarity",
]

"""Schemathesis against the app's own OpenAPI schema: generated requests for every operation, a
bounded number of examples each, and not one server error (5xx) among the answers.

(Schemathesis's pytest plugin does not run under pytest 9 yet, so the operations are walked here
and each one's strategy is given to Hypothesis directly.)"""

from __future__ import annotations

from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import APIOperation, Case
from schemathesis.checks import not_a_server_error

from citevault.config import Settings
from citevault.web import create_app

EXAMPLES = 30  # per operation: about a minute for the whole schema on a busy machine


def _fuzz(operation: APIOperation) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def one(case: Case) -> None:
        case.call_and_validate(checks=[not_a_server_error])

    one()


def test_no_server_errors(tmp_path: Path) -> None:
    # Private networks stay refused: a generated URL is never fetched from anywhere real.
    app = create_app(Settings(home=tmp_path / "home", allow_private_networks=False))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    labels = []
    for result in schema.get_all_operations():
        operation = result.ok()
        labels.append(operation.label)
        _fuzz(operation)
    assert "POST /api/sources" in labels and "GET /cdx" in labels

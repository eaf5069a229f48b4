"""The documentation keeps up with the code: every setting is described and in the README."""

from __future__ import annotations

from pathlib import Path

from citevault.config import Settings

README = (Path(__file__).parents[2] / "README.md").read_text()


def test_every_setting_has_a_description() -> None:
    for name, field in Settings.model_fields.items():
        assert field.description and len(field.description) > 10, name


def test_every_setting_is_in_the_readme() -> None:
    missing = [n for n in Settings.model_fields if f"CITEVAULT_{n.upper()}" not in README]
    assert not missing, f"settings missing from README.md: {missing}"


def test_readme_opens_with_the_two_commands() -> None:
    head = README[:1500]
    assert "make serve" in head and "make test" in head
    ci = (Path(__file__).parents[2] / ".ci" / "run").read_text()
    assert "make test" in ci


def test_openapi_lists_the_design_routes(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from citevault.web import create_app

    client = TestClient(create_app(Settings(home=tmp_path)))
    paths = set(client.get("/openapi.json").json()["paths"])  # warnings are errors here
    assert {"/api/sources", "/api/sources/{source_id}", "/api/snapshots/{snapshot_id}",
            "/api/captures", "/cdx", "/web/{ts_mod}/{url}", "/timegate/{url}",
            "/timemap/{fmt}/{url}", "/healthz", "/metrics"} <= paths
    assert client.get("/docs").status_code == 200


def test_cli_reference_is_current() -> None:
    from citevault.cli.docs import render

    current = (Path(__file__).parents[2] / "docs" / "cli.md").read_text()
    assert current == render(), "docs/cli.md is stale: python -m citevault.cli.docs > docs/cli.md"

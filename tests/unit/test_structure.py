"""The structure docs/architecture.md describes, checked: one base for API blueprints,
services reached through `services()`, never by a string key."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
from flask.views import MethodView

from federation.api.auth import ORGANISATION, PARTNER, PUBLIC, STOPNCII
from federation.api.blueprint import ApiBlueprint

PACKAGE = Path(__file__).resolve().parents[2] / "federation"
WEB_LAYERS = [PACKAGE / "api", PACKAGE / "portal"]


def _sources(folders):
    for folder in folders:
        yield from sorted(folder.rglob("*.py"))


def test_views_reach_services_by_type_not_by_string_key():
    offenders = []
    for path in _sources(WEB_LAYERS):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) \
                    and node.value.attr == "extensions":
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert offenders == [], "use federation.services.services() instead of app.extensions[...]"


def test_every_api_blueprint_is_an_api_blueprint(app):
    api_prefixes = ("/v1", "/stopncii", "/.well-known", "/healthz", "/readyz")
    for rule in app.url_map.iter_rules():
        blueprint = rule.endpoint.rpartition(".")[0]
        if rule.rule.startswith(api_prefixes):
            assert isinstance(app.blueprints[blueprint], ApiBlueprint), rule.rule
    # And no module of the API makes a plain flask or flask-smorest Blueprint.
    for path in _sources([PACKAGE / "api"]):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Blueprint":
                pytest.fail(f"{path.name}:{node.lineno} makes a Blueprint without ApiBlueprint")


@pytest.mark.parametrize("access, need", [(PARTNER, "feed:read"), (ORGANISATION, "referrals:read"),
                                          (STOPNCII, "feed:read")])
def test_an_authenticated_route_must_name_a_known_need(access, need):
    blueprint = ApiBlueprint("probe", __name__, access=access)
    with pytest.raises(TypeError, match="must name"):
        blueprint.route("/unnamed")
    with pytest.raises(TypeError, match="must name"):
        blueprint.route("/typo", needs=need.replace(":", "-"))
    blueprint.route("/ok", needs=need)(type("View", (MethodView,), {"get": lambda self: None}))


def test_a_public_route_names_no_need():
    with pytest.raises(TypeError, match="public"):
        ApiBlueprint("probe", __name__, access=PUBLIC).route("/x", needs="feed:read")


def test_every_authenticated_operation_documents_its_security_and_errors(client):
    spec = client.get("/openapi.json").get_json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            if path.startswith(("/v1/feed", "/v1/feedback", "/v1/signals", "/v1/referrals", "/stopncii")):
                assert operation.get("security"), (method, path)
                assert {"401", "403"} <= set(operation["responses"]), (method, path)
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")) or status == "default":
                    content = response.get("content") or spec["components"]["responses"][
                        response["$ref"].rsplit("/", 1)[1]]["content"]
                    assert list(content) == ["application/problem+json"], (method, path, status)


def test_the_kit_does_not_import_the_server():
    import subprocess
    import sys

    probe = ("import sys, partners.cli, partners.sync, partners.matching; "
             "bad = [m for m in ('flask', 'sqlalchemy', 'federation.models', 'federation.app') "
             "if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_no_test_module_imports_another():
    """Shared fixtures live in conftest.py, helpers in factories or browser_support."""
    tests = PACKAGE.parent / "tests"
    offenders = []
    for path in sorted(tests.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and \
                    node.module.rpartition(".")[2].startswith("test_"):
                offenders.append(f"{path.relative_to(tests)}:{node.lineno} imports {node.module}")
    assert offenders == []

"""contract/openapi.yaml: valid OpenAPI 3.1, its schemas say what the apps declare.

The document is checked by openapi-spec-validator; its schemas are exercised with the OAS 3.1
schema validator on payloads the contract accepts and rejects; and its bounds are compared with
the ones the three apps declare (FastAPI's generated schema, the Flask app's pydantic models).
Nothing here starts a process; tests/integration/test_contract.py runs the contract for real.
"""

import copy
import importlib.util
from pathlib import Path

import pytest
import yaml
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from openapi_spec_validator.versions import get_spec_version

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT / "contract" / "openapi.yaml"
MAX_BIGINT = 2**63 - 1

OPERATIONS = {
    ("/health", "get"), ("/users", "get"), ("/users", "post"),
    ("/users/insert-data-to-test", "get"), ("/users/{user_id}", "get"),
}


@pytest.fixture(scope="module")
def doc():
    return yaml.safe_load(CONTRACT.read_text())


def schema_validator(doc, name):
    """A validator for components/schemas/<name>, resolving $refs inside the document."""
    root = {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}
    return OAS31Validator(root, format_checker=OAS31Validator.FORMAT_CHECKER)


def test_is_valid_openapi_3_1(doc):
    assert str(get_spec_version(doc)) == "OpenAPIV3.1"
    validate(doc)


def drop_description(doc):
    del doc["paths"]["/users"]["get"]["responses"]["200"]["description"]


def drop_path_parameter(doc):
    del doc["paths"]["/users/{user_id}"]["get"]["parameters"]  # {user_id} undeclared


def bad_type(doc):
    doc["components"]["schemas"]["User"]["properties"]["id"]["type"] = "bigint"


@pytest.mark.parametrize("mutate", [drop_description, drop_path_parameter, bad_type])
def test_the_validator_rejects_a_broken_document(doc, mutate):
    broken = copy.deepcopy(doc)
    mutate(broken)
    with pytest.raises(OpenAPIValidationError):
        validate(broken)


def test_documents_exactly_the_five_operations(doc):
    found = {(path, method) for path, ops in doc["paths"].items() for method in ops
             if method in {"get", "put", "post", "delete", "options", "head", "patch", "trace"}}
    assert found == OPERATIONS


def test_status_codes(doc):
    codes = {(path, method): set(op["responses"])
             for path, ops in doc["paths"].items() for method, op in ops.items()}
    assert codes == {
        ("/health", "get"): {"200", "503"},
        ("/users", "get"): {"200", "422"},
        ("/users", "post"): {"201", "400", "409", "422"},
        ("/users/insert-data-to-test", "get"): {"200"},
        ("/users/{user_id}", "get"): {"200", "404", "422"},
    }
    assert {"RouteNotFound", "MethodNotAllowed"} <= set(doc["components"]["responses"])


@pytest.mark.parametrize("body", [
    {"name": "Ada", "email": "ada@example.com"},
    {"name": "x" * 100, "email": "a@b.co"},
    {"name": "😀" * 100, "email": "a@b.co"},  # lengths count code points
    {"name": "漢字 עברית 😀", "email": "ünï@例え.jp"},
    {"name": "Robert'); DROP TABLE users;--", "email": "o'reilly@example.com"},
    {"name": "a", "email": "a" * 248 + "@b.com"},  # 254 characters
    {"name": "a", "email": "a@b.c", "unknown": [1]},  # unknown fields are ignored
])
def test_user_create_accepts(doc, body):
    schema_validator(doc, "UserCreate").validate(body)


@pytest.mark.parametrize("body", [
    {}, [], "x", None, 1,
    {"name": "a"}, {"email": "a@b.c"},
    {"name": "", "email": "a@b.c"},
    {"name": "x" * 101, "email": "a@b.c"},
    {"name": "😀" * 101, "email": "a@b.c"},
    {"name": "a", "email": "a" * 249 + "@b.com"},  # 255 characters
    {"name": "a\x00b", "email": "a@b.c"},
    {"name": "a", "email": "a\x00@b.c"},
    {"name": "a", "email": "no-at-sign"},
    {"name": "a", "email": "a b@c.d"},
    {"name": "a", "email": "a@b"},
    {"name": 1, "email": "a@b.c"}, {"name": True, "email": "a@b.c"},
    {"name": None, "email": "a@b.c"}, {"name": "a", "email": ["a@b.c"]},
    {"name": "a", "email": {"x": 1}},
])
def test_user_create_rejects(doc, body):
    assert not schema_validator(doc, "UserCreate").is_valid(body)


def test_user_and_error_schemas(doc):
    user = schema_validator(doc, "User")
    user.validate({"id": 1, "name": "User 1", "email": "user1@example.com",
                   "created_at": "2024-01-01T00:00:01Z"})
    assert not user.is_valid({"id": 1, "name": "User 1", "email": "user1@example.com"})
    assert not user.is_valid({"id": 1, "name": "User 1", "email": "user1@example.com",
                              "created_at": "yesterday"})
    schema_validator(doc, "UserNotFound").validate({"detail": "User not found"})
    assert not schema_validator(doc, "UserNotFound").is_valid({"detail": "Not Found"})
    errors = schema_validator(doc, "ValidationError")
    errors.validate({"detail": [{"type": "json_invalid", "loc": ["body", 1],
                                 "msg": "JSON decode error"}]})
    # The rejected input is never echoed back: no `input` or `ctx` beside type, loc and msg.
    assert not errors.is_valid({"detail": [{"type": "missing", "loc": ["body", "name"],
                                            "msg": "Field required", "input": {}}]})
    assert not errors.is_valid({"detail": []})
    assert not errors.is_valid({"detail": [{"type": "x", "loc": ["header"], "msg": "m"}]})


def load_app_module(path, name, monkeypatch):
    """Import an app's module by path (engines are created lazily: no database needed)."""
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bounds(schema):
    return {k: schema[k] for k in ("type", "minimum", "maximum", "default", "minLength",
                                   "maxLength") if k in schema}


def contract_parameters(doc):
    return {name: bounds(p["schema"]) for name, p in doc["components"]["parameters"].items()}


def contract_user_create(doc):
    props = doc["components"]["schemas"]["UserCreate"]["properties"]
    return {"name": bounds(props["name"]),
            "email": {**bounds(props["email"]), "pattern": props["email"]["allOf"][0]["pattern"]}}


@pytest.mark.parametrize("app", ["fastapi_sync", "fastapi_async"])
def test_fastapi_apps_declare_the_contract(doc, app, monkeypatch):
    module = load_app_module(ROOT / "apps" / app / "main.py", f"contract_{app}", monkeypatch)
    generated = module.app.openapi()  # generated even with openapi_url=None (not served)
    assert {(path, method) for path, ops in generated["paths"].items() for method in ops} \
        == OPERATIONS
    params = {p["name"]: bounds(p["schema"]) for ops in generated["paths"].values()
              for op in ops.values() for p in op.get("parameters", ())}
    assert params == contract_parameters(doc)
    props = generated["components"]["schemas"]["UserCreate"]["properties"]
    assert {"name": bounds(props["name"]),
            "email": {**bounds(props["email"]), "pattern": props["email"]["pattern"]}} \
        == contract_user_create(doc)


def test_flask_app_declares_the_contract(doc, monkeypatch):
    module = load_app_module(ROOT / "apps" / "flask_sync" / "app.py", "contract_flask_sync",
                             monkeypatch)
    rules = {(rule.rule.replace("<user_id>", "{user_id}"), method.lower())
             for rule in module.app.url_map.iter_rules() for method in rule.methods}
    assert rules == OPERATIONS  # no implicit HEAD or OPTIONS, no /static
    params = {name: bounds(s) for name, s in
              module.ListParams.model_json_schema()["properties"].items()}
    params["user_id"] = bounds(module.UserId.json_schema())
    assert params == contract_parameters(doc)
    props = module.UserCreate.model_json_schema()["properties"]
    assert {"name": bounds(props["name"]),
            "email": {**bounds(props["email"]), "pattern": props["email"]["pattern"]}} \
        == contract_user_create(doc)
    assert module.MAX_ID == MAX_BIGINT

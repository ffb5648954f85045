r"""Requests generated from contract/openapi.yaml by schemathesis, sent to all three real apps.

For every operation, valid requests (positive) and requests that break the schema (negative),
each sent to flask_sync, fastapi_sync and fastapi_async in turn:
- no answer is a 5xx;
- every answer is the response the contract documents for it (status, JSON body valid against
  its schema; checked here against the original contract with a JSON Schema 2020-12 validator);
- the three answers are the same: status, content type, and body once generated values
  (a stored user's id and created_at, 32-hex tokens) are normalised. Writes are compared too:
  a user stored by one app is deleted before the next app gets the same request.

The fuzzer gets a copy of the contract with two rewrites; the answers are still validated
against the original.
- schemathesis cannot take the contract as written: it rewrites the error schema's
  `loc: {prefixItems: [...], items: ...}` into the older `items: [...]` form and then rejects
  the result as an invalid schema (its bug, not the contract's), so its response checks fail
  on the three operations that document a 422. The copy drops that `prefixItems`.
- `\s` in a pattern means Unicode White_Space, as the apps' validator reads it (the contract
  says so): the copy spells it out, so that the generator (ECMA-262 `\s`) does not call an
  email holding U+0085 valid.

Bounded for CI: EXAMPLES requests per operation and mode.
"""

from __future__ import annotations

import copy
import json
import re
from collections import Counter
from pathlib import Path

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from openapi_schema_validator import OAS31Validator
from schemathesis import GenerationMode

from harness.measure import dataset

APPS = ("flask_sync", "fastapi_sync", "fastapi_async")
CONTRACT = Path(__file__).resolve().parents[2] / "contract" / "openapi.yaml"
EXAMPLES = 60  # at most, per operation and mode (an operation without input has one request)
JSON = "application/json"
HEX_RUN = re.compile(r"(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])")
DOC = yaml.safe_load(CONTRACT.read_text())
SEEDED = dataset.DEFAULT_ROWS


WHITE_SPACE = r"\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


def for_the_fuzzer(doc):
    r"""The contract as the fuzzer needs it: the validation error's `loc` without its
    `prefixItems` (its first item's enum; `items` stays), and `\s` in the request patterns
    spelled out as Unicode White_Space."""
    doc = copy.deepcopy(doc)
    loc = doc["components"]["schemas"]["ValidationError"]["properties"]["detail"]["items"][
        "properties"]["loc"]
    assert "prefixItems" in loc, "the workaround is no longer needed: remove it"
    del loc["prefixItems"]
    email = doc["components"]["schemas"]["UserCreate"]["properties"]["email"]
    for rule in email["allOf"]:
        rule["pattern"] = rule["pattern"].replace(r"\s", WHITE_SPACE)
    return doc


SCHEMA = schemathesis.openapi.from_dict(for_the_fuzzer(DOC))
OPERATIONS = {op.label: op for op in (r.ok() for r in SCHEMA.get_all_operations())}
COUNTS: Counter = Counter()


def documented(method, template, status):
    """The contract's schema for this answer (None when it documents no JSON body)."""
    ops = DOC["paths"][template]
    response = ops[method.lower()]["responses"].get(str(status))
    assert response is not None, f"{method} {template}: {status} is not documented"
    while "$ref" in response:
        target = DOC
        for key in response["$ref"].removeprefix("#/").split("/"):
            target = target[key]
        response = target
    content = response.get("content", {}).get(JSON)
    return None if content is None else content["schema"]


def normalise(value):
    """Generated values out: 32-hex runs -> "{u}", a newly stored user's id and created_at."""
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, str):
        return HEX_RUN.sub("{u}", value)
    if not isinstance(value, dict):
        return value
    out = {k: normalise(v) for k, v in value.items()}
    if set(value) == {"id", "name", "email", "created_at"} and isinstance(value["id"], int) \
            and value["id"] > SEEDED:
        out["id"], out["created_at"] = "<id>", "<created_at>"
    return out


def describe(case):
    body = "" if type(case.body).__name__ == "NotSet" else f" body={case.body!r:.200}"
    return f"{case.method} {case.formatted_path} query={case.query}{body}"


def answer(case, base_url, mode):
    """(status, content type, raw body) of the app's answer to the generated request; valid
    requests also go through schemathesis's own response checks (status, content type and
    schema conformance, on the fuzzer's copy of the contract)."""
    response = case.call(base_url=base_url, timeout=30)
    if mode is GenerationMode.POSITIVE:
        case.validate_response(response)
    content_type = response.headers.get("content-type") or response.headers.get("Content-Type")
    if isinstance(content_type, list):
        content_type = content_type[0]
    return response.status_code, content_type, response.content


def forget_new_users(url):
    with dataset.connect(url) as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM users WHERE id > %s", (SEEDED,))


@pytest.fixture(scope="module")
def seeded_db(database_url):
    dataset.reset(database_url)
    yield database_url
    dataset.reset(database_url)


def takes_input(label):
    method, template = label.split(" ", 1)
    op = DOC["paths"][template][method.lower()]
    return bool(op.get("parameters") or op.get("requestBody"))


# Negative cases need an input to break: operations without parameters or body have none.
CASES = [(label, mode) for label in sorted(OPERATIONS)
         for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
         if mode is GenerationMode.POSITIVE or takes_input(label)]


@pytest.mark.parametrize(("label", "mode"), CASES, ids=[f"{lb}-{m.value}" for lb, m in CASES])
def test_generated_requests(label, mode, running_apps, seeded_db):
    operation = OPERATIONS[label]
    method, template = label.split(" ", 1)

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def one(case):
        seen = {}
        for app in APPS:
            status, content_type, raw = answer(case, running_apps[app].base_url, mode)
            COUNTS[app] += 1
            assert status < 500, f"{app}: {status} for {describe(case)}: {raw[:300]!r}"
            body = json.loads(raw) if raw else None
            schema = documented(method, template, status)
            if schema is not None:
                validator = OAS31Validator({"allOf": [schema], "components": DOC["components"]},
                                           format_checker=OAS31Validator.FORMAT_CHECKER)
                errors = [e.message[:200] for e in validator.iter_errors(body)]
                assert not errors, f"{app}: {status} not as documented: {errors}"
            seen[app] = (status, content_type, normalise(body))
            forget_new_users(seeded_db)  # the next app gets the same request on the same data
        first = seen[APPS[0]]
        differ = {a: s for a, s in seen.items() if s != first}
        assert not differ, f"{describe(case)}: {APPS[0]} {first} but {differ}"

    one()


# -- outside the contract: method tokens the HTTP servers refuse before the app runs ------------

def raw_request(base_url, method):
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request(method, "/users")
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type"), resp.read()
    finally:
        conn.close()


# What each server does with them, as contract/openapi.yaml documents it.
ODD_METHODS = {
    "FOO": {"flask_sync": (405, "application/json"), "uvicorn": (400, "text/plain")},
    "get": {"flask_sync": (400, "text/html"), "uvicorn": (400, "text/plain")},
    "Post": {"flask_sync": (400, "text/html"), "uvicorn": (400, "text/plain")},
}


@pytest.mark.parametrize("method", ODD_METHODS)
def test_odd_method_tokens_are_refused_as_documented(method, running_apps):
    """Outside the contract (contract/openapi.yaml says so): uvicorn's parser refuses an unknown
    or lowercase method with 400 text/plain before the app runs; gunicorn passes an unknown
    uppercase token to Flask (405 JSON) and refuses a lowercase one with 400 HTML. Every
    stack refuses them, none answers 5xx."""
    for app in APPS:
        status, content_type, _ = raw_request(running_apps[app].base_url, method)
        server = "flask_sync" if app == "flask_sync" else "uvicorn"
        assert (status, (content_type or "").split(";")[0]) == ODD_METHODS[method][server], app


def test_counts():
    """How many generated requests each app answered (printed for the CI log)."""
    if not COUNTS:
        pytest.skip("the generated-request tests did not run")
    print(f"\ncontract fuzz: {dict(COUNTS)} requests, {sum(COUNTS.values())} in all")
    assert len(set(COUNTS.values())) == 1

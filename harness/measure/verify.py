"""Fail closed: an app is measured only after it answers the contract's key cases correctly."""

import http.client
import json
import uuid
from urllib.parse import urlsplit

# (method, path, body, expected status, check on the decoded JSON body)
SMOKE = (
    ("GET", "/health", None, 200, lambda b: b == {"status": "ok"}),
    ("GET", "/users?limit=3", None, 200,
     lambda b: [u["id"] for u in b] == [1, 2, 3] and b[0]["email"] == "user1@example.com"),
    ("GET", "/users/2", None, 200, lambda b: b["id"] == 2 and b["name"] == "User 2"),
    ("GET", "/users/999999999", None, 404, lambda b: b == {"detail": "User not found"}),
    ("GET", "/users?limit=1001", None, 422, lambda b: b["detail"][0]["loc"] == ["query", "limit"]),
    ("POST", "/users", b"{not json", 422, lambda b: b["detail"][0]["type"] == "json_invalid"),
    ("POST", "/users", b'{"name": "x"}', 422, lambda b: b["detail"][0]["loc"] == ["body", "email"]),
    ("POST", "/users", b'{"name": "Dup", "email": "user1@example.com"}', 409,
     lambda b: b == {"detail": "Email already registered"}),
    ("GET", "/no-such-path", None, 404, lambda b: b == {"detail": "Not Found"}),
    ("DELETE", "/users", None, 405, lambda b: b == {"detail": "Method Not Allowed"}),
)


def request(base_url, method, path, body=None, headers=None, timeout=10.0):
    """(status, content type, decoded JSON or None) of one request on a fresh connection."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    hdrs = {"Content-Type": "application/json"} if body is not None else {}
    hdrs.update(headers or {})
    try:
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        raw = resp.read()
        ctype = resp.getheader("Content-Type", "")
    finally:
        conn.close()
    try:
        data = json.loads(raw) if raw else None
    except ValueError:
        data = None
    return resp.status, ctype, data


def contract(base_url):
    """Failures as one-line strings; empty when the app honours the smoke contract."""
    failures = []
    token = uuid.uuid4().hex
    created = (b'{"name": "Verify", "email": "verify-%s@example.com"}' % token.encode())
    cases = SMOKE + (("POST", "/users", created, 201, lambda b: b["name"] == "Verify"),)
    for method, path, body, status, check in cases:
        try:
            got, ctype, data = request(base_url, method, path, body)
        except (OSError, http.client.HTTPException) as exc:
            failures.append(f"{method} {path}: no answer ({exc!r})")
            continue
        if got != status:
            failures.append(f"{method} {path}: status {got}, expected {status}")
        elif not ctype.startswith("application/json"):
            failures.append(f"{method} {path}: content type {ctype!r}, expected application/json")
        else:
            try:
                ok = check(data)
            except (KeyError, IndexError, TypeError):
                ok = False
            if not ok:
                failures.append(f"{method} {path}: unexpected body {json.dumps(data)[:200]}")
    return failures


def scenario_request(base_url, req):
    """The scenario's own request, once: None if it succeeds (2xx/3xx), else the reason."""
    body = req.body.replace("{{unique}}", uuid.uuid4().hex).encode() if req.body else None
    try:
        status, _, data = request(base_url, req.method, req.path, body, req.headers)
    except (OSError, http.client.HTTPException) as exc:
        return f"{req.method} {req.path}: no answer ({exc!r})"
    if not 200 <= status < 400:
        return f"{req.method} {req.path}: status {status} {json.dumps(data)[:200]}"
    return None

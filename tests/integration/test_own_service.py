"""A team's own service, kept outside the repository, measured as the README shows: its Flask app
against its FastAPI port (tests/fixtures/own_service), each in its own environment built from
its requirements.txt with the real venv and pip, verified by the scenario's own request (they do
not implement this repository's users contract), on real PostgreSQL and wrk."""

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from harness.measure import envs

ROOT = Path(__file__).resolve().parents[2]
OWN = ROOT / "tests" / "fixtures" / "own_service"


def readme_command():
    """The command of the README's "Your own service" section, as written."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Your own service\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL).group(1)
    return block.replace("\\\n", " ").strip()


def harness(*args, env=None, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600,
                          check=False)


@pytest.fixture(scope="module")
def readme_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("own")
    env = {**os.environ, "XDG_CACHE_HOME": str(base / "cache")}
    command = readme_command()
    assert command.startswith(".venv/bin/python -m harness run ")
    argv = shlex.split(command)
    # As written, from the checkout's root; only the results go to a temporary folder, and the
    # interpreter is the one running the tests (the checkout's .venv in CI).
    argv = [sys.executable, *argv[1:], "--out", str(base / "out")]
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=900, check=False)
    return proc, base


def test_the_readme_example_measures_both_apps(readme_run):
    proc, base = readme_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    path = Path(re.search(r"^results: (.+)$", proc.stdout, re.MULTILINE).group(1))
    assert path.parent == base / "out"
    run = json.loads(path.read_text())
    assert run["status"] == "complete"
    assert sorted(run["apps"]) == ["orders_fastapi", "orders_flask"]
    assert len(run["cells"]) == 4  # one level, two apps, two repeats
    for cell in run["cells"]:
        assert cell["status"] == "ok", cell.get("reason")
        assert cell["rps"] > 0 and cell["error_rate"] == 0.0
    # Verified by the scenario's request alone: the users contract would have failed them.
    for info in run["apps"].values():
        assert info["verification"] == {"ok": True, "failures": [], "contract": False}
    assert run["apps"]["orders_flask"]["server"] == "gunicorn 27.0.1"
    assert run["apps"]["orders_fastapi"]["server"] == "uvicorn 0.54.0"
    packages = run["environment"]["packages"]
    assert packages["orders_flask/flask"] == "3.1.3"
    assert packages["orders_fastapi/fastapi"] == "0.165.0"
    assert (base / "out" / "report.md").is_file()


def test_each_app_got_its_own_cached_environment(readme_run):
    proc, base = readme_run
    cache = base / "cache" / "ffbench" / "envs"
    built = sorted(p for p in cache.iterdir() if p.is_dir())
    assert len(built) == 2
    for name in ("orders_flask", "orders_fastapi"):
        reqs = envs.Requirements.from_file(OWN / name / "requirements.txt")
        env = envs.locate(reqs, cache=cache)
        assert env.ready() and env.path in built
        assert f"{name}: building its environment with " in proc.stderr
    flask_env = envs.locate(envs.Requirements.from_file(OWN / "orders_flask" /
                                                        "requirements.txt"), cache=cache)
    assert flask_env.version("gunicorn") == "27.0.1" and flask_env.version("fastapi") is None
    # The apps ran with those interpreters, not the harness's.
    logs = {p.name for p in (base / "out").glob("*/logs/*.log")}
    assert any(n.startswith("order-orders_flask-") for n in logs)


def test_a_second_run_uses_the_cache(readme_run):
    _, base = readme_run
    env = {**os.environ, "XDG_CACHE_HOME": str(base / "cache")}
    proc = harness("run", str(OWN / "scenarios.yaml"), "--app-dir", str(OWN / "orders_flask"),
                   "--app-dir", str(OWN / "orders_fastapi"), "--dry-run", env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("(cached)") == 2


def test_app_dir_mistakes_are_one_line(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = harness("run", str(OWN / "scenarios.yaml"), "--app-dir", str(empty), "--dry-run")
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"error: --app-dir {empty}: no service.toml there "
                                   "(see docs/own-service.md)")
    proc = harness("run", str(OWN / "scenarios.yaml"), "--app-dir", str(OWN / "orders_flask"),
                   "--app-dir", str(OWN / "orders_flask"), "--dry-run")
    assert proc.returncode == 2
    assert "an app named 'orders_flask' exists already" in proc.stderr
    # Without --app-dir the file names apps nobody knows.
    proc = harness("run", str(OWN / "scenarios.yaml"), "--dry-run")
    assert proc.returncode == 2 and "orders_flask" in proc.stderr


def test_an_environment_that_cannot_be_built_is_one_line_naming_its_log(tmp_path):
    app = tmp_path / "broken"
    app.mkdir()
    for name in ("service.toml", "app.py"):
        (app / name).write_text((OWN / "orders_flask" / name).read_text())
    (app / "requirements.txt").write_text("./no-such-package-dir\n")
    scenario = tmp_path / "s.yaml"
    scenario.write_text((OWN / "scenarios.yaml").read_text()
                        .replace("[orders_flask, orders_fastapi]", "[broken]")
                        .replace("baseline: orders_flask", "baseline: broken"))
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    proc = harness("run", str(scenario), "--app-dir", str(app), "--no-ceilings",
                   "--out", str(tmp_path / "out"), env=env)
    assert proc.returncode == 2, proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    # uv when installed (requirements.txt has it), else pip
    assert re.match(r"error: broken: building the environment failed \((uv )?pip exited 1: ", line)
    log = Path(line.rsplit("log: ", 1)[1])
    assert log.is_file() and "no-such-package-dir" in log.read_text()
    assert not log.with_suffix("").exists()  # no half-built environment left

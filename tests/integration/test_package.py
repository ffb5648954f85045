"""`pip install .` into a fresh virtual environment gives a working `ffbench`, run from another
directory than the checkout.

This is a real install: pip builds the wheel from the checkout with its build backend (hatchling,
in an isolated build environment) and resolves the declared dependencies from the configured
index, into a venv that has nothing else. It proves that the wheel carries its data (apps,
contract, Lua script, results schema) and finds it from the installed package, that the console
command has every subcommand, that the declared dependencies are enough to plan a run, and that
the apps' own stacks are not needed to install the tool. It measures nothing: the installed tool
measuring an app in its own environment is what test_own_service.py does from the checkout.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "fixtures" / "scenarios" / "tiny.yaml"
OWN = ROOT / "tests" / "fixtures" / "own_service"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    base = tmp_path_factory.mktemp("package")
    venv = base / "venv"
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                           "--disable-pip-version-check", str(ROOT)], env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    print(f"pip install . took {time.monotonic() - t0:.0f} s")
    elsewhere = base / "elsewhere"
    elsewhere.mkdir()
    return venv, elsewhere, env


def ffbench(installed, *args):
    venv, cwd, env = installed
    return subprocess.run([str(venv / "bin" / "ffbench"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120,
                          check=False)


def site_packages(venv):
    (found,) = (venv / "lib").glob("python3*/site-packages")
    return found


def test_the_wheel_carries_its_data(installed):
    package = site_packages(installed[0]) / "harness"
    for path in ("_data/apps/flask_sync/service.toml", "_data/apps/fastapi_async/main.py",
                 "_data/apps/reference_asgi/requirements.txt", "_data/contract/openapi.yaml",
                 "measure/wrk_summary.lua", "model/results.schema.json"):
        assert (package / path).is_file(), path


def test_the_apps_stacks_are_not_installed_with_the_tool(installed):
    for name in ("fastapi", "flask", "gunicorn", "uvicorn", "sqlalchemy", "asyncpg"):
        assert not list(site_packages(installed[0]).glob(f"{name}-*.dist-info")), name


def test_version_names_the_tool_and_the_stacks_it_measures(installed):
    proc = ffbench(installed, "--version")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("ffbench 0.1.0 (Python ")
    assert f"apps from {site_packages(installed[0]) / 'harness' / '_data' / 'apps'}" in lines[0]
    fastapi_sync = next(ln for ln in lines if ln.startswith("  fastapi_sync: "))
    assert "fastapi 0.165.0" in fastapi_sync and "uvicorn 0.54.0" in fastapi_sync
    assert "sqlalchemy 2.1.9" in fastapi_sync
    assert fastapi_sync.endswith("not installed in this Python: `run --own-envs` builds them")
    assert any(ln.startswith("  flask_sync: flask 3.1.3, ") for ln in lines)


def test_every_subcommand_is_there(installed):
    proc = ffbench(installed, "--help")
    assert proc.returncode == 0
    for command in ("serve", "run", "report", "compare"):
        assert command in proc.stdout
        assert ffbench(installed, command, "--help").returncode == 0


def test_dry_run_from_another_directory(installed):
    proc = ffbench(installed, "run", str(TINY), "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"plan: {TINY}: 2 scenario(s), 3 level(s), 200 rows\n")
    assert "LACKS" in proc.stdout  # the apps' stacks are not in the tool's environment
    assert "\nestimate: " in proc.stdout and " of load (18 cells" in proc.stdout
    assert not (installed[1] / "results").exists()


def test_dry_run_with_an_out_of_tree_service(installed):
    proc = ffbench(installed, "run", str(OWN / "scenarios.yaml"), "--app-dir",
                   str(OWN / "orders_flask"), "--app-dir", str(OWN / "orders_fastapi"),
                   "--duration", "1s", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert "orders_flask    gunicorn, own environment " in proc.stdout
    assert "verified by the scenario's own request" in proc.stdout


def test_a_run_needing_missing_stacks_says_how_in_one_line(installed):
    proc = ffbench(installed, "run", str(TINY))
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: flask_sync: this Python (") and "--own-envs" in line
    assert not (installed[1] / "results").exists()  # refused before anything was written

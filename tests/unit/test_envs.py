"""harness.measure.envs: keys, the cache's layout, and the build's steps with a scripted
interpreter (and a scripted uv) standing in for Python and pip. The real build, with the real
venv and pip, runs in tests/integration/test_own_service.py."""

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.measure import envs

PY = envs.PythonInfo("/usr/bin/python3", "3.11.7", "cpython", "x86_64")

# A stand-in for Python: answers the version query, "creates" a venv whose bin/python is itself,
# "installs" (exit 0, or 1 when FAKE_FAIL_PIP is set) and reports two distributions. Every call
# is appended to $FAKE_CALLS.
FAKE_PYTHON = r"""#!/bin/sh
echo "python $*" >> "$FAKE_CALLS"
case "$1" in
  -c) case "$2" in
        *distributions*) echo '{"Flask": "3.1.3", "gunicorn": "27.0.1"}' ;;
        *) echo '["3.11.7", "cpython", "x86_64"]' ;;
      esac ;;
  -m) case "$2" in
        venv) mkdir -p "$3/bin" && cp "$0" "$3/bin/python" ;;
        pip) [ -z "$FAKE_FAIL_PIP" ] || { echo "ERROR: No matching distribution for nope" ; exit 1; } ;;
      esac ;;
esac
"""
FAKE_UV = r"""#!/bin/sh
echo "uv $*" >> "$FAKE_CALLS"
if [ "$1" = venv ]; then
  for last; do :; done
  [ ! -e "$last" ] || { echo "error: A directory already exists at: $last"; exit 2; }
  mkdir -p "$last/bin" && cp "$FAKE_PYTHON_PATH" "$last/bin/python"
fi
"""


def script(path, text):
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


@pytest.fixture
def fake(tmp_path, monkeypatch):
    calls = tmp_path / "calls.log"
    calls.touch()
    python = script(tmp_path / "fakepython", FAKE_PYTHON)
    monkeypatch.setenv("FAKE_CALLS", str(calls))
    monkeypatch.setenv("FAKE_PYTHON_PATH", str(python))
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no uv unless a test puts one there
    monkeypatch.setattr(envs, "find_uv", lambda: None)
    return python, calls, tmp_path / "cache"


def reqs(tmp_path, text="Flask==3.1.3\ngunicorn==27.0.1\n", name="requirements.txt"):
    path = tmp_path / name
    path.write_text(text)
    return envs.Requirements.from_file(path)


def test_key_follows_the_requirements_not_their_comments_or_blank_lines(tmp_path):
    a = envs.Requirements.from_text("Flask==3.1.3\ngunicorn==27.0.1\n", tmp_path)
    b = envs.Requirements.from_text("# today's stack\nFlask==3.1.3   # pinned\n\n"
                                    "gunicorn==27.0.1\n", tmp_path)
    c = envs.Requirements.from_text("Flask==3.1.2\ngunicorn==27.0.1\n", tmp_path)
    assert a.key(PY) == b.key(PY) != c.key(PY)
    assert len(a.key(PY)) == 16


def test_key_follows_the_python_it_is_built_for(tmp_path):
    r = envs.Requirements.from_text("Flask==3.1.3\n", tmp_path)
    other = envs.PythonInfo("/usr/bin/python3.12", "3.12.1", "cpython", "x86_64")
    assert r.key(PY) != r.key(other)


def test_key_follows_included_files(tmp_path):
    (tmp_path / "base.txt").write_text("SQLAlchemy==2.1.9\n")
    main = reqs(tmp_path, "-r base.txt\nFlask==3.1.3\n")
    first = main.key(PY)
    (tmp_path / "base.txt").write_text("SQLAlchemy==2.1.8\n")
    assert envs.Requirements.from_file(tmp_path / "requirements.txt").key(PY) != first


def test_a_missing_included_file_is_one_line(tmp_path):
    with pytest.raises(UsageError, match=r"missing\.txt: cannot read the requirements"):
        reqs(tmp_path, "-r missing.txt\n")


def test_entries_name_each_requirement_and_its_pin(tmp_path):
    (tmp_path / "base.txt").write_text("SQLAlchemy[asyncio]==2.1.9\n")
    (tmp_path / "constraints.txt").write_text("anyio<5\n")
    r = reqs(tmp_path, "-r base.txt\n-c constraints.txt\n--index-url https://example.org\n"
             "uvicorn[standard]==0.54.0\npydantic==2.14.*\nhttpx\n"
             "uvloop==0.23.0 ; sys_platform != 'win32'\n")
    assert r.entries() == [("uvicorn", "==0.54.0"), ("pydantic", "==2.14.*"), ("httpx", ""),
                           ("uvloop", "==0.23.0"), ("SQLAlchemy", "==2.1.9")]


def test_cache_dir_follows_xdg_cache_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert envs.cache_dir() == tmp_path / "ffbench" / "envs"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert envs.cache_dir() == Path.home() / ".cache" / "ffbench" / "envs"


def test_locate_changes_nothing(tmp_path):
    env = envs.locate(reqs(tmp_path), cache=tmp_path / "cache")
    assert env.path.parent == tmp_path / "cache" and not env.path.exists()
    assert not env.ready()
    assert env.python == env.path / "bin" / "python"


def test_build_with_venv_and_pip_then_cached(fake, tmp_path):
    python, calls, cache = fake
    lines = []
    env = envs.ensure(reqs(tmp_path), python=str(python), cache=cache, label="orders",
                      log=lines.append)
    assert env.ready()
    assert env.versions() == {"flask": "3.1.3", "gunicorn": "27.0.1"}
    assert env.version("Flask") == "3.1.3"
    info = env.info()
    assert info["installer"] == "pip" and info["requirements"] == ["Flask==3.1.3",
                                                                   "gunicorn==27.0.1"]
    assert (env.path / "requirements.txt").read_text() == "Flask==3.1.3\ngunicorn==27.0.1\n"
    assert lines[0].startswith("orders: building its environment with venv + pip in ")
    assert lines[1].startswith("orders: environment ready in ")
    made = calls.read_text().splitlines()
    assert f"python -m venv {env.path}" in made
    assert any(c.startswith("python -m pip install --disable-pip-version-check --no-input -r ")
               and c.endswith(str(tmp_path / "requirements.txt")) for c in made)
    # Second time: found in the cache, nothing runs but the version query of the key.
    calls.write_text("")
    again = envs.ensure(reqs(tmp_path), python=str(python), cache=cache, log=lines.append)
    assert again == env and len(lines) == 2
    assert all("venv" not in c and "pip" not in c for c in calls.read_text().splitlines())


def test_other_requirements_get_another_environment(fake, tmp_path):
    python, _, cache = fake
    a = envs.ensure(envs.Requirements.from_text("Flask==3.1.3\n", tmp_path), str(python), cache)
    b = envs.ensure(envs.Requirements.from_text("Flask==3.1.2\n", tmp_path), str(python), cache)
    assert a.path != b.path and a.ready() and b.ready()
    # A variant given as text is installed from the copy kept in its environment.
    assert (b.path / "requirements.txt").read_text() == "Flask==3.1.2\n"


def test_an_interrupted_build_is_redone_not_used(fake, tmp_path):
    python, _, cache = fake
    env = envs.locate(reqs(tmp_path), str(python), cache)
    (env.path / "bin").mkdir(parents=True)  # what a killed build left: no marker
    (env.path / "half-installed").write_text("")
    assert not env.ready()
    built = envs.ensure(reqs(tmp_path), str(python), cache)
    assert built.ready() and not (env.path / "half-installed").exists()


def test_a_failed_install_leaves_nothing_and_names_its_log(fake, tmp_path, monkeypatch):
    python, _, cache = fake
    monkeypatch.setenv("FAKE_FAIL_PIP", "1")
    with pytest.raises(envs.EnvError) as caught:
        envs.ensure(reqs(tmp_path, "nope==1\n"), str(python), cache)
    message = str(caught.value)
    assert "\n" not in message
    assert "pip exited 1" in message and "No matching distribution for nope" in message
    env = envs.locate(reqs(tmp_path, "nope==1\n"), str(python), cache)
    assert f"log: {env.log}" in message and env.log.exists()
    assert not env.path.exists()
    monkeypatch.delenv("FAKE_FAIL_PIP")
    assert envs.ensure(reqs(tmp_path, "nope==1\n"), str(python), cache).ready()


def test_uv_builds_when_it_is_installed(fake, tmp_path, monkeypatch):
    python, calls, cache = fake
    uv = script(tmp_path / "uv", FAKE_UV)
    monkeypatch.setattr(envs, "find_uv", lambda: str(uv))
    env = envs.ensure(reqs(tmp_path), str(python), cache)
    assert env.ready() and env.info()["installer"] == "uv"
    made = calls.read_text().splitlines()
    assert f"uv venv --quiet --python {python} {env.path}" in made
    assert any(c.startswith(f"uv pip install --python {env.python} -r ") for c in made)
    assert not any(c.startswith("python -m pip") for c in made)


def test_uv_can_be_refused_or_demanded(fake, tmp_path, monkeypatch):
    python, _, cache = fake
    uv = script(tmp_path / "uv", FAKE_UV)
    monkeypatch.setattr(envs, "find_uv", lambda: str(uv))
    assert envs.ensure(reqs(tmp_path), str(python), cache,
                       use_uv=False).info()["installer"] == "pip"
    monkeypatch.setattr(envs, "find_uv", lambda: None)
    with pytest.raises(envs.EnvError, match="uv was asked for"):
        envs.ensure(reqs(tmp_path, "other==1\n"), str(python), cache, use_uv=True)


def test_find_uv_looks_on_path(tmp_path, monkeypatch):
    script(tmp_path / "uv", "#!/bin/sh\n")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert envs.find_uv() == str(tmp_path / "uv")


def test_the_current_python_is_described_without_a_subprocess():
    info = envs.PythonInfo.of(sys.executable)
    assert info.version == ".".join(map(str, sys.version_info[:3]))
    assert info.executable == sys.executable


def test_marker_json_is_what_ready_requires(tmp_path):
    env = envs.Env("k", tmp_path / "k")
    (env.path / "bin").mkdir(parents=True)
    os.symlink(sys.executable, env.python)
    assert not env.ready()
    env.marker.write_text(json.dumps({"packages": {"flask": "3.1.3"}}))
    assert env.ready() and env.version("Flask") == "3.1.3"


def test_a_service_in_its_own_environment_runs_with_its_python(fake, tmp_path, monkeypatch):
    from harness.measure import services

    python, _, _ = fake
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(envs.sys, "executable", str(python))  # the harness's Python, as seen
    app = tmp_path / "app"
    app.mkdir()
    (app / "requirements.txt").write_text("Flask==3.1.3\ngunicorn==27.0.1\n")
    (app / "service.toml").write_text(
        '[service]\ndescription = "d"\nserver = "gunicorn"\nport = 8100\n'
        'command = ["{python}", "-m", "gunicorn", "--bind", "{host}:{port}", "app:app"]\n')
    own = services.load_dir(app)
    assert own.environment == "own" and own.env() is not None and not own.env().ready()
    ready = services.with_environment(own)
    env = own.env()
    assert env.ready() and ready.python == str(env.python)
    assert ready.argv(9000)[:3] == [str(env.python), "-m", "gunicorn"]
    assert ready.server_version() == "gunicorn 27.0.1"
    # An app on the harness's Python, unless `run --own-envs` says otherwise.
    shared = services.load(app / "service.toml")
    assert shared.environment == "harness" and shared.argv(9000)[0] == str(python)
    monkeypatch.setattr(services, "OWN_ENVS", True)
    assert shared.own_env and shared.argv(9000)[0] == str(env.python)

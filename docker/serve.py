"""Container entrypoint: start one app the way the harness starts it, then become that app.

    python docker/serve.py [APP]        (APP defaults to $APP, set by the image's build argument)

The command comes from apps/<APP>/service.toml, read by `harness.services`: {python} is this
interpreter, {host} is 0.0.0.0 (reachable through the container's published port) and {port} is
$PORT, or the service's own port when PORT is unset. Every knob the app reads gets the value from
the environment, or harness/settings.py's default when it is unset or empty — so an empty
WEB_CONCURRENCY means one worker per CPU, as it does under the harness.
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# harness/ sits beside docker/, in the repository and in the image alike.
from harness.config import settings
from harness.errors import UsageError
from harness.measure import services

HOST = "0.0.0.0"


def plan(app, environ, apps_dir=ROOT / "apps"):
    """The argv, working directory and environment `app` runs with."""
    path = Path(apps_dir) / app / "service.toml"
    if not path.is_file():
        raise UsageError(f"{path}: no such service declaration (APP={app!r})")
    service = services.load(path)
    if not environ.get("DATABASE_URL"):
        raise UsageError(f"{app}: DATABASE_URL is not set")
    given = {k: environ[k] for k in service.knobs if environ.get(k)}
    env = dict(environ)
    env.update(settings.resolve(service.knobs, given))
    env["PYTHONUNBUFFERED"] = "1"
    port = environ.get("PORT") or str(service.port)
    return service.argv(port, host=HOST), service.directory, env


def main(argv=None):
    args = sys.argv[1:] if argv is None else argv
    app = args[0] if args else os.environ.get("APP", "")
    if not app:
        print("usage: serve.py APP (or set APP)", file=sys.stderr)
        return 2
    try:
        cmd, cwd, env = plan(app, os.environ)
    except UsageError as exc:
        print(f"serve.py: {exc}", file=sys.stderr)
        return 2
    print(f"serve.py: {app}: {' '.join(cmd)}", file=sys.stderr, flush=True)
    os.chdir(cwd)
    os.execve(cmd[0], cmd, env)  # the server becomes PID 1 and receives `docker stop`'s SIGTERM


if __name__ == "__main__":
    sys.exit(main())

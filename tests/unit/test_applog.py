from pathlib import Path

from harness.measure import applog

LOGS = Path(__file__).resolve().parents[1] / "fixtures" / "logs"
SEED_ERROR = ("sqlalchemy.exc.TimeoutError: QueuePool limit of size 5 overflow 10 reached, "
              "connection timed out, timeout 30.00 (Background on this error at: "
              "http://sqlalche.me/e/14/3o7r)")


def read(name):
    return (LOGS / name).read_text()


def test_gunicorn_flask():
    result = applog.classify(read("gunicorn_flask.log"))
    # /users, /db and the /slow request aborted by the worker timeout each raised.
    assert result["counts"] == {"pool_timeout": 1, "worker_timeout": 1, "worker_restart": 2,
                                "connection_error": 1, "server_error": 3}
    ex = result["examples"]
    assert ex["pool_timeout"].startswith(
        "sqlalchemy.exc.TimeoutError: QueuePool limit of size 5 overflow 10 reached")
    # The chained traceback counts once, shown by the exception that surfaced last.
    assert ex["connection_error"].startswith(
        "sqlalchemy.exc.OperationalError: (psycopg2.OperationalError) connection to server at "
        '"127.0.0.1", port 1 failed: Connection refused')
    assert ex["worker_timeout"].endswith("[CRITICAL] WORKER TIMEOUT (pid:16791)")
    assert ex["worker_restart"].endswith("[CRITICAL] WORKER TIMEOUT (pid:16791)")
    assert ex["server_error"] == ex["pool_timeout"]


def test_uvicorn_fastapi():
    result = applog.classify(read("uvicorn_fastapi.log"))
    assert result["counts"] == {"pool_timeout": 1, "worker_timeout": 0, "worker_restart": 1,
                                "connection_error": 2, "server_error": 3}
    ex = result["examples"]
    assert ex["pool_timeout"].startswith(
        "sqlalchemy.exc.TimeoutError: QueuePool limit of size 1 overflow 0 reached")
    assert ex["connection_error"] == ("asyncpg.exceptions.ConnectionDoesNotExistError: "
                                      "connection was closed in the middle of operation")
    assert ex["worker_restart"] == "INFO:     Child process [16382] died"
    assert "worker_timeout" not in ex


def test_seed_traceback():
    result = applog.classify(read("seed_fastapi_0.63.log"))
    assert result["counts"]["pool_timeout"] == 1
    assert result["counts"]["server_error"] == 1
    assert result["examples"] == {"pool_timeout": SEED_ERROR, "server_error": SEED_ERROR}


def test_traceback_without_indentation_still_ends_at_the_exception():
    # As quoted in the seed's markdown: every line flush left.
    flat = "\n".join(line.strip() for line in read("seed_fastapi_0.63.log").splitlines())
    result = applog.classify(flat)
    assert result["counts"]["server_error"] == 1
    assert result["examples"]["pool_timeout"] == SEED_ERROR


def test_each_traceback_counts():
    result = applog.classify(read("seed_fastapi_0.63.log") * 3)
    assert result["counts"]["pool_timeout"] == 3 and result["counts"]["server_error"] == 3


def test_examples_are_truncated():
    line = "psycopg2.OperationalError: " + "x" * 1000
    result = applog.classify(f"Traceback (most recent call last):\n  File \"a.py\"\n{line}\n")
    assert len(result["examples"]["connection_error"]) == 300


def test_quiet_log():
    text = ("[2026-01-01 00:00:00 +0000] [1] [INFO] Booting worker with pid: 2\n"
            "[2026-01-01 00:00:00 +0000] [1] [INFO] Booting worker with pid: 3\n"
            "[2026-01-01 00:00:09 +0000] [1] [INFO] Handling signal: term\n"
            "[2026-01-01 00:00:09 +0000] [1] [INFO] Worker (pid:2) was sent SIGTERM!\n")
    result = applog.classify(text)
    assert set(result["counts"].values()) == {0} and result["examples"] == {}
    assert applog.classify("")["counts"] == dict.fromkeys(applog.CATEGORIES, 0)


def test_header_without_traceback_is_a_server_error():
    line = "[2026-01-01 00:00:01,000] ERROR in app: Exception on /users [GET]"
    result = applog.classify(line + "\nsomething else\n")
    assert result["counts"]["server_error"] == 1
    assert result["examples"]["server_error"] == line

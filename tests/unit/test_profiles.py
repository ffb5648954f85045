"""Where the CPU goes (harness.analysis.profiles): the classifier on single stacks taken from
real py-spy output of each app, then on each app's cut-down real profile."""

from pathlib import Path

import pytest

from harness.analysis import profiles
from harness.analysis.profiles import Layer
from harness.model import stacks
from harness.model.results import Profile

FIXTURES = Path(__file__).parent.parent / "fixtures" / "profiles"
APPS = ("flask_sync", "fastapi_sync", "fastapi_async")
GUNICORN = 'process 1:"python -m gunicorn app:app"'
WORKER = 'process 2:"python -c from multiprocessing.spawn import spawn_main; spawn_main(9)"'


def s(*frames: str) -> str:
    return ";".join(frames)


PQ = "libpq-a17e3caa.so.5.17"
PSYCOPG = "psycopg2/_psycopg.cpython-311-x86_64-linux-gnu.so"
FLASK = s("SyncWorker.handle_request (gunicorn/workers/sync.py:184)",
          "Flask.__call__ (flask/app.py:1536)", "Flask.wsgi_app (flask/app.py:1511)",
          "Flask.full_dispatch_request (flask/app.py:917)",
          "Flask.dispatch_request (flask/app.py:902)", "list_users (app.py:183)")
ORM_EXEC = s("Connection._exec_single_context (sqlalchemy/engine/base.py:1977)",
             "DefaultDialect.do_execute (sqlalchemy/engine/default.py:1192)")
UVLOOP = s("Runner.run (asyncio/runners.py:118)", "run_until_complete (loop.c:35886)",
           "run_forever (loop.c:33397)", "Loop__run (loop.c:20313)",
           "Loop__Loop__run (loop.c:19903)")


def layer(stack: str) -> Layer:
    return profiles.classify([profiles.frame(t) for t in stacks.frames(stack)
                              if not stacks.is_process(t)])


@pytest.mark.parametrize(("stack", "expected"), [
    # flask_sync: the arbiter and an idle worker wait in epoll/select; psycopg2 waits for
    # PostgreSQL in libpq's poll; its send is the driver's work.
    (s(GUNICORN, "Arbiter.run (gunicorn/arbiter.py:257)",
       "Arbiter.wait_for_signals (gunicorn/arbiter.py:425)",
       "EpollSelector.select (selectors.py:468)", "select_epoll_poll_impl (selectmodule.c:1598)",
       "epoll_wait (libc.so.6)"), Layer.WAITING),
    (s(GUNICORN, "SyncWorker.run_for_one (gunicorn/workers/sync.py:83)",
       "SyncWorker.wait (gunicorn/workers/sync.py:35)",
       "select_select_impl (selectmodule.c:344)", "select (libc.so.6)"), Layer.WAITING),
    (s(FLASK, ORM_EXEC, f"_pq_execute_sync ({PSYCOPG})", f"PQexec ({PQ})", f"0x7f414f7be8a3 ({PQ})",
       f"PQsocketPoll ({PQ})", "poll (libc.so.6)"), Layer.WAITING),
    (s(FLASK, ORM_EXEC, f"_pq_execute_sync ({PSYCOPG})", f"PQexec ({PQ})", f"0x7f414f7c3ab5 ({PQ})",
       "send (libc.so.6)"), Layer.DRIVER),
    (s(FLASK, ORM_EXEC), Layer.DRIVER),  # without C frames: the DBAPI call itself
    (s(FLASK, "ScalarResult.all (sqlalchemy/engine/result.py:1380)", "_allrows (_result_cy.c:9143)",
       "_instance_processor.<locals>._instance (sqlalchemy/orm/loading.py:1124)",
       "InstanceState.__init__ (sqlalchemy/orm/state.py:209)"), Layer.ORM),
    (s(FLASK, "ClassManager.new_instance (sqlalchemy/orm/instrumentation.py:500)",
       "InstanceState.__init__ (sqlalchemy/orm/state.py:209)",
       "gc_collect_main (libpython3.11.so.1.0)"), Layer.GC),
    (s(FLASK, "TypeAdapter.validate_python (pydantic/type_adapter.py:410)",
       "0x7f414fd626be (pydantic_core/_pydantic_core.cpython-311-x86_64-linux-gnu.so)"),
     Layer.SERIALIZATION),
    (s(FLASK, "TypeAdapter.validate_python (pydantic/type_adapter.py:410)",
       "InstrumentedAttribute.__get__ (sqlalchemy/orm/attributes.py:568)"), Layer.ORM),
    (s(FLASK, "Flask.finalize_request (flask/app.py:941)",
       "Flask.process_response (flask/app.py:1316)"), Layer.ROUTING),
    (s("SyncWorker.handle_request (gunicorn/workers/sync.py:190)",
       "Response.write (gunicorn/http/wsgi.py:504)", "write (gunicorn/util.py:348)",
       "sock_sendall (socketmodule.c:4269)", "send (libc.so.6)"), Layer.SERVER),
    (FLASK, Layer.OTHER),  # the app's own line
    (s(FLASK, "Thread.run (threading.py:982)"), Layer.OTHER),  # the stdlib passes it through
    # fastapi_sync: idle pool threads wait on a lock; uvicorn's pong thread on its pipe.
    (s(WORKER, "WorkerThread.run (anyio/_backends/_asyncio.py:1113)", "Queue.get (queue.py:171)",
       "Condition.wait (threading.py:327)", "lock_PyThread_acquire_lock (libpython3.11.so.1.0)",
       "PyThread_acquire_lock_timed (libpython3.11.so.1.0)", "0x7f713ceaed90 (libc.so.6)"),
     Layer.WAITING),
    (s(WORKER, "Process.pong (uvicorn/supervisors/multiprocess.py:59)",
       "Connection._recv (multiprocessing/connection.py:395)",
       "os_read (libpython3.11.so.1.0)", "read (libc.so.6)"), Layer.WAITING),
    (s(WORKER, "WorkerThread.run (anyio/_backends/_asyncio.py:1113)", "Queue.put (queue.py:188)",
       "Condition.notify (threading.py:382)", "lock_PyThread_release_lock (libpython3.11.so.1.0)",
       "sem_post (libc.so.6)"), Layer.ROUTING),
    (s(WORKER, "solve_dependencies (fastapi/dependencies/utils.py:726)",
       "HTTPConnection.query_params (starlette/requests.py:142)"), Layer.ROUTING),
    (s(WORKER, "get_request_handler.<locals>.app (fastapi/routing.py:784)",
       "serialize_response (fastapi/routing.py:261)",
       "ModelField.validate (fastapi/_compat/v2.py:132)"), Layer.SERIALIZATION),
    # fastapi_async: uvloop idle in epoll; writing an answer; asyncpg decoding rows.
    (s(WORKER, UVLOOP, "uv_run (core.c:464)", "uv__io_poll (linux.c:1452)",
       "epoll_pwait (libc.so.6)"), Layer.WAITING),
    (s(WORKER, UVLOOP, "RequestResponseCycle.send (uvicorn/protocols/http/httptools_impl.py:524)",
       "UVStream_write (loop.c:110085)", "UVStream__try_write (loop.c:106818)",
       "write (libc.so.6)"), Layer.SERVER),
    (s(WORKER, UVLOOP, "Connection.execute (asyncpg/connection.py:377)",
       "CoreProtocol__bind_execute (protocol.c:47070)", "BaseProtocol__write (protocol.c:86300)",
       "UVStream_write (loop.c:110085)", "UVStream__try_write (loop.c:106818)",
       "write (libc.so.6)"), Layer.DRIVER),  # asyncpg writing to PostgreSQL through uvloop
    (s(WORKER, UVLOOP, "uv_run (core.c:452)", "uv__run_idle (loop-watcher.c:68)",
       "pthread_cond_signal (libc.so.6)"), Layer.SERVER),
    (s(WORKER, UVLOOP, "Connection.execute (asyncpg/connection.py:377)",
       "Codec_decode (protocol.c:16144)", "pgproto_timestamptz_decode (pgproto.c:26522)"),
     Layer.DRIVER),
    (s(WORKER, UVLOOP, "greenlet_spawn (sqlalchemy/util/_concurrency_py3k.py:201)",
       "AsyncAdapt_asyncpg_cursor._prepare_and_execute "
       "(sqlalchemy/dialects/postgresql/asyncpg.py:519)"), Layer.DRIVER),
    (s(WORKER, "Runner.run (asyncio/runners.py:118)"), Layer.WAITING),  # uvloop, no C frames
])
def test_a_sample_goes_to_the_layer_of_its_innermost_known_frame(stack, expected):
    assert layer(stack) is expected


def profile_of(app):
    name = f"{app}.txt"
    raw = stacks.read(FIXTURES / name)
    return profiles.profile(Profile(scenario="profile", app=app, connections=12, rate_hz=100,
                                    file=name, samples=stacks.total(raw), rps=100.0), raw)


@pytest.mark.parametrize("app", APPS)
def test_each_stacks_real_profile_has_plausible_layers(app):
    p = profile_of(app)
    assert p.error is None and p.samples > p.busy > 50
    assert sum(share for _, share in p.shares) == pytest.approx(1.0)
    # Every stack serves GET /users through its server, framework, ORM and driver.
    for need in (Layer.SERVER, Layer.ROUTING, Layer.ORM, Layer.DRIVER):
        assert p.share(need) > 0, need
    assert p.share(Layer.OTHER) < 0.05  # nearly every busy sample has a known layer
    assert 0.5 < p.waiting < 1  # idle threads: the gunicorn arbiter, uvicorn's supervisor...


def test_the_flame_graph_tree_holds_the_busy_samples_only():
    p = profile_of("flask_sync")
    root = p.flame
    assert root.name == "all" and root.samples == p.busy

    def check(node):
        assert sum(c.samples for c in node.children) <= node.samples
        assert [c.name for c in node.children] == sorted(c.name for c in node.children)
        for c in node.children:
            assert c.samples >= p.busy * profiles.MIN_FLAME_SHARE
            assert ".py:" not in c.name and not c.name.startswith("process ")  # lines, processes
            check(c)

    check(root)
    names = set()

    def walk(node):
        names.add(node.name)
        for c in node.children:
            walk(c)

    walk(root)
    assert "Flask.__call__ (flask/app.py)" in names
    assert not any("epoll_wait" in n for n in names)  # waiting is left out


def test_a_missing_file_or_a_failed_profile_says_why():
    p = profiles.profile(Profile(scenario="s", app="a", connections=1, rate_hz=100,
                                 file="r/profiles/x.txt", samples=10), None)
    assert p.error == "its stacks (r/profiles/x.txt) could not be read" and p.flame is None
    failed = profiles.profile(Profile(scenario="s", app="a", connections=1, rate_hz=100,
                                      error="py-spy could not sample the app: Permission "
                                            "denied"), None)
    assert failed.error.startswith("py-spy could not") and failed.samples == 0

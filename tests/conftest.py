"""Shared fixtures: one real PostgreSQL and the three real services, started once per session."""

import pytest

from harness.measure import dataset, postgres, services

APP_NAMES = ("flask_sync", "fastapi_sync", "fastapi_async")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    with postgres.database(log_dir=str(tmp_path_factory.mktemp("pg"))) as url:
        dataset.prepare(url)
        yield url


@pytest.fixture(scope="session")
def running_apps(database_url, tmp_path_factory):
    """name -> services.Running, each on its own free loopback port, production settings."""
    logs = tmp_path_factory.mktemp("app-logs")
    found = services.discover()
    started = {}
    try:
        for name in APP_NAMES:
            started[name] = services.start(
                found[name], database_url, postgres.free_port(), str(logs / f"{name}.log"))
        yield started
    finally:
        for running in started.values():
            services.stop(running)


@pytest.fixture
def seeded(database_url):
    """The dataset back in its seeded state before the test."""
    dataset.reset(database_url)
    return database_url

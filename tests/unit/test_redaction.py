"""A password in a database URL never reaches results, reports or logs."""

import pytest

from harness.errors import UsageError
from harness.measure import postgres


@pytest.mark.parametrize("url, shown", [
    ("postgresql://u:plain@h:5432/db", "postgresql://u:***@h:5432/db"),
    ("postgresql://u:pa#ss@h/db", "postgresql://u:***@h/db"),
    ("postgresql://u:p/a?s@h:5/db", "postgresql://u:***@h:5/db"),
    ("postgresql://u@h/db?password=secret&sslmode=off", "postgresql://u@h/db?password=***&sslmode=off"),
    ("postgresql://bench@127.0.0.1:1/b", "postgresql://bench@127.0.0.1:1/b"),
    ("http://127.0.0.1:8000/users", "http://127.0.0.1:8000/users"),
])
def test_redact(url, shown):
    assert postgres.redact(url) == shown


def test_redact_text_in_argv_and_log_lines():
    line = "run x.yaml --database-url=postgresql://u:s3c/r#t@h/db --out r"
    assert postgres.redact_text(line) == "run x.yaml --database-url=postgresql://u:***@h/db --out r"
    log = 'connect failed for "postgresql+asyncpg://app:topsecret@db:5432/x": refused'
    assert "topsecret" not in postgres.redact_text(log)


@pytest.mark.parametrize("url", [
    "postgresql://u:pa#ss@h/db",  # what libpq reads is not what urlsplit reads
    "postgresql://u@h:port/db",
    "mysql://u@h/db",
    "postgresql:///db",
])
def test_check_url_refuses_without_echoing_the_password(url):
    with pytest.raises(UsageError) as err:
        postgres.check_url(url)
    assert "pa#ss" not in str(err.value) and str(err.value).startswith("DATABASE_URL: ")


def test_check_url_accepts_a_percent_encoded_password():
    postgres.check_url("postgresql://u:pa%23ss@127.0.0.1:5432/db")

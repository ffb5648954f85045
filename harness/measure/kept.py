"""A connection to PostgreSQL kept open across cells for one of the harness's own jobs.

Every cell used to open three: the dataset reset, the sampler and the settle. Each cost 5-10 ms
of the harness's time and a backend fork on the CPUs the apps are measured on. A kept connection
is checked with one round trip before each use and opened again when it was lost (a fault
restarted PostgreSQL or terminated its sessions).
"""

from __future__ import annotations

from typing import Any

import psycopg2


class Kept:
    def __init__(self, url: str, application_name: str, options: str | None = None):
        self.url, self.application_name, self.options = url, application_name, options
        self._conn: Any = None

    def get(self) -> Any:
        """The open connection (autocommit), or a new one; psycopg2.Error when PostgreSQL
        cannot be reached."""
        if self._conn is not None:
            try:
                with self._conn.cursor() as cur:
                    cur.execute("SELECT 1")
                return self._conn
            except psycopg2.Error:
                self.close()
        kw: dict[str, Any] = {"options": self.options} if self.options else {}
        conn = psycopg2.connect(self.url, application_name=self.application_name,
                                connect_timeout=5, **kw)
        conn.autocommit = True
        self._conn = conn
        return conn

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg2.Error:
                pass
            self._conn = None

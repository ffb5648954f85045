"""Reference ceiling, not a candidate: raw ASGI + asyncpg, no framework, no ORM, no validation.

It answers the benchmarked endpoints with the same JSON as the services, so the report can show
how much of what Python can do on this machine each stack keeps.
"""

import json
import os
import uuid
from urllib.parse import parse_qs

import asyncpg

LIST = "SELECT id, name, email, created_at FROM users ORDER BY id LIMIT $1 OFFSET $2"
INSERT = "INSERT INTO users (name, email) VALUES ($1, $2) RETURNING id, name, email, created_at"
HEADERS = [(b"content-type", b"application/json")]
pool = None


def user(row):
    created = row["created_at"].isoformat().replace("+00:00", "Z")
    return {"id": row["id"], "name": row["name"], "email": row["email"], "created_at": created}


async def respond(send, status, payload):
    await send({"type": "http.response.start", "status": status, "headers": HEADERS})
    await send({"type": "http.response.body", "body": json.dumps(payload).encode()})


async def lifespan(receive, send):
    global pool
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            size = int(os.environ.get("POOL_SIZE", "5")) + int(os.environ.get("MAX_OVERFLOW", "10"))
            pool = await asyncpg.create_pool(os.environ["DATABASE_URL"], min_size=1, max_size=size)
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await pool.close()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        return await lifespan(receive, send)
    path = scope["path"]
    if path == "/health":
        await pool.fetchval("SELECT 1")
        return await respond(send, 200, {"status": "ok"})
    if path == "/users":
        query = parse_qs(scope["query_string"].decode())
        limit = int(query.get("limit", ["100"])[0])
        offset = int(query.get("offset", ["0"])[0])
        return await respond(send, 200, [user(r) for r in await pool.fetch(LIST, limit, offset)])
    if path == "/users/insert-data-to-test":
        token = uuid.uuid4().hex
        row = await pool.fetchrow(INSERT, f"user-{token}", f"{token}@example.com")
        return await respond(send, 200, user(row))
    return await respond(send, 404, {"detail": "Not Found"})

"""Users service: Flask + Flask-SQLAlchemy + psycopg2, served by gunicorn (today's stack)."""

import json
import os
import uuid
from datetime import datetime
from typing import Annotated

from flask import Flask, jsonify, request
from flask_sqlalchemy import SQLAlchemy
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from sqlalchemy import BigInteger, DateTime, String, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Rule

MAX_ID = 2**63 - 1  # the id column is a PostgreSQL bigint


class ExactRule(Rule):
    """A route answers only its declared methods: no implicit HEAD (FastAPI adds none)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.methods:
            self.methods.discard("HEAD")


app = Flask(__name__, static_folder=None)  # an API: no /static/<path> route
app.url_rule_class = ExactRule
app.url_map.merge_slashes = False  # "/users//1" is an unknown path, not a redirect
app.config["SQLALCHEMY_DATABASE_URI"] = make_url(os.environ["DATABASE_URL"]).set(
    drivername="postgresql+psycopg2")
app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
    "pool_size": int(os.environ.get("POOL_SIZE", "5")),
    "max_overflow": int(os.environ.get("MAX_OVERFLOW", "10")),
    "pool_timeout": float(os.environ.get("POOL_TIMEOUT", "30")),
    # Off by default, as in SQLAlchemy and in most services: docs/faults.md measures both.
    "pool_pre_ping": os.environ.get("POOL_PRE_PING", "0") == "1",
}
app.json.sort_keys = False  # keep the field order of the response models
db = SQLAlchemy(app)


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


def storable(value: str) -> str:
    # PostgreSQL text cannot hold NUL, and lone surrogates cannot be encoded as UTF-8.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode") from None
    return value


class UserCreate(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=100), AfterValidator(storable)]
    email: Annotated[
        str,
        Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
        AfterValidator(storable),
    ]


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    email: str
    created_at: datetime


class ListParams(BaseModel):
    limit: Annotated[int, Field(ge=1, le=1000)] = 100
    offset: Annotated[int, Field(ge=0, le=MAX_ID)] = 0


UserId = TypeAdapter(Annotated[int, Field(ge=1, le=MAX_ID)])
UserList = TypeAdapter(list[UserOut])
NewUser = TypeAdapter(UserCreate)
ListQuery = TypeAdapter(ListParams)


class Unparsable(Exception):
    """A JSON body that cannot be decoded at all (not UTF-8, nested too deep): FastAPI's 400."""


class Invalid(Exception):
    """Request validation failed: rendered in the contract's 422 shape."""

    def __init__(self, errors):
        self.errors = errors


def validate(adapter, value, where):
    try:
        return adapter.validate_python(value, from_attributes=True)
    except ValidationError as exc:
        raise Invalid([{"type": e["type"], "loc": [*where, *e["loc"]], "msg": e["msg"]}
                       for e in exc.errors()]) from None


def json_body():
    """The request body as JSON, read the way the FastAPI services read it."""
    raw = request.get_data(cache=False)
    if not raw:
        raise Invalid([{"type": "missing", "loc": ["body"], "msg": "Field required"}])
    if not request.is_json:  # application/json or application/*+json
        return raw  # not JSON: fails model validation as a non-object
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise Invalid([{"type": "json_invalid", "loc": ["body", exc.pos],
                        "msg": "JSON decode error"}]) from None
    except (ValueError, RecursionError):
        raise Unparsable() from None


def user_json(user, status=200):
    return app.response_class(UserOut.model_validate(user).model_dump_json(), status,
                              mimetype="application/json")


@app.errorhandler(Invalid)
def invalid(exc):
    return jsonify(detail=exc.errors), 422


@app.errorhandler(Unparsable)
def unparsable(exc):
    return jsonify(detail="There was an error parsing the body"), 400


@app.before_request
def no_leading_empty_segment():
    # Werkzeug routes "//users" as "/users"; for the contract (and Starlette) it is unknown.
    if request.environ.get("PATH_INFO", "").startswith("//"):
        raise NotFound()


@app.errorhandler(HTTPException)
def http_error(exc):
    # Routing errors (unknown path, wrong method) in the contract's JSON shape, not HTML.
    response = jsonify(detail=exc.name)
    response.status_code = exc.code
    response.headers.extend(h for h in exc.get_headers() if h[0].lower() == "allow")
    return response


@app.errorhandler(Exception)
def server_error(exc):
    app.logger.exception("Exception on %s [%s]", request.path, request.method)
    return jsonify(detail="Internal Server Error"), 500


@app.get("/health", provide_automatic_options=False)
def health():
    try:
        db.session.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError):
        return jsonify(detail="Database unavailable"), 503
    return jsonify(status="ok")


@app.get("/users", provide_automatic_options=False)
def list_users():
    # A repeated parameter counts with its last value, as in FastAPI.
    params = validate(ListQuery, dict(request.args.items(multi=True)), ["query"])
    users = db.session.scalars(
        select(User).order_by(User.id).limit(params.limit).offset(params.offset)).all()
    body = UserList.dump_json(UserList.validate_python(users, from_attributes=True))
    return app.response_class(body, mimetype="application/json")


@app.post("/users", provide_automatic_options=False)
def create_user():
    payload = validate(NewUser, json_body(), ["body"])
    user = User(name=payload.name, email=payload.email)
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return jsonify(detail="Email already registered"), 409
    return user_json(user, 201)


@app.get("/users/insert-data-to-test", provide_automatic_options=False)
def insert_data_to_test():
    # The original load test's write endpoint: one generated, unique user per request.
    token = uuid.uuid4().hex
    user = User(name=f"user-{token}", email=f"{token}@example.com")
    db.session.add(user)
    db.session.commit()
    return user_json(user)


@app.get("/users/<user_id>", provide_automatic_options=False)
def get_user(user_id):
    user = db.session.get(User, validate(UserId, user_id, ["path", "user_id"]))
    if user is None:
        return jsonify(detail="User not found"), 404
    return user_json(user)

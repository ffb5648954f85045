r"""Users service as the original write-up ran it (2021): FastAPI 0.63, SQLAlchemy 1.4.7, uvicorn 0.13.4.

The same service as main.py (same routes, status codes, error shapes and environment knobs),
written the way 2021 code was: a `declarative_base()` model, pydantic 1 models with `orm_mode`
and `@validator`, a `Depends(get_db)` generator dependency and `response_model=`. Its pins are in
requirements-original.txt (pydantic 1.10 and psycopg2-binary 2.9 only because the 2021 releases
have no Python 3.11 wheels; plain uvicorn on h11, as in the write-up).

Why it exists: main.py on today's versions does not reproduce the write-up's collapse at 48
connections; these versions do. Starlette 0.13 runs `def` endpoints, the response-model
validation *and* the generator dependency's clean-up on asyncio's default executor,
min(32, cores + 4) threads per worker (6 on 2 cores). Once every thread is a request waiting in
the pool's checkout while the pool_size + max_overflow connections belong to requests whose
clean-up is queued behind them ("idle in transaction"), nothing completes until POOL_TIMEOUT
fails the waiters. So this module must not set a thread-pool size: there is no THREADPOOL_SIZE
knob here, on purpose. Measured with 2 workers on 2 cores: 0 requests in 10 s at 48
connections (as in the write-up); 85-165 req/s and no errors at 12 and 24 (shared machine).

Where FastAPI 0.63 / pydantic 1 would answer differently from the contract, the smallest change
that keeps it is made where it applies, with a comment: the validation-error handler renames
pydantic 1's error types and messages to the contract's (pydantic 2's); bodies are parsed as
JSON only under a JSON content type and must be JSON objects; strings are strict; the email
pattern reads `\s` as Unicode White_Space; timestamps end in "Z"; a 405 carries `Allow`.
"""
# 2021 style on purpose: Depends(...) in argument defaults and typing.List / typing.Dict.
# ruff: noqa: B008, UP006, UP035

import os
import uuid
from datetime import datetime, timedelta
from typing import Any, Callable, Dict, Iterator, List

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, constr, validator
from pydantic.errors import DictError
from sqlalchemy import BigInteger, Column, DateTime, String, create_engine, func, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, declarative_base, sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

MAX_ID = 2**63 - 1  # the id column is a PostgreSQL bigint
# The contract's email pattern as pydantic 2 (Rust regex) reads it, in Python's re: `\s` is
# Unicode White_Space (Python's `\s` adds U+001C..U+001F), and `\Z`, as `$` in Python also
# matches before a final newline.
WHITE_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
EMAIL_PATTERN = f"^[^@{WHITE_SPACE}]+@[^@{WHITE_SPACE}]+\\.[^@{WHITE_SPACE}]+\\Z"
CONTRACT_EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"  # as main.py and the contract spell it

engine = create_engine(
    make_url(os.environ["DATABASE_URL"]).set(drivername="postgresql+psycopg2"),
    pool_size=int(os.environ.get("POOL_SIZE", "5")),
    max_overflow=int(os.environ.get("MAX_OVERFLOW", "10")),
    pool_timeout=float(os.environ.get("POOL_TIMEOUT", "30")),
    pool_pre_ping=os.environ.get("POOL_PRE_PING", "0") == "1",
)
SessionLocal = sessionmaker(autocommit=False, autoflush=False, bind=engine,
                            expire_on_commit=False)

Base = declarative_base()


class User(Base):
    __tablename__ = "users"

    id = Column(BigInteger, primary_key=True)
    name = Column(String(100), nullable=False)
    email = Column(String(254), unique=True, nullable=False)
    created_at = Column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class UserCreate(BaseModel):
    # strict: pydantic 1 would otherwise turn 1 or True into "1" / "True" and store them.
    name: constr(strict=True, min_length=1, max_length=100)
    email: constr(strict=True, min_length=3, max_length=254, regex=EMAIL_PATTERN)

    @classmethod
    def validate(cls, value: Any) -> "UserCreate":
        # pydantic 1 calls dict() on whatever it gets, so [] would be an empty object.
        if not isinstance(value, (dict, cls)):
            raise DictError()
        return super().validate(value)

    @validator("name", "email")
    def storable(cls, value: str) -> str:
        # PostgreSQL text cannot hold NUL, and lone surrogates cannot be encoded as UTF-8.
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("must be valid Unicode") from None
        return value


def iso_datetime(value: datetime) -> str:
    # pydantic 2 writes a zero UTC offset as "Z" (the contract's format); pydantic 1, "+00:00".
    text = value.isoformat()
    return text[:-6] + "Z" if value.utcoffset() == timedelta(0) else text


class UserOut(BaseModel):
    id: int
    name: str
    email: str
    created_at: datetime

    class Config:
        orm_mode = True
        json_encoders = {datetime: iso_datetime}  # noqa: RUF012 — pydantic 1 reads a class dict


def is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/")
                                            and media.endswith("+json"))


class ContractRequest(Request):
    async def json(self) -> Any:
        # FastAPI 0.63 parses every body as JSON; the contract parses JSON content types only
        # and validates any other body as it is (the model then refuses it as a non-object).
        if not is_json(self.headers.get("content-type", "")):
            return await self.body()
        body = await super().json()
        # FastAPI 0.63 takes a JSON null for a missing body; the contract, for a non-object.
        return await self.body() if body is None else body


class ContractRoute(APIRoute):
    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Any:
            return await handler(ContractRequest(request.scope, request.receive))

        return route_handler


# Only the contract's routes: no /docs, /redoc or /openapi.json (contract/openapi.yaml is the doc).
app = FastAPI(title="users", openapi_url=None, docs_url=None, redoc_url=None)
app.router.route_class = ContractRoute
app.router.redirect_slashes = False


# pydantic 1 error type -> (the contract's type, its message; {} fields come from the context)
ERRORS: Dict[str, tuple] = {
    "value_error.missing": ("missing", "Field required"),
    "type_error.none.not_allowed": ("string_type", "Input should be a valid string"),  # null
    "type_error.integer": ("int_parsing",
                           "Input should be a valid integer, unable to parse string as an integer"),
    "value_error.number.not_ge": ("greater_than_equal",
                                  "Input should be greater than or equal to {limit_value}"),
    "value_error.number.not_le": ("less_than_equal",
                                  "Input should be less than or equal to {limit_value}"),
    "type_error.str": ("string_type", "Input should be a valid string"),
    "value_error.any_str.min_length": ("string_too_short",
                                       "String should have at least {limit_value} character{s}"),
    "value_error.any_str.max_length": ("string_too_long",
                                       "String should have at most {limit_value} characters"),
    "value_error.str.regex": ("string_pattern_mismatch",
                              f"String should match pattern '{CONTRACT_EMAIL_PATTERN}'"),
    "type_error.dict": ("model_attributes_type",
                        "Input should be a valid dictionary or object to extract fields from"),
    "value_error.jsondecode": ("json_invalid", "JSON decode error"),
}
UNICODE_ERROR = ("string_unicode",
                 "Input should be a valid string, unable to parse raw data as a unicode string")


def contract_error(error: Dict[str, Any]) -> Dict[str, Any]:
    kind, msg = error["type"], error["msg"]
    if kind == "value_error" and msg == "must be valid Unicode":
        kind, msg = UNICODE_ERROR
    elif kind == "value_error":
        msg = f"Value error, {msg}"
    elif kind in ERRORS:
        ctx = error.get("ctx", {})
        kind, template = ERRORS[kind]
        msg = template.format(s="" if ctx.get("limit_value") == 1 else "s", **ctx)
    return {"type": kind, "loc": list(error["loc"]), "msg": msg}


@app.exception_handler(StarletteHTTPException)
async def http_exception_handler(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    headers = getattr(exc, "headers", None) or {}
    if exc.status_code == 405:
        # Starlette 0.13 answers 405 without the Allow header (later versions add it): the
        # methods of the first route matching the path, as they list them.
        for route in request.app.router.routes:
            if route.matches(request.scope)[0] == Match.PARTIAL:
                headers = {"Allow": ", ".join(sorted(route.methods))}
                break
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)


@app.exception_handler(RequestValidationError)
async def validation_exception_handler(request: Request,
                                       exc: RequestValidationError) -> JSONResponse:
    # The contract's error shape: type, loc, msg — never echo the rejected input back.
    return JSONResponse({"detail": [contract_error(e) for e in exc.errors()]}, status_code=422)


# Dependency
def get_db() -> Iterator[Session]:
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()


@app.on_event("shutdown")
def dispose_engine() -> None:
    engine.dispose()


@app.get("/health")
def health(db: Session = Depends(get_db)):
    try:
        db.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError):
        raise HTTPException(status_code=503, detail="Database unavailable") from None
    return {"status": "ok"}


@app.get("/users", response_model=List[UserOut])
def read_users(
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=MAX_ID),
    db: Session = Depends(get_db),
):
    return db.query(User).order_by(User.id).limit(limit).offset(offset).all()


@app.post("/users", response_model=UserOut, status_code=201)
def create_user(user: UserCreate, db: Session = Depends(get_db)):
    db_user = User(name=user.name, email=user.email)
    db.add(db_user)
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        raise HTTPException(status_code=409, detail="Email already registered") from None
    db.refresh(db_user)
    return db_user


@app.get("/users/insert-data-to-test", response_model=UserOut)
def insert_data_to_test(db: Session = Depends(get_db)):
    # The original load test's write endpoint: one generated, unique user per request.
    token = uuid.uuid4().hex
    db_user = User(name=f"user-{token}", email=f"{token}@example.com")
    db.add(db_user)
    db.commit()
    db.refresh(db_user)
    return db_user


@app.get("/users/{user_id}", response_model=UserOut)
def read_user(user_id: int = Path(..., ge=1, le=MAX_ID), db: Session = Depends(get_db)):
    db_user = db.query(User).get(user_id)
    if db_user is None:
        raise HTTPException(status_code=404, detail="User not found")
    return db_user

"""Users service: FastAPI with plain def endpoints, a sync SQLAlchemy Session and psycopg2."""

import os
import uuid
from collections.abc import Iterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated

from anyio import to_thread
from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy import BigInteger, DateTime, String, create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

MAX_ID = 2**63 - 1  # the id column is a PostgreSQL bigint

engine = create_engine(
    make_url(os.environ["DATABASE_URL"]).set(drivername="postgresql+psycopg2"),
    pool_size=int(os.environ.get("POOL_SIZE", "5")),
    max_overflow=int(os.environ.get("MAX_OVERFLOW", "10")),
    pool_timeout=float(os.environ.get("POOL_TIMEOUT", "30")),
    # Off by default, as in SQLAlchemy and in most services: docs/faults.md measures both.
    pool_pre_ping=os.environ.get("POOL_PRE_PING", "0") == "1",
)
SessionLocal = sessionmaker(engine, expire_on_commit=False)
# "early": each endpoint builds its response model and closes its session before returning, so
# that FastAPI's response validation (another threadpool hop) holds no pooled connection; the
# mitigation of the pool deadlock measured by the `mitigations` scenario. Default: "dependency",
# the session closes when its dependency exits, as FastAPI's tutorial does it.
EARLY_RELEASE = os.environ.get("SESSION_RELEASE", "dependency") == "early"


class Base(DeclarativeBase):
    pass


class User(Base):
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


@asynccontextmanager
async def lifespan(app: FastAPI):
    # def endpoints and dependencies run on AnyIO's thread limiter (default 40 threads).
    to_thread.current_default_thread_limiter().total_tokens = int(
        os.environ.get("THREADPOOL_SIZE", "40"))
    yield
    engine.dispose()


# Only the contract's routes: no /docs, /redoc or /openapi.json (contract/openapi.yaml is the doc).
app = FastAPI(title="users", lifespan=lifespan, redirect_slashes=False, openapi_url=None)


@app.exception_handler(RequestValidationError)
async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    # The contract's error shape: type, loc, msg — never echo the rejected input back.
    errors = [{"type": e["type"], "loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
    return JSONResponse({"detail": errors}, status_code=422)


def get_session() -> Iterator[Session]:
    with SessionLocal() as session:
        yield session


DbSession = Annotated[Session, Depends(get_session)]


def released(session: Session, value: User) -> User | UserOut:
    """The response; with SESSION_RELEASE=early, already a UserOut and the connection back in
    the pool."""
    if not EARLY_RELEASE:
        return value
    out = UserOut.model_validate(value)
    session.close()
    return out


@app.get("/health")
def health(session: DbSession) -> dict[str, str]:
    try:
        session.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError):
        raise HTTPException(503, "Database unavailable") from None
    return {"status": "ok"}


@app.get("/users")
def list_users(
    session: DbSession,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> list[UserOut]:
    users = session.scalars(select(User).order_by(User.id).limit(limit).offset(offset)).all()
    if not EARLY_RELEASE:
        return users
    out = [UserOut.model_validate(u) for u in users]
    session.close()
    return out


@app.post("/users", status_code=201)
def create_user(payload: UserCreate, session: DbSession) -> UserOut:
    user = User(name=payload.name, email=payload.email)
    session.add(user)
    try:
        session.commit()
    except IntegrityError:
        raise HTTPException(409, "Email already registered") from None
    session.refresh(user)
    return released(session, user)


@app.get("/users/insert-data-to-test")
def insert_data_to_test(session: DbSession) -> UserOut:
    # The original load test's write endpoint: one generated, unique user per request.
    token = uuid.uuid4().hex
    user = User(name=f"user-{token}", email=f"{token}@example.com")
    session.add(user)
    session.commit()
    session.refresh(user)
    return released(session, user)


@app.get("/users/{user_id}")
def get_user(user_id: Annotated[int, Path(ge=1, le=MAX_ID)], session: DbSession) -> UserOut:
    user = session.get(User, user_id)
    if user is None:
        raise HTTPException(404, "User not found")
    return released(session, user)

"""Users service: FastAPI with async def endpoints, SQLAlchemy AsyncSession and asyncpg."""

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated

from anyio import to_thread
from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy import BigInteger, DateTime, String, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

MAX_ID = 2**63 - 1  # the id column is a PostgreSQL bigint

engine = create_async_engine(
    make_url(os.environ["DATABASE_URL"]).set(drivername="postgresql+asyncpg"),
    pool_size=int(os.environ.get("POOL_SIZE", "5")),
    max_overflow=int(os.environ.get("MAX_OVERFLOW", "10")),
    pool_timeout=float(os.environ.get("POOL_TIMEOUT", "30")),
    # Off by default, as in SQLAlchemy and in most services: docs/faults.md measures both.
    pool_pre_ping=os.environ.get("POOL_PRE_PING", "0") == "1",
)
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)


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
    # FastAPI runs sync code on AnyIO's thread limiter; size it like the other apps' settings.
    to_thread.current_default_thread_limiter().total_tokens = int(
        os.environ.get("THREADPOOL_SIZE", "40"))
    yield
    await engine.dispose()


# Only the contract's routes: no /docs, /redoc or /openapi.json (contract/openapi.yaml is the doc).
app = FastAPI(title="users", lifespan=lifespan, redirect_slashes=False, openapi_url=None)


@app.exception_handler(RequestValidationError)
async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    # The contract's error shape: type, loc, msg — never echo the rejected input back.
    errors = [{"type": e["type"], "loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
    return JSONResponse({"detail": errors}, status_code=422)


async def get_session() -> AsyncIterator[AsyncSession]:
    async with SessionLocal() as session:
        yield session


Session = Annotated[AsyncSession, Depends(get_session)]


@app.get("/health")
async def health(session: Session) -> dict[str, str]:
    try:
        await session.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError):
        raise HTTPException(503, "Database unavailable") from None
    return {"status": "ok"}


@app.get("/users")
async def list_users(
    session: Session,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> list[UserOut]:
    result = await session.scalars(select(User).order_by(User.id).limit(limit).offset(offset))
    return result.all()


@app.post("/users", status_code=201)
async def create_user(payload: UserCreate, session: Session) -> UserOut:
    user = User(name=payload.name, email=payload.email)
    session.add(user)
    try:
        await session.commit()
    except IntegrityError:
        raise HTTPException(409, "Email already registered") from None
    await session.refresh(user)
    return user


@app.get("/users/insert-data-to-test")
async def insert_data_to_test(session: Session) -> UserOut:
    # The original load test's write endpoint: one generated, unique user per request.
    token = uuid.uuid4().hex
    user = User(name=f"user-{token}", email=f"{token}@example.com")
    session.add(user)
    await session.commit()
    await session.refresh(user)
    return user


@app.get("/users/{user_id}")
async def get_user(user_id: Annotated[int, Path(ge=1, le=MAX_ID)], session: Session) -> UserOut:
    user = await session.get(User, user_id)
    if user is None:
        raise HTTPException(404, "User not found")
    return user

"""Item storage (in memory or PostgreSQL) and the Redis view counter."""

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Protocol

import asyncpg
import structlog
from pydantic import BaseModel, Field, StringConstraints
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

CONNECT_TIMEOUT_S = 2.0

logger = structlog.stdlib.get_logger(__name__)


def _trimmed_text(max_length: int) -> StringConstraints:
    """Text stripped of surrounding blanks, then 1..max_length characters long.

    min_length/max_length would reach the OpenAPI schema as limits on the raw text, before
    stripping: "   " would look valid and " " + "x" * 100 too long. The pattern says what the
    validator does (blanks around, then 1..max_length characters, first and last not blank),
    so schema and behaviour agree; pydantic checks it on the stripped text, which it also fits.
    """
    pattern = rf"^\s*\S(?:[\s\S]{{0,{max_length - 2}}}\S)?\s*$"
    return StringConstraints(strip_whitespace=True, pattern=pattern)


Tag = Annotated[str, _trimmed_text(50)]


class ItemCreate(BaseModel):
    name: Annotated[str, _trimmed_text(100)]
    price: float = Field(gt=0, allow_inf_nan=False)
    tags: list[Tag] = Field(default_factory=list, max_length=20)


class Item(BaseModel):
    id: int
    name: str
    price: float
    tags: list[str]


SEED_ITEMS = (
    ItemCreate(name="Taza de cerámica", price=8.5, tags=["cocina"]),
    ItemCreate(name="Cuaderno de notas", price=4.25, tags=["papelería"]),
    ItemCreate(name="Auriculares inalámbricos", price=59.9, tags=["electrónica", "audio"]),
)


class StorageUnavailableError(RuntimeError):
    """The item store cannot be reached right now."""


class ItemRepository(Protocol):
    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def list_items(self) -> list[Item]: ...
    async def get_item(self, item_id: int) -> Item | None: ...
    async def add_item(self, data: ItemCreate) -> Item: ...
    async def count(self) -> int: ...


class InMemoryItemRepository:
    """Per-process store: fine for a demo, lost on restart, not shared by replicas."""

    def __init__(self) -> None:
        self._items: dict[int, Item] = {}
        self._ids = itertools.count(1)

    async def open(self) -> None:
        if not self._items:
            for seed in SEED_ITEMS:
                await self.add_item(seed)

    async def close(self) -> None:
        """Nothing to release."""

    async def list_items(self) -> list[Item]:
        return list(self._items.values())

    async def get_item(self, item_id: int) -> Item | None:
        return self._items.get(item_id)

    async def add_item(self, data: ItemCreate) -> Item:
        item = Item(id=next(self._ids), **data.model_dump())
        self._items[item.id] = item
        return item

    async def count(self) -> int:
        return len(self._items)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name TEXT NOT NULL,
    price DOUBLE PRECISION NOT NULL CHECK (price > 0),
    tags TEXT[] NOT NULL DEFAULT '{}'
)
"""
# Serialises schema creation and seeding when several replicas start at once.
_SCHEMA_LOCK_KEY = 4_202_601
# Errors that mean "the database is unreachable", not "the query is wrong".
_UNAVAILABLE_ERRORS = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.InvalidAuthorizationSpecificationError,
    asyncpg.InvalidCatalogNameError,
    asyncpg.TooManyConnectionsError,
)


class PostgresItemRepository:
    """Shared store. Connects lazily so the app starts (not ready) while PostgreSQL is down."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._pool: asyncpg.Pool | None = None
        self._prepared = False
        self._prepare_lock = asyncio.Lock()

    async def open(self) -> None:
        # min_size=0: creating the pool opens no connection yet.
        self._pool = await asyncpg.create_pool(
            self._dsn, min_size=0, max_size=5, timeout=CONNECT_TIMEOUT_S, command_timeout=5
        )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        self._prepared = False

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.Connection]:
        if self._pool is None:
            raise StorageUnavailableError("El repositorio de PostgreSQL no está abierto.")
        try:
            async with self._pool.acquire(timeout=CONNECT_TIMEOUT_S) as connection:
                await self._prepare(connection)
                yield connection
        except _UNAVAILABLE_ERRORS as exc:
            raise StorageUnavailableError(f"PostgreSQL no está disponible: {exc}") from exc

    async def _prepare(self, connection: asyncpg.Connection) -> None:
        if self._prepared:
            return
        async with self._prepare_lock:
            if self._prepared:
                return
            async with connection.transaction():
                await connection.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK_KEY)
                await connection.execute(_SCHEMA)
                if not await connection.fetchval("SELECT EXISTS (SELECT 1 FROM items)"):
                    await connection.executemany(
                        "INSERT INTO items (name, price, tags) VALUES ($1, $2, $3)",
                        [(seed.name, seed.price, seed.tags) for seed in SEED_ITEMS],
                    )
            self._prepared = True

    async def ping(self) -> None:
        async with self._connection() as connection:
            await connection.fetchval("SELECT 1")

    async def list_items(self) -> list[Item]:
        async with self._connection() as connection:
            rows = await connection.fetch("SELECT id, name, price, tags FROM items ORDER BY id")
        return [Item(**dict(row)) for row in rows]

    async def get_item(self, item_id: int) -> Item | None:
        async with self._connection() as connection:
            row = await connection.fetchrow(
                "SELECT id, name, price, tags FROM items WHERE id = $1", item_id
            )
        return Item(**dict(row)) if row else None

    async def add_item(self, data: ItemCreate) -> Item:
        async with self._connection() as connection:
            row = await connection.fetchrow(
                "INSERT INTO items (name, price, tags) VALUES ($1, $2, $3)"
                " RETURNING id, name, price, tags",
                data.name,
                data.price,
                data.tags,
            )
        return Item(**dict(row))

    async def count(self) -> int:
        async with self._connection() as connection:
            return await connection.fetchval("SELECT count(*) FROM items")


class RedisViewCounter:
    """Counts item views in Redis; a Redis outage only loses the count."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._client: Redis | None = None

    async def open(self) -> None:
        # One immediate retry covers a stale pooled connection without
        # stretching a real outage past the probe timeout.
        self._client = Redis.from_url(
            self._url,
            socket_connect_timeout=CONNECT_TIMEOUT_S,
            socket_timeout=CONNECT_TIMEOUT_S,
            retry=Retry(NoBackoff(), retries=1),
        )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def ping(self) -> None:
        if self._client is None:
            raise RedisError("El cliente de Redis no está abierto.")
        await self._client.ping()

    async def increment(self, item_id: int) -> int | None:
        if self._client is None:
            return None
        try:
            return await self._client.incr(f"catalogo:item:{item_id}:vistas")
        except RedisError as exc:
            logger.warning("contador_de_vistas_no_disponible", item_id=item_id, motivo=str(exc))
            return None

"""Application factory: wires settings, logging, storage, metrics and routes."""

import logging
import platform
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse

from app.config import Settings, load_settings
from app.errors import UNPARSABLE_BODY, error, method_not_allowed, unparsable_body
from app.faults import FaultInjector, inject_faults
from app.health import Check
from app.health import router as health_router
from app.logging_config import configure_logging
from app.metrics import Metrics, create_metrics, instrument
from app.middleware import RequestIdMiddleware
from app.repository import (
    InMemoryItemRepository,
    Item,
    ItemCreate,
    ItemRepository,
    PostgresItemRepository,
    RedisViewCounter,
    StorageUnavailableError,
)

logger = structlog.stdlib.get_logger(__name__)


class ItemWithViews(Item):
    vistas: int | None = None


# Async on purpose: FastAPI runs a plain `def` dependency in a worker thread, which
# costs a thread hop on every request for what is only an attribute lookup.
async def _repository(request: Request) -> ItemRepository:
    return request.app.state.repository


async def _metrics(request: Request) -> Metrics:
    return request.app.state.metrics


Repository = Annotated[ItemRepository, Depends(_repository)]
AppMetrics = Annotated[Metrics, Depends(_metrics)]

# Errors any /items route may answer: injected faults and an unreachable database.
ITEMS_ERRORS: dict[int | str, dict] = {
    500: error("Fallo simulado por la inyección de fallos (FAULT_ERROR_RATE)."),
    503: error("El almacenamiento (PostgreSQL) no está disponible en este momento."),
}

items_router = APIRouter(
    prefix="/items",
    tags=["artículos"],
    dependencies=[Depends(inject_faults)],
    responses=ITEMS_ERRORS,
)


@items_router.get("")
async def list_items(repository: Repository) -> list[Item]:
    return await repository.list_items()


@items_router.post("", status_code=201, responses={400: UNPARSABLE_BODY})
async def create_item(
    data: ItemCreate, repository: Repository, metrics: AppMetrics, response: Response
) -> Item:
    item = await repository.add_item(data)
    metrics.items_created.inc()
    metrics.items_in_catalogue.set(await repository.count())
    response.headers["Location"] = f"/items/{item.id}"
    logger.info("item_creado", item_id=item.id)
    return item


@items_router.get("/{item_id}", responses={404: error("No existe ningún artículo con ese id.")})
async def get_item(item_id: int, repository: Repository, request: Request) -> ItemWithViews:
    item = await repository.get_item(item_id)
    if item is None:
        raise HTTPException(status_code=404, detail=f"No existe ningún artículo con id {item_id}.")
    view_counter: RedisViewCounter | None = request.app.state.view_counter
    views = await view_counter.increment(item_id) if view_counter else None
    return ItemWithViews(**item.model_dump(), vistas=views)


async def _storage_unavailable(request: Request, exc: Exception) -> JSONResponse:
    logger.warning("almacenamiento_no_disponible", motivo=str(exc))
    return JSONResponse(
        {"detail": "El almacenamiento no está disponible en este momento."}, status_code=503
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    configure_logging(settings.log_level, settings.json_logs,
                      service=settings.service_name, version=settings.app_version)
    # Not a configure_logging() argument: lab 07 has students write that function.
    access = logging.getLogger("uvicorn.access")
    access.disabled = not settings.access_log
    # Off at the source, as uvicorn's --no-access-log does: uvicorn builds the line (client
    # address, quoted path) whenever the logger has a handler to reach, even a disabled one.
    access.propagate = settings.access_log

    checks: dict[str, Check] = {}
    repository: ItemRepository
    if settings.database_url:
        postgres = PostgresItemRepository(settings.database_url)
        checks["postgresql"] = postgres.ping
        repository = postgres
    else:
        repository = InMemoryItemRepository()
    view_counter = RedisViewCounter(settings.redis_url) if settings.redis_url else None
    if view_counter:
        checks["redis"] = view_counter.ping
    metrics = create_metrics(settings.service_name, settings.app_version)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await repository.open()
        if view_counter:
            await view_counter.open()
        try:
            metrics.items_in_catalogue.set(await repository.count())
        except StorageUnavailableError as exc:
            # Start anyway: readiness reports it until the database is back.
            logger.warning("almacenamiento_no_disponible", motivo=str(exc))
        logger.info(
            "servicio_iniciado",
            servicio=settings.service_name,
            version=settings.app_version,
            entorno=settings.environment,
            dependencias=sorted(checks),
        )
        try:
            yield
        finally:
            if view_counter:
                await view_counter.close()
            await repository.close()
            logger.info("servicio_detenido")

    app = FastAPI(
        title=f"Servicio {settings.service_name}",
        version=settings.app_version,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.repository = repository
    app.state.view_counter = view_counter
    app.state.metrics = metrics
    app.state.readiness_checks = checks
    app.state.faults = FaultInjector(settings.fault_error_rate, settings.fault_extra_latency_ms)

    @app.get("/")
    async def root() -> dict[str, str]:
        return {
            "servicio": settings.service_name,
            "version": settings.app_version,
            "entorno": settings.environment,
        }

    @app.get("/version")
    async def version() -> dict[str, str]:
        return {
            "version": settings.app_version,
            "servicio": settings.service_name,
            "python": platform.python_version(),
        }

    app.include_router(health_router)
    app.include_router(items_router)
    app.add_exception_handler(StorageUnavailableError, _storage_unavailable)
    app.add_exception_handler(400, unparsable_body)
    app.add_exception_handler(405, method_not_allowed)
    instrument(app, metrics)
    # Added last so it is the outermost middleware and wraps everything else.
    app.add_middleware(RequestIdMiddleware)
    return app


app = create_app()

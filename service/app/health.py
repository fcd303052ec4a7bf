"""Liveness and readiness probes."""

import asyncio
from collections.abc import Awaitable, Callable

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

CHECK_TIMEOUT_S = 2.0

Check = Callable[[], Awaitable[object]]

logger = structlog.stdlib.get_logger(__name__)
router = APIRouter(prefix="/health", tags=["salud"])


async def _failure_reason(check: Check) -> str | None:
    """Run one dependency check; return why it failed, or None if it passed."""
    try:
        await asyncio.wait_for(check(), timeout=CHECK_TIMEOUT_S)
    except TimeoutError:
        return f"sin respuesta en {CHECK_TIMEOUT_S:g} s"
    except Exception as exc:  # any error at all means the dependency is not usable
        return str(exc) or type(exc).__name__
    return None


async def readiness(checks: dict[str, Check], forced_failure: bool) -> tuple[bool, dict]:
    """Check every configured dependency concurrently."""
    reasons = await asyncio.gather(*(_failure_reason(check) for check in checks.values()))
    dependencies = {}
    for name, reason in zip(checks, reasons, strict=True):
        if reason is None:
            dependencies[name] = {"estado": "ok"}
        else:
            dependencies[name] = {"estado": "error", "motivo": reason}
            logger.warning("dependencia_no_disponible", dependencia=name, motivo=reason)
    body: dict = {"estado": "listo", "dependencias": dependencies}
    ready = not forced_failure and all(reason is None for reason in reasons)
    if not ready:
        body["estado"] = "no_listo"
    if forced_failure:
        body["motivo"] = "Fallo de disponibilidad inyectado con FAULT_READINESS_FAIL."
    return ready, body


@router.get("/live")
async def live() -> dict[str, str]:
    # Only says the process answers; dependencies belong to readiness.
    return {"estado": "vivo"}


@router.get(
    "/ready",
    responses={503: {"description": "Alguna dependencia no responde o se inyectó el fallo; "
                                    "el cuerpo dice cuál y por qué."}},
)
async def ready(request: Request) -> JSONResponse:
    state = request.app.state
    is_ready, body = await readiness(state.readiness_checks, state.settings.fault_readiness_fail)
    return JSONResponse(body, status_code=200 if is_ready else 503)

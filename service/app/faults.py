"""Fault injection for the /items routes, driven by the FAULT_* settings."""

import asyncio
import random
from collections.abc import Callable

import structlog
from fastapi import HTTPException, Request

logger = structlog.stdlib.get_logger(__name__)


class FaultInjector:
    def __init__(
        self,
        error_rate: float = 0.0,
        extra_latency_ms: int = 0,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.error_rate = error_rate
        self.extra_latency_ms = extra_latency_ms
        self._rng = rng  # injectable so tests are deterministic

    async def apply(self) -> None:
        if self.extra_latency_ms:
            await asyncio.sleep(self.extra_latency_ms / 1000)
        if self._rng() < self.error_rate:
            logger.warning("fallo_inyectado", error_rate=self.error_rate)
            raise HTTPException(status_code=500, detail="Error simulado por inyección de fallos.")


async def inject_faults(request: Request) -> None:
    """FastAPI dependency for the routes that faults may affect."""
    await request.app.state.faults.apply()

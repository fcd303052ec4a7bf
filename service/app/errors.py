"""The error body every route returns, and the 405 answer that lists every allowed method."""

from fastapi import Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.routing import Match


class ErrorResponse(BaseModel):
    """Shape of FastAPI's HTTPException body, documented so the contract names every error."""

    detail: str = Field(description="Motivo del error, en una frase legible.")


def error(description: str) -> dict:
    """One entry of a route's `responses=`: an error status with its cause in Spanish."""
    return {"model": ErrorResponse, "description": description}


# Request body that is not JSON at all (or not UTF-8): FastAPI answers 400 before validating.
UNPARSABLE_BODY = error("El cuerpo no es JSON válido (no se pudo leer).")
# The detail FastAPI itself gives that 400 (fastapi/routing.py raises Starlette's
# HTTPException, not FastAPI's subclass), in English.
_FASTAPI_PARSE_ERROR = "There was an error parsing the body"


async def unparsable_body(request: Request, exc: Exception) -> Response:
    # Same status and shape as FastAPI's own answer, in the service's language; any other
    # 400 a route raises keeps its own detail.
    if isinstance(exc, HTTPException) and exc.detail == _FASTAPI_PARSE_ERROR:
        exc = HTTPException(400, detail=UNPARSABLE_BODY["description"], headers=exc.headers)
    return await http_exception_handler(request, exc)  # type: ignore[arg-type]


_HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")


async def method_not_allowed(request: Request, _: Exception) -> JSONResponse:
    # Starlette answers 405 from the first route whose path matches, so `Allow` lists only
    # that route's methods (GET for /items, which POST also serves). Ask the router, with
    # its own matching (included routers too), which methods would reach a route here.
    methods = [
        method
        for method in _HTTP_METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL
            for route in request.app.router.routes
        )
    ]
    return JSONResponse(
        {"detail": "Método no permitido en esta ruta."},
        status_code=405,
        headers={"Allow": ", ".join(methods)},
    )

"""Pure ASGI middleware that gives every request an id and logs one access event.

At INFO a request leaves one line, ``peticion_terminada`` (method, path, status, duration,
client and request id), the usual choice in production; ``peticion_iniciada`` exists at
DEBUG to see where a request that never finishes got stuck. Uvicorn's own access line
(ACCESS_LOG=true) would repeat the same facts at about twice the cost of this one."""

import logging
import random
import re
import time

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "X-Request-ID"
_HEADER_KEY = REQUEST_ID_HEADER.lower().encode("latin-1")  # ASGI header names are lowercase
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")

logger = structlog.stdlib.get_logger(__name__)
# The 500 sent for an unhandled exception, as Starlette's ServerErrorMiddleware sends it.
_INTERNAL_ERROR_START: Message = {
    "type": "http.response.start",
    "status": 500,
    "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"21")],
}
_INTERNAL_ERROR_BODY: Message = {"type": "http.response.body", "body": b"Internal Server Error"}


def _request_id(scope: Scope) -> str:
    for key, value in scope["headers"]:
        if key == _HEADER_KEY:
            candidate = value.decode("latin-1")
            if _VALID_REQUEST_ID.fullmatch(candidate):
                return candidate
            break
    # 32 hex digits like uuid4().hex, without a system call: a correlation id needs to be
    # unique, not secret (clients may send their own anyway).
    return f"{random.getrandbits(128):032x}"


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # A concrete logger, built once when the app builds its middleware (after
        # configure_logging): the module's lazy proxy would rebuild one on every call.
        self.log = logger.bind()
        # Decided once too: a DEBUG call that writes nothing still builds its arguments.
        self.debug_enabled = self.log.is_enabled_for(logging.DEBUG)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        request_id = _request_id(scope)
        # A pipelined request's task is created inside the previous request's `send` and
        # copies its context: start clean so nothing the previous handler bound leaks in.
        structlog.contextvars.clear_contextvars()
        # Only the id goes into the context: every line of the request must carry it, and
        # each bound key is merged into every line. Method, path and client are facts of
        # the request's own lines (start, error, end), passed to those calls.
        structlog.contextvars.bind_contextvars(request_id=request_id)
        client = scope.get("client")  # (host, port); None over some transports
        request = {"http_method": scope["method"], "http_path": scope["path"],
                   "client_ip": client[0] if client else None}
        header_value = request_id.encode("latin-1")  # valid ids are ASCII
        status_code = 500
        response_started = False
        started = time.perf_counter_ns()

        async def send_with_request_id(message: Message) -> None:
            nonlocal status_code, response_started
            if message["type"] == "http.response.start":
                status_code = message["status"]
                response_started = True
                # What MutableHeaders(scope=message).append() does, minus its copy and checks.
                message["headers"] = [*message.get("headers", ()), (_HEADER_KEY, header_value)]
            # Uvicorn logs the access line inside this call, so it still sees
            # the request's context variables.
            await send(message)

        try:
            # DEBUG: at INFO one line per request (peticion_terminada) says it all.
            if self.debug_enabled:
                self.log.debug("peticion_iniciada", **request)
            await self.app(scope, receive, send_with_request_id)
        except Exception:
            self.log.exception("excepcion_no_controlada", **request)
            if not response_started:
                # Starlette's ServerErrorMiddleware, outside this one, would answer the 500
                # without the header: the client could not quote the id of its failure.
                # A copy: the wrapper sets the message's headers.
                await send_with_request_id(dict(_INTERNAL_ERROR_START))
                await send_with_request_id(_INTERNAL_ERROR_BODY)
            raise  # still raised: the server logs and counts it as usual
        finally:
            self.log.info(
                "peticion_terminada",
                **request,
                status_code=status_code,
                # Whole microseconds, in ms: round(x, 3) costs five times as much.
                duracion_ms=(time.perf_counter_ns() - started) // 1000 / 1000,
            )
            # No clear_contextvars() here: a pipelined request's task already has its copy,
            # and the line uvicorn writes for an unhandled exception, after this, needs the id.

"""Lab 07 end to end: the solution scores 100 %, the untouched lab fails cleanly, each
typical logging mistake is caught by its own check with a Spanish message, and a
different but valid solution also scores 100 %. Nothing here needs Docker: the grader
runs the student's service with uvicorn as a child process."""

import json
from datetime import UTC, datetime

import nbformat
import pytest

from course import REPO_ROOT
from grader.grade import grade
from tests.conftest import assert_full_marks

SOLUTION = REPO_ROOT / "solutions" / "lab07_logging.ipynb"
LAB = REPO_ROOT / "labs" / "lab07_logging.ipynb"


pytestmark = pytest.mark.usefixtures("graded_as_on_binder")  # see tests/conftest.py


def solution_file(variable: str) -> str:
    """The module that the solution's ``%%writefile "{VARIABLE}"`` cell writes."""
    for cell in nbformat.read(SOLUTION, as_version=4).cells:
        first, _, body = cell.source.partition("\n")
        if cell.cell_type == "code" and first.startswith("%%writefile") and variable in first:
            return body + "\n"
    raise AssertionError(f"La solución no escribe {variable}")


LOGGING_CONFIG = solution_file("LOGGING_CONFIG")
MIDDLEWARE = solution_file("MIDDLEWARE")


def replaced(text: str, old: str, new: str) -> str:
    assert old in text, f"la solución ya no contiene {old!r}: actualiza la variante"
    return text.replace(old, new)


def submit(tmp_path, logging_config: str = LOGGING_CONFIG, middleware: str = MIDDLEWARE):
    folder = tmp_path / "entrega-lab07"
    (folder / "app").mkdir(parents=True)
    (folder / "app" / "logging_config.py").write_text(logging_config)
    (folder / "app" / "middleware.py").write_text(middleware)
    return folder




@pytest.mark.slow
def test_solution_scores_everything():
    result = grade(SOLUTION)
    assert_full_marks(result, "lab07", 6)


@pytest.mark.slow  # a whole grading: the lab notebook runs in a kernel
def test_untouched_lab_fails_cleanly():
    result = grade(LAB)
    assert result.execution.status == "error_en_celda"
    assert "TU CÓDIGO AQUÍ" in result.execution.message
    assert result.score < 0.2 and not result.success
    assert "error" not in result.statuses().values()  # the grader itself did not break
    assert "app/middleware.py" in result.messages()["logs.json_stdout"]
    assert "NotImplementedError" in result.messages()["consola.desarrollo"]


# (name, logging_config, middleware, the check that must fail, words its message must contain)
VARIANTS = [
    ("sin_merge_contextvars",
     replaced(LOGGING_CONFIG, "        structlog.contextvars.merge_contextvars,\n", ""), MIDDLEWARE,
     "contexto.request_id", ("Ninguna línea lleva request_id", "merge_contextvars")),
    ("sin_foreign_pre_chain",
     replaced(LOGGING_CONFIG, "        foreign_pre_chain=shared,\n", ""), MIDDLEWARE,
     "logs.campos_estandar", ("sin «timestamp»", "sin «level»", "foreign_pre_chain")),
    ("contexto_sin_limpiar",
     LOGGING_CONFIG, replaced(MIDDLEWARE, "        structlog.contextvars.clear_contextvars()\n", ""),
     "contexto.aislado", ("pipelining", "heredó usuario_id", "clear_contextvars()")),
    ("contexto_global",
     replaced(replaced(LOGGING_CONFIG, "        structlog.contextvars.merge_contextvars,\n",
                       "        merge_global,\n"),
              "def drop_color_message",
              "CONTEXT = {}\n\n\ndef merge_global(_, __, event_dict):\n"
              "    return {**CONTEXT, **event_dict}\n\n\ndef drop_color_message"),
     replaced(replaced(replaced(MIDDLEWARE, "structlog.contextvars.bind_contextvars(", "CONTEXT.update("),
                       "structlog.contextvars.clear_contextvars()", "CONTEXT.clear()"),
              "import structlog\n", "import structlog\n\nfrom app.logging_config import CONTEXT\n"),
     "contexto.aislado", ("peticiones simultáneas", "contextvars")),
    ("salida_por_stderr",
     replaced(LOGGING_CONFIG, "logging.StreamHandler(sys.stdout)", "logging.StreamHandler()"),
     MIDDLEWARE, "logs.json_stdout", ("stderr", "StreamHandler(sys.stdout)")),
    ("texto_en_produccion",
     replaced(LOGGING_CONFIG, "        if json_logs\n", "        if False\n"), MIDDLEWARE,
     "logs.json_stdout", ("no son JSON", "JSONRenderer")),
    ("sin_redaccion",
     replaced(LOGGING_CONFIG, "            redact_secrets,\n", ""), MIDDLEWARE,
     "secretos.ocultos", ("en la consulta", "password")),
    ("sin_format_exc_info",
     replaced(LOGGING_CONFIG, "        [structlog.processors.format_exc_info,\n         structlog",
              "        [structlog"), MIDDLEWARE,
     "errores.traza", ("«exception»", "format_exc_info")),
    ("se_fia_de_la_cabecera",
     LOGGING_CONFIG, replaced(MIDDLEWARE, "VALID_REQUEST_ID.fullmatch(", "bool("),
     "contexto.id_validado", ("<script>", "política")),
    ("uvicorn_con_sus_manejadores",
     replaced(LOGGING_CONFIG,
              "        uvicorn_logger.handlers.clear()\n        uvicorn_logger.propagate = True\n", ""),
     MIDDLEWARE, "logs.stdlib_y_uvicorn", ("Application startup complete.", "propagate=True")),
    ("servicio_escrito_a_mano",
     replaced(LOGGING_CONFIG, "add_identity(service, version),", 'add_identity("catalogo", "1.0.0"),'),
     MIDDLEWARE, "logs.servicio_version", ("SERVICE_NAME=", "no escrito a mano")),
    ("servicio_solo_en_structlog",
     replaced(LOGGING_CONFIG, "        foreign_pre_chain=shared,\n",
              "        foreign_pre_chain=shared[:-1],\n"),
     MIDDLEWARE, "logs.servicio_version", ("no llevan «servicio»", "uvicorn")),
    ("redaccion_plana_de_la_leccion",  # the lesson's processor: top-level keys and texts only
     replaced(LOGGING_CONFIG, "    return redacted(event_dict)\n",
              "    for key, value in event_dict.items():\n"
              "        if SENSITIVE_KEY.search(key):\n"
              "            event_dict[key] = REDACTED\n"
              "        elif isinstance(value, str):\n"
              "            event_dict[key] = SECRET_IN_TEXT.sub(rf\"\\1={REDACTED}\", value)\n"
              "    return event_dict\n"),
     MIDDLEWARE, "secretos.anidados", ("cambios.credenciales.password", "a cualquier profundidad")),
    ("redaccion_que_borra_la_estructura",  # hides a whole nested value holding a secret
     replaced(LOGGING_CONFIG, "                else redacted(item) for key, item in value.items()}\n",
              "                else REDACTED if isinstance(item, (dict, list))\n"
              "                else redacted(item) for key, item in value.items()}\n"),
     MIDDLEWARE, "secretos.anidados", ("perdió lo que no es secreto",)),
    ("configuracion_que_se_acumula",
     replaced(LOGGING_CONFIG, "    for old in root.handlers[:]:\n        root.removeHandler(old)\n", ""),
     MIDDLEWARE, "logs.idempotente", ("sale 2 veces", "manejador")),
    ("duracion_en_segundos",
     LOGGING_CONFIG, replaced(MIDDLEWARE, "(time.perf_counter() - started) * 1000, 3)",
                              "time.perf_counter() - started, 3)"),
     "peticion.cierre", ("milisegundos",)),
    ("cierre_con_codigo_fijo",
     LOGGING_CONFIG, replaced(MIDDLEWARE, "                status_code=status_code,\n",
                              "                status_code=200,\n"),
     "peticion.cierre", ("GET /items/9999 (404)", "'status_code': 200", "el código que de verdad")),
    ("sin_linea_de_cierre",
     LOGGING_CONFIG, replaced(MIDDLEWARE, "            logger.info(\n                \"peticion_terminada\",\n"
                                          "                status_code=status_code,\n"
                                          "                duracion_ms=round((time.perf_counter() - started) * 1000, 3),\n"
                                          "            )\n", ""),
     "peticion.cierre", ("duracion_ms", "línea de cierre")),
    ("id_por_conexion",  # one id per connection, kept for the requests that follow on it
     LOGGING_CONFIG,
     replaced(MIDDLEWARE, "    if VALID_REQUEST_ID.fullmatch(candidate):\n        return candidate\n"
                          "    return uuid.uuid4().hex\n",
              "    client = tuple(scope.get(\"client\") or ())\n"
              "    if VALID_REQUEST_ID.fullmatch(candidate):\n"
              "        BY_CONNECTION[client] = candidate\n"
              "    return BY_CONNECTION.setdefault(client, uuid.uuid4().hex)\n\n\n"
              "BY_CONNECTION = {}\n"),
     "contexto.aislado", ("keep-alive", "nuevo en cada petición")),
    ("500_sin_cabecera",  # the lesson's middleware: Starlette answers the 500 on its own
     LOGGING_CONFIG,
     replaced(MIDDLEWARE, "            if not response_started:\n", "            if False:\n"),
     "errores.id_en_500", ("ServerErrorMiddleware", "X-Request-ID")),
    ("json_tambien_en_desarrollo",
     replaced(LOGGING_CONFIG, "        if json_logs\n", "        if True\n"), MIDDLEWARE,
     "consola.desarrollo", ("json_logs=False", "siguen saliendo líneas JSON", "ConsoleRenderer")),
]


# Each grading here starts the submitted service with uvicorn (~3 s): end to end, so out of
# the fast subset, which keeps two of them (the untouched lab, the mistakes that leave the
# other checks passing) to exercise this grader once.
@pytest.mark.slow
@pytest.mark.parametrize("name, logging_config, middleware, check_id, words", VARIANTS,
                         ids=[v[0] for v in VARIANTS])
def test_typical_mistake_is_caught(tmp_path, name, logging_config, middleware, check_id, words):
    result = grade(submit(tmp_path, logging_config, middleware), "lab07")
    assert result.execution.status == "no_ejecutado"
    assert result.statuses()[check_id] == "failed", result.to_markdown()
    for word in words:
        assert word in result.messages()[check_id], result.messages()[check_id]
    assert "error" not in result.statuses().values(), result.to_markdown()
    assert result.score < 1 and not result.success


BASE_HTTP_MIDDLEWARE = r'''"""The convenient wrong choice: BaseHTTPMiddleware runs the app in another task."""
import time
import uuid

import structlog
from starlette.middleware.base import BaseHTTPMiddleware

logger = structlog.stdlib.get_logger(__name__)


class RequestIdMiddleware(BaseHTTPMiddleware):
    async def dispatch(self, request, call_next):
        given = request.headers.get("X-Request-ID", "")
        ok = 0 < len(given) <= 128 and all(c.isascii() and (c.isalnum() or c in "._-") for c in given)
        request_id = given if ok else uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id, http_method=request.method,
                                               http_path=request.url.path)
        started = time.perf_counter()
        status_code = 500
        try:
            response = await call_next(request)
            status_code = response.status_code
            response.headers["X-Request-ID"] = request_id
            return response
        except Exception:
            logger.exception("excepcion_no_controlada")
            raise
        finally:
            logger.info("peticion_terminada", status_code=status_code,
                        duracion_ms=(time.perf_counter() - started) * 1000)
            structlog.contextvars.clear_contextvars()
'''


@pytest.mark.slow
def test_base_http_middleware_is_caught(tmp_path):
    result = grade(submit(tmp_path, LOGGING_CONFIG, BASE_HTTP_MIDDLEWARE), "lab07")
    assert result.statuses()["middleware.asgi_puro"] == "failed", result.to_markdown()
    assert "BaseHTTPMiddleware" in result.messages()["middleware.asgi_puro"]
    assert "error" not in result.statuses().values(), result.to_markdown()


@pytest.mark.slow
def test_structured_tracebacks_are_accepted(tmp_path):
    """dict_tracebacks (structlog's own advice for JSON) instead of format_exc_info."""
    config = replaced(LOGGING_CONFIG, "[structlog.processors.format_exc_info,",
                      "[structlog.processors.dict_tracebacks,")
    result = grade(submit(tmp_path, config), "lab07")
    assert result.statuses()["errores.traza"] == "passed", result.to_markdown()
    assert result.score == 1.0, result.to_markdown()


def test_mistakes_leave_the_other_checks_passing(tmp_path):
    """A context that is never cleared only costs the isolation check."""
    variant = next(v for v in VARIANTS if v[0] == "contexto_sin_limpiar")
    result = grade(submit(tmp_path, variant[1], variant[2]), "lab07")
    failed = [c.id for c in result.checks if c.status not in ("passed", "skipped")]
    assert failed == ["contexto.aislado"], result.to_markdown()
    # a directory is never executed: the notebook's own demo is not verifiable, never passed
    assert result.statuses()["seguimiento.demo"] == "skipped"


ALTERNATIVE_LOGGING_CONFIG = r'''"""Different but valid: dictConfig with a ProcessorFormatter factory, cached loggers,
another mask (a copy, by recursion over dicts and lists), structured tracebacks, a
callable class for the identity and ASCII-escaped JSON with spaces."""
import logging.config
import re

import structlog

_KEYS = {"password", "token", "authorization", "api_key", "secret"}
_IN_TEXT = re.compile(r"(password|token)=[^&\s\"]*", re.IGNORECASE)


class _Identity:
    def __init__(self, **fields):
        self.fields = fields

    def __call__(self, _, __, event_dict):
        return {**self.fields, **event_dict}


def _clean(value):
    if isinstance(value, str):
        return _IN_TEXT.sub(r"\1=***", value)
    if isinstance(value, dict):
        return {k: "***" if str(k).lower() in _KEYS else _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def _mask(_, __, event_dict):
    return _clean(event_dict)


def configure_logging(level, json_logs, *, service, version):
    _SHARED = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _Identity(servicio=service, version=version),
    ]
    final = ([structlog.processors.dict_tracebacks, structlog.processors.JSONRenderer()]
             if json_logs else [structlog.dev.ConsoleRenderer(colors=False)])
    logging.config.dictConfig({
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"estructurado": {
            "()": structlog.stdlib.ProcessorFormatter,
            "foreign_pre_chain": _SHARED,
            "processors": [structlog.stdlib.ProcessorFormatter.remove_processors_meta, _mask,
                           *final],
        }},
        "handlers": {"salida": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout",
                                "formatter": "estructurado"}},
        "root": {"handlers": ["salida"], "level": level},
        "loggers": {name: {"handlers": [], "propagate": True, "level": "NOTSET"}
                    for name in ("uvicorn", "uvicorn.error", "uvicorn.access")},
    })
    structlog.configure(
        processors=[*_SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
'''

ALTERNATIVE_MIDDLEWARE = r'''"""Different but valid: the context is reset when each request starts (and only then),
ids are uuid4 strings with dashes, exc_info=True instead of logger.exception, the closing
line's fields passed on the line instead of bound, the 500 sent with a Starlette response."""
import time
import uuid

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import PlainTextResponse

log = structlog.get_logger("app.middleware")


class RequestIdMiddleware:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        given = Headers(scope=scope).get("x-request-id", "")
        valid = given.isascii() and given.replace("-", "").isalnum() and len(given) <= 64
        request_id = given if valid else str(uuid.uuid4())
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        start = time.monotonic()
        status = [None]  # None until the response starts

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:
            log.error("unhandled_exception_in_request", exc_info=True)
            if status[0] is None:  # nothing sent yet: answer with the id ourselves
                await PlainTextResponse("Error interno", status_code=500)(scope, receive, send_wrapper)
            raise
        finally:
            log.info("request_finished", http_method=scope["method"], http_path=scope["path"],
                     status_code=status[0] or 500, duracion_ms=(time.monotonic() - start) * 1000)
'''


@pytest.mark.slow
def test_alternative_solution_scores_everything(tmp_path):
    result = grade(submit(tmp_path, ALTERNATIVE_LOGGING_CONFIG, ALTERNATIVE_MIDDLEWARE), "lab07")
    assert result.score == 1.0, result.to_markdown()
    assert result.execution.status == "no_ejecutado"


@pytest.mark.slow
def test_course_service_scores_everything(tmp_path):
    """The service's own files (structlog rendered natively with orjson, one line per
    request by default) are a valid answer too: the grader turns ACCESS_LOG on itself."""
    service_app = REPO_ROOT / "service" / "app"
    result = grade(submit(tmp_path, (service_app / "logging_config.py").read_text(),
                          (service_app / "middleware.py").read_text()), "lab07")
    assert result.score == 1.0, result.to_markdown()


# --- seguimiento.demo: what the notebook's task 3 saved (read from the work dir) -----------

def demo_context(tmp_path, data, status="ok", seconds=30.0):
    from grader.context import GradingContext
    from grader.runner import ExecutionReport
    if data is not None:
        (tmp_path / "seguimiento.json").write_text(json.dumps(data))
    return GradingContext("lab07", tmp_path, "t15-prueba", ExecutionReport(status, seconds=seconds))


def demo_data(**changes):
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    lines = [{"timestamp": now, "level": "info", "logger": "uvicorn.access", "request_id": "lab07-demo",
              "event": '127.0.0.1:5 - "GET /items/1 HTTP/1.1" 200'},
             {"timestamp": now, "level": "info", "logger": "app.middleware", "request_id": "lab07-demo",
              "event": "peticion_terminada", "http_method": "GET", "http_path": "/items/1",
              "status_code": 200, "duracion_ms": 1.2}]
    return {"id_devuelto": "lab07-demo", "id_generado": "0f" * 16, "lineas": lines, **changes}


def test_demo_file_is_checked(tmp_path):
    from grader.labs import lab07
    lab07.notebook_demo(demo_context(tmp_path, demo_data()))  # passes: no exception


@pytest.mark.parametrize("change, words", [
    ({"id_devuelto": None}, ("id_devuelto", "lab07-demo")),
    ({"id_generado": "lab07-demo"}, ("id_generado",)),
    ({"id_generado": "<b>x</b>"}, ("id_generado",)),
    ({"lineas": []}, ("lineas",)),
    ("otra_peticion", ("no son de la petición",)),
    ("antiguas", ("no se escribió durante esta ejecución",)),
    ("sin_cierre", ("línea de cierre",)),
    ("sin_fichero", ("No existe seguimiento.json",)),
], ids=["id_no_devuelto", "id_no_generado", "id_generado_invalido", "sin_lineas",
        "lineas_de_otra_peticion", "lineas_copiadas_antiguas", "sin_linea_de_cierre", "sin_fichero"])
def test_demo_file_mistakes_are_caught(tmp_path, change, words):
    from grader.labs import lab07
    data = demo_data()
    if change == "otra_peticion":
        data["lineas"].append({**data["lineas"][0], "request_id": "f" * 32})
    elif change == "antiguas":
        for line in data["lineas"]:
            line["timestamp"] = "2025-11-30T10:00:00.000000Z"
    elif change == "sin_cierre":
        data["lineas"] = data["lineas"][:1]
    elif change == "sin_fichero":
        data = None
    else:
        data.update(change)
    with pytest.raises(AssertionError) as caught:
        lab07.notebook_demo(demo_context(tmp_path, data))
    for word in words:
        assert word in str(caught.value), str(caught.value)


def test_demo_file_is_not_verifiable_for_a_directory(tmp_path):
    from grader.checks import NotVerifiable
    from grader.labs import lab07
    with pytest.raises(NotVerifiable):
        lab07.notebook_demo(demo_context(tmp_path, demo_data(), status="no_ejecutado"))

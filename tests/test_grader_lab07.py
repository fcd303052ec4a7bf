"""Lab 07 end to end: the solution scores 100 %, the untouched lab fails cleanly, each
typical logging mistake is caught by its own check with a Spanish message, and a
different but valid solution also scores 100 %. Nothing here needs Docker: the grader
runs the student's service with uvicorn as a child process."""

import nbformat
import pytest

from course import REPO_ROOT
from tests.conftest import assert_full_marks
from grader.grade import grade

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
     "contexto.id_validado", ("<script>", "VALID_REQUEST_ID")),
    ("uvicorn_con_sus_manejadores",
     replaced(LOGGING_CONFIG,
              "        uvicorn_logger.handlers.clear()\n        uvicorn_logger.propagate = True\n", ""),
     MIDDLEWARE, "logs.stdlib_y_uvicorn", ("Application startup complete.", "propagate=True")),
]


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


def test_mistakes_leave_the_other_checks_passing(tmp_path):
    """A context that is never cleared only costs the isolation check."""
    variant = next(v for v in VARIANTS if v[0] == "contexto_sin_limpiar")
    result = grade(submit(tmp_path, variant[1], variant[2]), "lab07")
    failed = [c.id for c in result.checks if c.status != "passed"]
    assert failed == ["contexto.aislado"], result.to_markdown()


ALTERNATIVE_LOGGING_CONFIG = r'''"""Different but valid: dictConfig with a ProcessorFormatter factory, cached loggers,
another mask and ASCII-escaped JSON."""
import logging.config
import re

import structlog

_SHARED = [
    structlog.contextvars.merge_contextvars,
    structlog.processors.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.ExtraAdder(),
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]
_KEYS = {"password", "token", "authorization"}
_IN_TEXT = re.compile(r"(password|token)=[^&\s\"]*", re.IGNORECASE)


def _mask(_, __, event_dict):
    return {key: "***" if key.lower() in _KEYS
            else _IN_TEXT.sub(r"\1=***", value) if isinstance(value, str) else value
            for key, value in event_dict.items()}


def configure_logging(level="INFO", json_logs=True):
    final = ([structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
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
ids are uuid4 strings with dashes, exc_info=True instead of logger.exception."""
import time
import uuid

import structlog
from starlette.datastructures import Headers, MutableHeaders

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
        structlog.contextvars.bind_contextvars(request_id=request_id, path=scope["path"])
        start = time.monotonic()

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:
            log.error("unhandled_exception_in_request", http_status_code=500, exc_info=True)
            raise
        finally:
            log.info("request_finished", response_duration_ms=(time.monotonic() - start) * 1000)
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

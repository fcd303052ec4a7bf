import io
import json
import logging
import logging.config
import re
import sys

import pytest
import structlog
from fastapi import FastAPI
from fastapi.testclient import TestClient
from uvicorn.config import LOGGING_CONFIG

from app.config import Settings
from app.logging_config import configure_logging
from app.main import create_app

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
REQUEST_EVENTS = {"peticion_iniciada", "peticion_terminada", "item_creado"}


def json_lines(output: str) -> list[dict]:
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines, "no se escribió ningún log"
    return [json.loads(line) for line in lines]  # fails if any line is not JSON


def started_client(**overrides: object) -> TestClient:
    return TestClient(create_app(Settings(**overrides)))


def app_with_a_broken_route() -> FastAPI:
    """The service plus GET /roto, which raises RuntimeError("algo se rompió")."""
    app = create_app()

    async def broken() -> None:
        raise RuntimeError("algo se rompió")

    app.add_api_route("/roto", broken)
    return app


def test_every_line_is_json_with_the_standard_keys(capsys: pytest.CaptureFixture[str]) -> None:
    with started_client() as client:
        client.get("/items/1", headers={"X-Request-ID": "traza-1"})
    records = json_lines(capsys.readouterr().out)
    for record in records:
        assert {"timestamp", "level", "event", "logger"} <= record.keys(), record
        assert TIMESTAMP.fullmatch(record["timestamp"]), record
        assert record["level"] == record["level"].lower()
    events = {record["event"] for record in records}
    assert {"servicio_iniciado", "peticion_terminada", "servicio_detenido"} <= events
    # At INFO a request costs one line; its start is only logged at DEBUG.
    assert "peticion_iniciada" not in events


def test_request_start_is_logged_at_debug(capsys: pytest.CaptureFixture[str]) -> None:
    with started_client(log_level="DEBUG") as client:
        client.get("/items/1", headers={"X-Request-ID": "traza-debug"})
    records = json_lines(capsys.readouterr().out)
    started = [r for r in records if r["event"] == "peticion_iniciada"]
    assert [(r["level"], r["request_id"]) for r in started] == [("debug", "traza-debug")]


def test_request_lines_carry_the_request_id(capsys: pytest.CaptureFixture[str]) -> None:
    with started_client() as client:
        client.post(
            "/items", json={"name": "Silla", "price": 45}, headers={"X-Request-ID": "traza-2"}
        )
        client.get("/")
    records = json_lines(capsys.readouterr().out)
    request_lines = [record for record in records if record["event"] in REQUEST_EVENTS]
    assert [r["event"] for r in request_lines] == [
        "item_creado", "peticion_terminada", "peticion_terminada"]
    assert [record["request_id"] for record in request_lines[:2]] == ["traza-2"] * 2
    finished = next(r for r in request_lines if r["event"] == "peticion_terminada")
    assert finished["status_code"] == 201
    assert isinstance(finished["duracion_ms"], float)
    assert finished["http_method"] == "POST" and finished["http_path"] == "/items"
    # Context from one request never leaks into the next one or into lifespan lines.
    assert request_lines[2]["request_id"] not in {"traza-2", None}
    stopped = next(r for r in records if r["event"] == "servicio_detenido")
    assert "request_id" not in stopped


def test_console_logs_when_json_is_off(capsys: pytest.CaptureFixture[str]) -> None:
    with started_client(json_logs=False) as client:
        client.get("/")
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert any("peticion_terminada" in line for line in lines)
    for line in lines:
        with pytest.raises(json.JSONDecodeError):
            json.loads(line)


def test_console_logs_render_tracebacks(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json_logs=False)
    try:
        raise ZeroDivisionError("división por cero")
    except ZeroDivisionError:
        structlog.stdlib.get_logger("prueba").exception("excepcion_no_controlada")
    output = capsys.readouterr().out
    assert "excepcion_no_controlada" in output
    assert "Traceback" in output and "ZeroDivisionError" in output


def test_uvicorn_loggers_are_taken_over(capsys: pytest.CaptureFixture[str]) -> None:
    logging.config.dictConfig(LOGGING_CONFIG)  # what uvicorn does before importing the app
    create_app(Settings(access_log=True))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        assert logger.handlers == [] and logger.propagate, name
    logging.getLogger("uvicorn.error").info("x")
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:1", "GET", "/items?q=1", "1.1", 200
    )
    first, second = json_lines(capsys.readouterr().out)
    assert first["event"] == "x" and first["logger"] == "uvicorn.error" and first["level"] == "info"
    assert second["event"] == '127.0.0.1:1 - "GET /items?q=1 HTTP/1.1" 200'
    # Method and path (without the query) also as fields, named as the service's.
    assert (second["http_method"], second["http_path"]) == ("GET", "/items")
    assert "status_code" not in second
    assert "http_path" not in first
    assert TIMESTAMP.fullmatch(first["timestamp"])


def test_setup_is_idempotent(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging()
    configure_logging()
    assert len(logging.getLogger().handlers) == 1
    structlog.stdlib.get_logger("prueba").info("una_vez")
    assert len(json_lines(capsys.readouterr().out)) == 1


def test_log_level(capsys: pytest.CaptureFixture[str]) -> None:
    with started_client(log_level="WARNING") as client:
        client.get("/")
    assert capsys.readouterr().out == ""


def test_exceptions_are_logged_with_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    app = app_with_a_broken_route()
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/roto", headers={"X-Request-ID": "traza-3"}).status_code == 500
    records = json_lines(capsys.readouterr().out)
    failure = next(r for r in records if r["event"] == "excepcion_no_controlada")
    assert failure["level"] == "error"
    assert failure["request_id"] == "traza-3"
    assert (
        "Traceback" in failure["exception"]
        and "RuntimeError: algo se rompió" in failure["exception"]
    )
    finished = next(r for r in records if r["event"] == "peticion_terminada")
    assert finished["status_code"] == 500


def test_the_servers_line_for_an_unhandled_exception_keeps_the_request_id(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Uvicorn logs "Exception in ASGI application" after the app raised, in the request's
    # task: the context must still hold the id then (the middleware clears it when the next
    # request starts, not when this one ends).
    app = app_with_a_broken_route()

    async def like_uvicorn(scope, receive, send) -> None:  # what uvicorn's run_asgi does
        try:
            await app(scope, receive, send)
        except Exception as exc:
            logging.getLogger("uvicorn.error").error("Exception in ASGI application\n",
                                                     exc_info=exc)

    with TestClient(like_uvicorn, raise_server_exceptions=False) as client:
        client.get("/roto", headers={"X-Request-ID": "traza-4"})
    records = json_lines(capsys.readouterr().out)
    (server_line,) = [r for r in records if r["event"].startswith("Exception in ASGI")]
    assert server_line["request_id"] == "traza-4"
    assert "RuntimeError: algo se rompió" in server_line["exception"]


def test_a_500_from_an_unhandled_exception_carries_the_request_id() -> None:
    app = app_with_a_broken_route()
    with TestClient(app, raise_server_exceptions=False) as client:
        given = client.get("/roto", headers={"X-Request-ID": "traza-500"})
        generated = client.get("/roto")
        again = client.get("/roto")
    assert (given.status_code, given.text) == (500, "Internal Server Error")
    assert given.headers.get_list("X-Request-ID") == ["traza-500"]
    assert generated.status_code == 500 and len(generated.headers["X-Request-ID"]) == 32
    assert again.headers.get_list("X-Request-ID") != generated.headers.get_list("X-Request-ID")
    assert len(again.headers.get_list("X-Request-ID")) == 1


def test_stdlib_exceptions_get_an_exception_field(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging()
    try:
        raise ZeroDivisionError("división por cero")
    except ZeroDivisionError:
        logging.getLogger("uvicorn.error").exception("fallo")
    (record,) = json_lines(capsys.readouterr().out)
    assert "ZeroDivisionError" in record["exception"]


def test_request_bodies_are_never_logged(capsys: pytest.CaptureFixture[str]) -> None:
    secret = "contraseña-super-secreta-123"
    with started_client(log_level="DEBUG") as client:
        assert (
            client.post("/items", json={"name": "Caja", "price": 3, "password": secret}).status_code
            == 201
        )
        assert (
            client.post("/items", json={"name": "", "price": 3, "password": secret}).status_code
            == 422
        )
    captured = capsys.readouterr()
    assert secret not in captured.out
    assert secret not in captured.err


def test_secrets_in_fields_and_query_strings_are_redacted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", json_logs=True)
    log = structlog.stdlib.get_logger("prueba")
    log.info("login", password="hunter2", usuario="ana")
    logging.getLogger("uvicorn.access").info('GET /items?password=hunter2&x=1 HTTP/1.1" 200')
    records = json_lines(capsys.readouterr().out)
    assert "hunter2" not in json.dumps(records)
    assert records[0]["password"] == "[REDACTADO]" and records[0]["usuario"] == "ana"
    assert "password=[REDACTADO]&x=1" in records[1]["event"]


def test_every_line_names_the_service_and_version_from_settings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with started_client(service_name="catalogo-b", app_version="2.3.4") as client:
        client.get("/items/1")
        logging.getLogger("uvicorn.error").info("Application startup complete.")
        logging.getLogger("una.biblioteca").warning("aviso de logging estándar")
    records = json_lines(capsys.readouterr().out)
    loggers = {record["logger"] for record in records}
    assert {"app.main", "app.middleware", "uvicorn.error", "una.biblioteca"} <= loggers
    for record in records:
        assert (record["servicio"], record["version"]) == ("catalogo-b", "2.3.4"), record


def test_secrets_nested_in_dicts_and_lists_are_redacted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", json_logs=True)
    structlog.stdlib.get_logger("prueba").info(
        "perfil_actualizado",
        cambios={"email": "ana@example.org", "credenciales": {"password": "hunter2"}},
        sesiones=[{"dispositivo": "móvil", "token": "abc123"}, ("url", "/x?api_key=k9")],
    )
    logging.getLogger("prueba.stdlib").info("copia", extra={"copia": {"ajustes": {"secret": "s3"}}})
    records = json_lines(capsys.readouterr().out)
    text = json.dumps(records)
    for secret in ("hunter2", "abc123", "k9", "s3"):
        assert secret not in text, secret
    first = records[0]
    assert first["cambios"]["email"] == "ana@example.org"
    assert first["cambios"]["credenciales"] == {"password": "[REDACTADO]"}
    assert first["sesiones"][0] == {"dispositivo": "móvil", "token": "[REDACTADO]"}
    assert records[1]["copia"] == {"ajustes": {"secret": "[REDACTADO]"}}


def test_text_only_stdout_still_gets_json(monkeypatch: pytest.MonkeyPatch) -> None:
    # A Jupyter kernel's sys.stdout is text only (no .buffer): the native bytes path must
    # still write there, e.g. when a notebook creates the app in the kernel.
    class TextOnly(io.TextIOBase):
        def __init__(self) -> None:
            self.parts: list[str] = []

        def write(self, text: str) -> int:
            self.parts.append(text)
            return len(text)

    stream = TextOnly()
    monkeypatch.setattr(sys, "stdout", stream)
    configure_logging("INFO", json_logs=True)
    structlog.contextvars.bind_contextvars(request_id="cuaderno-1")
    try:
        structlog.stdlib.get_logger("prueba").info("en_un_cuaderno", texto="añadido")
    finally:
        structlog.contextvars.clear_contextvars()
    (record,) = json_lines("".join(stream.parts))
    assert record["event"] == "en_un_cuaderno" and record["texto"] == "añadido"
    assert record["request_id"] == "cuaderno-1" and record["logger"] == "prueba"

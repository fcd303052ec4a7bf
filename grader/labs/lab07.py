"""Lab 07 (15.7): structured JSON logs with a request id for the course service.

The student writes ``app/logging_config.py`` (``configure_logging(level, json_logs, *,
service, version)``) and ``app/middleware.py`` (``RequestIdMiddleware``); the task lists
properties, not a processor chain. The grader does not read that code: it starts the
student's service with uvicorn in a child process (the course venv's Python,
``JSON_LOGS=true``, its own ``SERVICE_NAME``/``APP_VERSION``, a free port), sends real
requests and parses every line the process wrote. A few extra routes under ``/_corrector``
are mounted from a module outside the student's folder to exercise what the service has no
route for: a plain ``logging`` call, an unhandled exception, careless ``password=`` fields
(flat and nested in dicts and lists), a handler that binds a business id and a slow
handler for concurrent requests. Two small programs call ``configure_logging`` directly
(console output, idempotence). The notebook's own demo is read from the file it writes,
``seguimiento.json``. Nothing needs Docker (it works on Binder)."""
from __future__ import annotations

import json
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx

from course import logs
from course.lab import service_without
from grader import runner
from grader.checks import NotVerifiable, check

HEADER = "X-Request-ID"
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
LEVELS = {"debug", "info", "warning", "error", "critical"}
STANDARD_KEYS = ("timestamp", "level", "event", "logger")
LIFECYCLE = ("Started server process", "Waiting for application startup.",
             "Application startup complete.", "Shutting down", "Waiting for application shutdown.",
             "Application shutdown complete.", "Finished server process",
             "servicio_iniciado", "servicio_detenido")
STDLIB_EVENT = "aviso numero-42 de logging estándar"
# What a request's closing line carries (the task fixes these names).
CLOSING_KEYS = ("http_method", "http_path", "status_code", "duracion_ms")
SLOW_S = 0.15                 # the slow route's sleep: its closing line must say so
DEMO_FILE = "seguimiento.json"  # what the notebook's task 3 writes in the work dir
DEMO_ID = "lab07-demo"
# The request id policy the task states (and the header validator must enforce).
VALID_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
CONCURRENT = 6
# Per request: generous, because a console renderer that pretty-prints a traceback (rich)
# takes seconds on a loaded machine; a service that hangs still fails, only later.
REQUEST_TIMEOUT_S = 30
SHIM_MODULE = "t15_corrector_lab07"

# Routes the grader adds to the student's app (the service itself has no such routes).
SHIM = '''
import asyncio
import logging

import structlog
from fastapi import Request

from app.main import app

_log = structlog.stdlib.get_logger("corrector")


async def _stdlib_line():
    logging.getLogger("corrector.stdlib").warning(
        "aviso %s de logging estándar", "numero-42", extra={"pedido_id": 4242})
    return {"ok": True}


async def _careless_login(request: Request):
    body = await request.json()
    # On purpose, as a careless handler would: the redaction processor must hide it.
    _log.info("intento_de_acceso", usuario=body.get("usuario"), password=body.get("password"))
    return {"ok": True}


async def _profile(request: Request):
    body = await request.json()
    # Secrets nested in dicts and lists, as a handler logging a payload would.
    _log.info("perfil_actualizado", cambios=body["cambios"], sesiones=body["sesiones"])
    logging.getLogger("corrector.stdlib").info(
        "perfil guardado", extra={"copia": {"usuario": "ana", "ajustes": body["ajustes"]}})
    return {"ok": True}


async def _failure(divisor: int = 0):
    return {"resultado": 1 / divisor}


async def _user(u: str = "anonimo"):
    structlog.contextvars.bind_contextvars(usuario_id=u)
    _log.info("usuario_identificado")
    return {"usuario": u}


async def _slow(k: str = ""):
    await asyncio.sleep(0.15)
    _log.info("respuesta_lenta", k=k)
    return {"k": k}


app.add_api_route("/_corrector/stdlib", _stdlib_line)
app.add_api_route("/_corrector/acceso", _careless_login, methods=["POST"])
app.add_api_route("/_corrector/perfil", _profile, methods=["POST"])
app.add_api_route("/_corrector/fallo", _failure)
app.add_api_route("/_corrector/usuario", _user)
app.add_api_route("/_corrector/lento", _slow)
'''

# The console check: configure for development and log a few things, in a child process.
CONSOLE_PROGRAM = Path(__file__).parent / "programs" / "lab07_console.py"
# The idempotence check: configure twice for JSON and log one line of each kind.
IDEMPOTENT_PROGRAM = Path(__file__).parent / "programs" / "lab07_idempotent.py"


@dataclass
class Sent:
    """One request the grader made: the marker in its query, the id it sent (or None)."""
    marker: str
    request_id: str | None
    status: int = 0
    echoed: str | None = None


@dataclass
class Run:
    stdout: str
    stderr: str
    records: list[dict]
    others: list[str]
    sent: dict[str, Sent] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    pipelined: tuple[str | None, str | None] = (None, None)
    user_bound: str = ""
    identity: dict[str, str] = field(default_factory=dict)  # SERVICE_NAME / APP_VERSION set

    def access(self, marker: str) -> list[dict]:
        """The access line of the request whose query carries ``sonda=<marker>`` (from
        uvicorn.access; also when a broken setup dropped the logger name)."""
        probe = re.compile(rf'"[A-Z]+ [^"]*[?&]sonda={re.escape(marker)}[ &]')
        return [r for r in self.records if r.get("logger") in ("uvicorn.access", None)
                and probe.search(str(r.get("event", "")))]

    def with_id(self, request_id: str) -> list[dict]:
        return [r for r in self.records if r.get("request_id") == request_id]

    def closing(self, request_id: str) -> list[dict]:
        """The request's own closing lines: its request id and a duration field."""
        return [r for r in self.with_id(request_id) if "duracion_ms" in r
                and r.get("logger") != "uvicorn.access"]


# --- the one run of the student's service, shared by every check ---------------------------

def _run(ctx) -> Run:
    return ctx.memo("run", lambda: _start_and_probe(ctx))


def _start_and_probe(ctx) -> Run:
    missing = [name for name in service_without("lab07") if not (ctx.service_dir / name).exists()]
    assert not missing, ("Faltan ficheros en la carpeta del servicio: " + ", ".join(missing)
                         + ". El laboratorio debe escribirlos en service/app/.")
    tag = secrets.token_hex(3)
    shim_dir = Path(tempfile.mkdtemp(prefix=f"{ctx.run_id}-lab07-"))
    (shim_dir / f"{SHIM_MODULE}.py").write_text(SHIM)
    probes: dict[str, Sent] = {}
    hidden = {name: f"{name}-{secrets.token_hex(8)}" for name in
              ("consulta", "cuerpo", "cuerpo_invalido", "campo", *NESTED)}
    identity = {"SERVICE_NAME": f"catalogo-{tag}", "APP_VERSION": f"7.{int(tag, 16) % 97}.1"}
    pipelined = (None, None)
    try:
        with logs.serve(f"{SHIM_MODULE}:app", cwd=ctx.service_dir, pythonpath=[shim_dir],
                        env={"JSON_LOGS": "true", "LOG_LEVEL": "INFO", "ACCESS_LOG": "true",
                             **identity}, timeout=40,
                        prefix=f"{ctx.run_id}-lab07-logs-") as server:
            with httpx.Client(base_url=server.url, timeout=REQUEST_TIMEOUT_S, trust_env=False,
                              headers={"Connection": "close"}) as client:
                def call(marker: str, path: str, request_id: str | None = None,
                         method: str = "GET", **kwargs) -> None:
                    headers = {HEADER: request_id} if request_id else {}
                    sep = "&" if "?" in path else "?"
                    response = client.request(method, f"{path}{sep}sonda={marker}",
                                              headers=headers, **kwargs)
                    probes[marker] = Sent(marker, request_id, response.status_code,
                                          response.headers.get(HEADER))

                call("a", "/items/1", f"corrector-{tag}-a")
                call("g1", "/items/1")
                call("g2", "/")
                call("n", "/items/9999", f"corrector-{tag}-n")
                call("s", "/_corrector/stdlib", f"corrector-{tag}-s")
                call("q", f"/items?password={hidden['consulta']}", f"corrector-{tag}-q")
                call("b", "/items", f"corrector-{tag}-b", method="POST",
                     json={"name": "Caja", "price": 3, "password": hidden["cuerpo"]})
                call("v", "/items", f"corrector-{tag}-v", method="POST",
                     json={"name": "", "price": 3, "password": hidden["cuerpo_invalido"]})
                call("l", "/_corrector/acceso", f"corrector-{tag}-l", method="POST",
                     json={"usuario": "ana", "password": hidden["campo"]})
                call("f", "/_corrector/fallo?divisor=0", f"corrector-{tag}-f")
                call("u", f"/_corrector/usuario?u=usuario-{tag}-u", f"corrector-{tag}-u")
                call("d", "/_corrector/perfil", f"corrector-{tag}-d", method="POST", json={
                    "cambios": {"email": "ana@example.org",
                                "credenciales": {"password": hidden["anidado_dict"],
                                                 "api_key": hidden["anidado_clave"]}},
                    "sesiones": [{"dispositivo": "móvil", "token": hidden["anidado_lista"]}],
                    "ajustes": {"tema": "oscuro", "secret": hidden["anidado_extra"]}})
                for marker, bad in FORGED_IDS.items():  # headers no validator accepts
                    call(marker, "/items/1", bad.format(tag=tag))

            # Two requests one after the other on one kept-alive connection.
            with httpx.Client(base_url=server.url, timeout=REQUEST_TIMEOUT_S, trust_env=False) as kept:
                for marker, path, rid in (("k1", f"/_corrector/usuario?u=usuario-{tag}-k",
                                           f"corrector-{tag}-k1"), ("k2", "/items/3", None)):
                    response = kept.get(f"{path}{'&' if '?' in path else '?'}sonda={marker}",
                                        headers={HEADER: rid} if rid else {})
                    probes[marker] = Sent(marker, rid, response.status_code,
                                          response.headers.get(HEADER))

            # Two requests in one write on one connection (HTTP/1.1 pipelining).
            raw = logs.pipelined(server.port, [
                (f"/_corrector/usuario?u=usuario-{tag}&sonda=p1", {HEADER: f"corrector-{tag}-p1"}),
                ("/items/2?sonda=p2", {})], timeout=REQUEST_TIMEOUT_S)
            found = re.findall(rf"(?im)^{HEADER}:\s*(\S+)", raw)
            pipelined = (found[0] if found else None, found[1] if len(found) > 1 else None)

            # Concurrent requests, each with its own id, on separate connections.
            def slow(i: int) -> Sent:
                rid = f"corrector-{tag}-c{i}"
                response = httpx.get(f"{server.url}/_corrector/lento?k={i}&sonda=c{i}",
                                     headers={HEADER: rid}, timeout=REQUEST_TIMEOUT_S, trust_env=False)
                return Sent(f"c{i}", rid, response.status_code, response.headers.get(HEADER))

            with ThreadPoolExecutor(CONCURRENT) as pool:
                for sent in pool.map(slow, range(CONCURRENT)):
                    probes[sent.marker] = sent
    except logs.ServerFailed as exc:
        raise AssertionError(f"Tu servicio no arranca con uvicorn: {exc}") from None
    except httpx.HTTPError as exc:
        raise AssertionError(f"Tu servicio dejó de responder durante la prueba ({exc}).") from None
    finally:
        shutil.rmtree(shim_dir, ignore_errors=True)
    records, others = logs.parse(server.stdout)
    return Run(server.stdout, server.stderr, records, others, probes, hidden, pipelined,
               f"usuario-{tag}", identity)


def _json_records(ctx) -> Run:
    """The run, once it is known that stdout is made of JSON lines (else this check fails
    pointing at the first check's problem)."""
    run = _run(ctx)
    assert run.records, ("No hay ninguna línea JSON en stdout: revisa primero la comprobación "
                         "«logs.json_stdout».")
    return run


def _with_request_ids(ctx) -> Run:
    """The run, once some line carries a request_id at all (else see contexto.request_id)."""
    run = _json_records(ctx)
    assert any("request_id" in r for r in run.records), (
        "No se puede comprobar: ninguna línea lleva request_id (revisa «contexto.request_id»: "
        "¿falta structlog.contextvars.merge_contextvars en los procesadores compartidos?).")
    return run


# Secrets the grader nests in a logged payload: where each one travels.
NESTED = {"anidado_dict": "en cambios.credenciales.password (un diccionario dentro de otro)",
          "anidado_clave": "en cambios.credenciales.api_key",
          "anidado_lista": "en sesiones[0].token (un diccionario dentro de una lista)",
          "anidado_extra": "en el extra={...} de un logging.info(...) estándar (copia.ajustes.secret)"}


def _example(record: dict, width: int = 160) -> str:
    return logs.short(json.dumps(record, ensure_ascii=False), width)


# --- checks --------------------------------------------------------------------------------

@check("logs.json_stdout", points=2)
def json_on_stdout(ctx):
    """Con JSON_LOGS=true cada línea sale por stdout y es un objeto JSON."""
    run = _run(ctx)
    err_lines = [line for line in run.stderr.splitlines() if line.strip()]
    if not run.stdout.strip():
        where = (f" y sí en stderr (p. ej. «{logs.short(err_lines[0], 120)}»)" if err_lines
                 else "")
        raise AssertionError(
            f"El servicio no escribió nada en stdout{where}. El manejador debe ser "
            "logging.StreamHandler(sys.stdout): StreamHandler() sin argumentos escribe en stderr.")
    total = len(run.records) + len(run.others)
    assert not run.others, (
        f"{len(run.others)} de {total} líneas de stdout no son JSON, por ejemplo: "
        f"«{logs.short(run.others[0], 120)}». Con JSON_LOGS=true el último procesador debe ser "
        "structlog.processors.JSONRenderer() (ConsoleRenderer solo cuando json_logs es False), "
        "y todos los loggers deben pasar por el mismo ProcessorFormatter.")
    assert not err_lines, (
        f"También se escriben líneas en stderr, p. ej. «{logs.short(err_lines[0], 120)}». "
        "Todo el log debe salir por un único manejador en stdout: quita los manejadores que "
        "uvicorn instala en sus loggers (uvicorn, uvicorn.error, uvicorn.access).")


@check("logs.campos_estandar", points=2)
def standard_fields(ctx):
    """Cada línea tiene timestamp ISO-8601 en UTC (acabado en Z), level en minúsculas, event y logger."""
    run = _json_records(ctx)
    problems: dict[str, list[str]] = {}  # who -> what is wrong with its lines
    anonymous_example = ""
    for record in run.records:
        who = str(record.get("logger", "logging estándar sin logger"))
        if "logger" not in record and not anonymous_example:
            anonymous_example = logs.short(record.get("event", "?"), 50)
        found = problems.setdefault(who, [])
        for key in STANDARD_KEYS:
            if key not in record and f"sin «{key}»" not in found:
                found.append(f"sin «{key}»")
        stamp = record.get("timestamp")
        if stamp is not None and not TIMESTAMP.fullmatch(str(stamp)) \
                and not any(p.startswith("con timestamp") for p in found):
            found.append(f"con timestamp «{stamp}», que no es ISO-8601 en UTC acabado en Z")
        level = record.get("level")
        if level is not None and level not in LEVELS \
                and not any(p.startswith("con level") for p in found):
            found.append(f"con level «{level}» (debe ir en minúsculas)")
    problems = {who: found for who, found in problems.items() if found}
    if problems:
        def label(who: str) -> str:
            if who == "logging estándar sin logger":
                return f"registros de logging estándar sin logger (p. ej. «{anonymous_example}»)"
            return f"«{who}»"
        detail = "; ".join(f"líneas de {label(who)}: {', '.join(found)}"
                           for who, found in problems.items())
        foreign = any((w.startswith("uvicorn") or w == "logging estándar sin logger")
                      and any(p.startswith("sin «") for p in found)
                      for w, found in problems.items())
        hint = (" Los registros de logging estándar (uvicorn incluido) solo reciben esos campos "
                "si el ProcessorFormatter tiene foreign_pre_chain con los mismos procesadores "
                "compartidos (add_logger_name, add_log_level, TimeStamper(fmt=\"iso\", utc=True))."
                if foreign else
                " Usa los procesadores de structlog tal cual: add_logger_name, add_log_level "
                "(niveles en minúsculas) y TimeStamper(fmt=\"iso\", utc=True).")
        raise AssertionError(logs.short(detail, 600) + "." + hint)
    started = [r for r in run.records if r.get("event") == "servicio_iniciado"]
    assert started and started[0].get("logger") == "app.main", (
        "La línea «servicio_iniciado» debería llevar logger=\"app.main\" (el nombre del módulo que "
        "la escribe): usa structlog.stdlib.add_logger_name.")


@check("logs.stdlib_y_uvicorn", points=2)
def stdlib_and_uvicorn(ctx):
    """Los registros de logging estándar y de uvicorn (error y access) salen una vez, con el mismo JSON."""
    run = _json_records(ctx)
    startup = [r for r in run.records if r.get("event") == "Application startup complete."]
    assert startup, (
        "No aparece en stdout la línea de uvicorn.error «Application startup complete.». Uvicorn "
        "configura sus loggers con manejadores propios y propagate=False: en configure_logging "
        "vacía sus handlers y pon propagate=True para que lleguen a tu manejador.")
    bare = [k for k in STANDARD_KEYS if k not in startup[0]]
    assert not bare, (
        f"La línea de uvicorn «Application startup complete.» llega sin {', '.join(bare)}: "
        f"{_example(startup[0])}. Pasa los procesadores compartidos también como "
        "foreign_pre_chain del ProcessorFormatter.")
    access = run.access("a")
    assert access, (
        "No aparece la línea de uvicorn.access de GET /items/1: los registros de acceso de "
        "uvicorn también deben pasar por tu manejador (handlers vacíos y propagate=True).")
    assert len(access) == 1, (
        f"La línea de acceso de una petición sale {len(access)} veces: hay más de un manejador "
        "(el de uvicorn y el tuyo, o dos en la raíz). Deja uno solo en el logger raíz.")
    stdlib = [r for r in run.records if r.get("logger") == "corrector.stdlib"]
    assert stdlib, ("No aparece la línea que el corrector escribe con "
                    "logging.getLogger(\"corrector.stdlib\").warning(...).")
    line = stdlib[0]
    assert line.get("event") == STDLIB_EVENT, (
        f"La línea de logging estándar tiene event={line.get('event')!r}; se esperaba el mensaje "
        f"ya formateado, {STDLIB_EVENT!r}.")
    assert line.get("level") == "warning", (
        f"La línea de logging.warning(...) tiene level={line.get('level')!r} (se esperaba "
        "\"warning\").")
    assert line.get("pedido_id") == 4242, (
        "Los campos pasados con extra={...} a logging estándar no aparecen en el JSON: añade "
        "structlog.stdlib.ExtraAdder() a los procesadores de foreign_pre_chain (en la cadena de "
        "structlog no hace nada). Línea: " + _example(line))


@check("contexto.request_id", points=3)
def request_id_on_every_line(ctx):
    """Cada línea de una petición lleva su request_id: el de X-Request-ID, o uno nuevo que vuelve en la respuesta."""
    run = _json_records(ctx)
    assert any("request_id" in r for r in run.records), (
        "Ninguna línea lleva request_id. ¿Falta structlog.contextvars.merge_contextvars al "
        "principio de los procesadores compartidos? Sin él, lo que enlazas con bind_contextvars "
        "no llega a la salida.")
    a = run.sent["a"]
    assert a.echoed == a.request_id, (
        f"Enviada la cabecera {HEADER}: {a.request_id}, la respuesta trae {a.echoed!r}: el "
        f"middleware debe devolver el mismo {HEADER} en la respuesta.")
    a_lines = run.with_id(a.request_id)
    assert len(a_lines) >= 2, (
        f"La petición con {HEADER}: {a.request_id} dejó {len(a_lines)} línea(s) con ese "
        "request_id; se esperaban al menos la de cierre del middleware y la de acceso de uvicorn.")
    expectations = [("a", "GET /items/1"), ("n", "GET /items/9999 (404)"),
                    ("b", "POST /items"), ("v", "POST /items inválido (422)"),
                    ("s", "GET /_corrector/stdlib")]
    for marker, label in expectations:
        sent = run.sent[marker]
        lines = run.access(marker)
        assert lines, f"No encuentro la línea de uvicorn.access de {label}."
        got = lines[0].get("request_id")
        if got is None:
            raise AssertionError(
                f"La línea de uvicorn.access de {label} no lleva request_id: "
                + ("merge_contextvars debe estar también en foreign_pre_chain (la comparten "
                   "los registros de logging estándar)."
                   if any("request_id" in r for r in a_lines) else "revisa el middleware."))
        assert got == sent.request_id, (
            f"La línea de acceso de {label}, enviada con {HEADER}: {sent.request_id}, lleva "
            f"request_id={got!r}: usa el valor de la cabecera cuando es válido.")
    own = {"s": (lambda r: r.get("logger") == "corrector.stdlib", "la línea de logging estándar"),
           "b": (lambda r: r.get("event") == "item_creado", "la línea «item_creado»"),
           "l": (lambda r: r.get("event") == "intento_de_acceso", "la línea «intento_de_acceso»")}
    for marker, (wanted, label) in own.items():
        lines = [r for r in run.records if wanted(r)]
        assert lines, f"No aparece {label}."
        assert lines[0].get("request_id") == run.sent[marker].request_id, (
            f"{label.capitalize()} lleva request_id={lines[0].get('request_id')!r} en vez del "
            f"de su petición ({run.sent[marker].request_id}).")
    generated = [run.sent["g1"], run.sent["g2"]]
    for sent in generated:
        assert sent.echoed, (
            f"Una petición sin {HEADER} recibió una respuesta sin {HEADER}: genera uno "
            "(p. ej. uuid.uuid4().hex) y devuélvelo en la respuesta.")
        lines = run.access(sent.marker)
        assert lines and lines[0].get("request_id") == sent.echoed, (
            f"Sin {HEADER}, la respuesta trajo {sent.echoed!r} pero su línea de acceso lleva "
            f"request_id={(lines[0].get('request_id') if lines else None)!r}: enlaza el id "
            "generado igual que el recibido.")
    assert generated[0].echoed != generated[1].echoed, (
        f"Dos peticiones sin {HEADER} recibieron el mismo id ({generated[0].echoed}): genera "
        "uno nuevo en cada petición.")
    sent_ids = {s.request_id for s in run.sent.values() if s.request_id}
    assert not {s.echoed for s in generated} & sent_ids, (
        "Un id generado coincide con el de otra petición anterior: el contexto se reutiliza.")


# Request ids a client may send but a service must not adopt: markup (it ends up in log
# viewers) and an unbounded length. Any sane validator (a regex of safe characters, an
# alphanumeric test, a length cap) rejects both.
FORGED_IDS = {"x1": "<script>alert('{tag}')</script>", "x2": "{tag}" + "a" * 2000}


@check("contexto.id_validado", points=1)
def request_id_is_validated(ctx):
    """Un X-Request-ID inválido (marcas HTML, 2000 caracteres) no se adopta: se genera uno nuevo."""
    run = _json_records(ctx)
    for marker in FORGED_IDS:
        sent = run.sent[marker]
        shown = sent.request_id if len(sent.request_id) < 40 else sent.request_id[:20] + "…"
        assert sent.echoed and sent.echoed != sent.request_id, (
            f"Enviada la cabecera {HEADER}: {shown}, la respuesta devuelve "
            f"{'ese mismo valor' if sent.echoed else 'ningún id'}: valida la cabecera con la "
            "política del servicio (el valor entero: 1 a 128 caracteres de A-Z, a-z, 0-9, . _ -) "
            "y, si no la cumple, genera uno nuevo.")
        adopted = run.with_id(sent.request_id)
        assert not adopted, (f"{len(adopted)} línea(s) del log llevan request_id={shown}: "
                             "nunca enlaces una cabecera sin validarla.")


@check("contexto.aislado", points=2)
def context_isolated(ctx):
    """El contexto de una petición no pasa a otras (encadenadas o simultáneas) ni a las líneas de arranque y parada."""
    run = _with_request_ids(ctx)
    leaked = [r for r in run.records if r.get("event") in LIFECYCLE
              or str(r.get("event", "")).startswith(LIFECYCLE)]
    leaked = [r for r in leaked if "request_id" in r or "usuario_id" in r]
    assert not leaked, (
        f"La línea «{logs.short(leaked[0].get('event'), 60)}», que no pertenece a ninguna "
        f"petición, lleva request_id={leaked[0].get('request_id')!r}: el contexto de una petición "
        "se filtra fuera de ella. Guárdalo con structlog.contextvars.bind_contextvars (nunca en "
        "variables globales ni en el propio middleware) y límpialo con clear_contextvars().")
    for i in range(CONCURRENT):
        sent = run.sent[f"c{i}"]
        lines = [r for r in run.records if r.get("event") == "respuesta_lenta"
                 and str(r.get("k")) == str(i)] + run.access(f"c{i}")
        wrong = [r["request_id"] for r in lines
                 if "request_id" in r and r["request_id"] != sent.request_id]
        assert lines and not wrong, (
            f"Con {CONCURRENT} peticiones simultáneas, una línea de la petición {sent.request_id} "
            f"lleva request_id={wrong[0] if wrong else None!r}: el id debe vivir en contextvars "
            "(cada tarea de asyncio tiene su copia), no en un atributo o una variable global.")
    kept_first, kept_second = run.sent["k1"], run.sent["k2"]
    assert kept_second.echoed and kept_second.echoed != kept_first.request_id, (
        f"Dos peticiones seguidas por la misma conexión (keep-alive): la segunda, sin {HEADER}, "
        f"recibió {kept_second.echoed!r}, el id de la primera o ninguno: genera y enlaza uno "
        "nuevo en cada petición.")
    carried = [r for r in run.with_id(kept_second.echoed) if "usuario_id" in r]
    assert not carried, (
        f"La segunda de dos peticiones por la misma conexión (keep-alive) lleva "
        f"usuario_id={carried[0]['usuario_id']!r}, que enlazó la primera: el contexto de una "
        "petición no debe sobrevivir a su final (límpialo al empezar cada petición).")
    first, second = run.pipelined
    assert first and second, (
        f"En dos peticiones encadenadas por la misma conexión (pipelining) no recibí las dos "
        f"respuestas con {HEADER} (recibí {first!r} y {second!r}).")
    assert second != first, (
        f"La segunda de dos peticiones encadenadas (sin {HEADER}) recibió el id de la primera "
        f"({first}): el id se genera y se enlaza en cada petición.")
    access = [r for r in run.access("p2") if "request_id" in r]
    assert not access or access[0]["request_id"] == second, (
        f"La segunda petición encadenada respondió {HEADER}: {second} pero su línea de acceso "
        f"lleva request_id={access[0]['request_id']!r}.")
    inherited = [r for r in run.records if r.get("usuario_id") == run.user_bound
                 and r.get("request_id") != first]
    assert not inherited, (
        "La segunda de dos peticiones encadenadas por la misma conexión (HTTP pipelining) heredó "
        f"usuario_id={run.user_bound!r}, que enlazó la primera: uvicorn crea la tarea de la "
        "segunda desde dentro de la primera y copia su contexto. Llama a "
        "structlog.contextvars.clear_contextvars() al empezar cada petición, antes de enlazar "
        "nada.")


def _has_traceback(value: object, exc_type: str) -> bool:
    """A traceback as text (format_exc_info) or as structured frames (dict_tracebacks:
    a list of {exc_type, exc_value, frames: [...]})."""
    if isinstance(value, str):
        return exc_type in value and "Traceback" in value
    if isinstance(value, list):
        return any(isinstance(e, dict) and e.get("exc_type") == exc_type
                   and isinstance(e.get("frames"), list) and e["frames"] for e in value)
    return False


@check("errores.traza", points=2)
def exception_with_traceback(ctx):
    """Una excepción no controlada queda en el log con su traza en el campo exception y su request_id."""
    run = _json_records(ctx)
    failed = run.sent["f"]
    assert failed.status == 500, (
        f"La ruta que lanza ZeroDivisionError respondió {failed.status} en vez de 500: el "
        "middleware debe registrar la excepción y relanzarla con `raise`, no tragársela.")
    with_trace = [r for r in run.records if _has_traceback(r.get("exception"), "ZeroDivisionError")]
    if not with_trace:
        raw = [r for r in run.records if "exc_info" in r or "exception" in r]
        hint = f" Una línea con la excepción sin formatear: {_example(raw[0])}" if raw else ""
        raise AssertionError(
            "La excepción de GET /_corrector/fallo no aparece con su traza en un campo "
            "«exception» (un texto con el Traceback, o la lista de marcos de dict_tracebacks). "
            "En la rama JSON hace falta un procesador que convierta exc_info en ese campo "
            "(structlog.processors.format_exc_info o dict_tracebacks) antes del renderizador, "
            "allí donde pase también por los registros de logging estándar, y registrar la "
            "excepción con logger.exception(...)." + hint)
    _with_request_ids(ctx)
    mine = [r for r in with_trace if r.get("request_id") == failed.request_id]
    assert mine, (
        "La traza de la excepción aparece, pero en ninguna línea con el request_id de la "
        f"petición ({failed.request_id}): regístrala en el middleware con logger.exception(...) "
        "dentro del except, antes de relanzarla con `raise` y antes de limpiar el contexto.")
    assert mine[0].get("level") == "error", (
        f"La línea de la excepción tiene level={mine[0].get('level')!r}; logger.exception "
        "registra con nivel error.")


@check("errores.id_en_500", points=1)
def request_id_in_500(ctx):
    """El 500 de una excepción no controlada también devuelve el X-Request-ID de la petición."""
    run = _json_records(ctx)
    failed = run.sent["f"]
    assert failed.status == 500, (
        f"La ruta que lanza ZeroDivisionError respondió {failed.status} en vez de 500.")
    assert failed.echoed == failed.request_id, (
        f"Enviada la cabecera {HEADER}: {failed.request_id} a una ruta que lanza una excepción, "
        f"el 500 trae {failed.echoed!r}: esa respuesta la construye ServerErrorMiddleware, fuera "
        "de tu middleware, cuando la excepción ya salió de él. Si la respuesta aún no empezó, "
        f"envía tú el 500 (con {HEADER}) antes de relanzar la excepción.")


@check("secretos.ocultos", points=2)
def secrets_hidden(ctx):
    """Una contraseña enviada en la consulta o en el cuerpo nunca aparece en los logs."""
    run = _json_records(ctx)
    output = run.stdout + run.stderr
    where = {"consulta": "en la consulta (GET /items?password=…)",
             "cuerpo": "en el cuerpo de POST /items",
             "cuerpo_invalido": "en el cuerpo de un POST /items inválido (422)",
             "campo": "como campo password= de un logger.info(...) descuidado"}
    for name, place in where.items():
        value = run.secrets[name]
        if value in output:
            line = next((l for l in output.splitlines() if value in l), "")
            raise AssertionError(
                f"La contraseña enviada {place} aparece en el log: "
                f"«{logs.short(line.replace(value, '<secreto>'), 160)}». Añade a los processors "
                "del ProcessorFormatter (vale para structlog y para uvicorn) un procesador que "
                "sustituya el valor de las claves sensibles (password, token, authorization…) y "
                "de los pares password=… dentro de los textos, como la línea de acceso.")
    assert run.access("q"), (
        "No encuentro la línea de acceso de GET /items?password=…: oculta el valor, no "
        "borres la línea.")
    assert any(r.get("event") == "intento_de_acceso" for r in run.records), (
        "No encuentro la línea «intento_de_acceso»: oculta el valor del campo password, no "
        "descartes el evento.")


@check("consola.desarrollo", points=1)
def console_in_development(ctx):
    """Con json_logs=False los logs son líneas legibles (no JSON) y las excepciones muestran su traza."""
    done = _program(ctx, CONSOLE_PROGRAM, "console")
    assert done.returncode == 0, (
        "configure_logging(\"INFO\", json_logs=False, service=…, version=…) falla: "
        + logs.tail(done.stderr, 4))
    lines = [l for l in done.stdout.splitlines() if l.strip() and not l.startswith("CONFIGURADO=")]
    assert "CONFIGURADO=True" in done.stdout, (
        "Tras configure_logging, structlog.is_configured() devuelve False: llama a "
        "structlog.configure(...).")
    records, _ = logs.parse("\n".join(lines))
    assert not records, (
        "Con json_logs=False siguen saliendo líneas JSON (p. ej. "
        f"«{_example(records[0], 100)}»): en desarrollo usa structlog.dev.ConsoleRenderer().")
    text = "\n".join(lines)
    for needle in ("evento_de_consola", "linea_de_uvicorn_en_consola", "fallo_en_consola"):
        assert needle not in done.stderr or needle in text, (
            f"Con json_logs=False, «{needle}» sale por stderr: usa "
            "logging.StreamHandler(sys.stdout) también en desarrollo.")
        assert needle in text, (
            f"Con json_logs=False no aparece «{needle}» en stdout: la consola también debe "
            "recibir structlog y logging estándar (uvicorn incluido) por el mismo manejador.")
    assert "ZeroDivisionError" in text, (
        "Con json_logs=False, logger.exception(...) no muestra la traza: ConsoleRenderer la "
        "formatea si le llega exc_info.")


@check("logs.servicio_version", points=1)
def service_and_version(ctx):
    """Cada línea (también las de uvicorn y logging estándar) lleva servicio y version de la configuración."""
    run = _json_records(ctx)
    service, version = run.identity["SERVICE_NAME"], run.identity["APP_VERSION"]
    for key, wanted, variable in (("servicio", service, "SERVICE_NAME"),
                                  ("version", version, "APP_VERSION")):
        missing = [r for r in run.records if key not in r]
        if missing:
            loggers = sorted({str(r.get("logger", "sin logger")) for r in missing})
            raise AssertionError(
                f"{len(missing)} de {len(run.records)} líneas no llevan «{key}» (de: "
                f"{logs.short(', '.join(loggers), 120)}), p. ej. {_example(missing[0], 120)}. "
                "Debe ir en todas: las de structlog y las de logging estándar (uvicorn incluido).")
        wrong = [r for r in run.records if r[key] != wanted]
        assert not wrong, (
            f"Con {variable}={wanted} el servicio escribe {key}={wrong[0][key]!r} (línea "
            f"«{logs.short(wrong[0].get('event'), 50)}»): el valor sale de la configuración, "
            f"que app/main.py pasa a configure_logging(..., {'service' if key == 'servicio' else key}=...), "
            "no escrito a mano.")


@check("secretos.anidados", points=2)
def nested_secrets_hidden(ctx):
    """Un secreto dentro de diccionarios o listas anidados se oculta a cualquier profundidad, sin perder el resto."""
    run = _json_records(ctx)
    output = run.stdout + run.stderr
    for name, where in NESTED.items():
        value = run.secrets[name]
        if value in output:
            line = next((l for l in output.splitlines() if value in l), "")
            raise AssertionError(
                f"Un secreto anidado {where} aparece en el log: "
                f"«{logs.short(line.replace(value, '<secreto>'), 200)}». La redacción debe "
                "recorrer también los valores que son diccionarios y listas (a cualquier "
                "profundidad), tanto en las líneas de structlog como en los extra de logging.")
    profile = [r for r in run.records if r.get("event") == "perfil_actualizado"]
    assert profile, ("No encuentro la línea «perfil_actualizado»: oculta los valores "
                     "sensibles, no descartes el evento.")
    changes, sessions = profile[0].get("cambios"), profile[0].get("sesiones")
    kept = (isinstance(changes, dict) and changes.get("email") == "ana@example.org"
            and isinstance(changes.get("credenciales"), dict)
            and isinstance(sessions, list) and sessions and isinstance(sessions[0], dict)
            and sessions[0].get("dispositivo") == "móvil")
    assert kept, (
        "La línea «perfil_actualizado» perdió lo que no es secreto: "
        f"{_example(profile[0], 220)}. Sustituye solo el valor de las claves sensibles y "
        "conserva la estructura (cambios.email, cambios.credenciales, sesiones[0].dispositivo).")
    copies = [r.get("copia") for r in run.records if r.get("event") == "perfil guardado"]
    assert copies and isinstance(copies[0], dict) and copies[0].get("usuario") == "ana" \
        and isinstance(copies[0].get("ajustes"), dict) \
        and copies[0]["ajustes"].get("tema") == "oscuro", (
            "La línea de logging estándar «perfil guardado» no conserva su extra "
            f"copia={{usuario, ajustes: {{tema, …}}}}: {_example(copies[0]) if copies else 'no aparece'}.")


@check("peticion.cierre", points=2)
def closing_line(ctx):
    """Cada petición deja una línea de cierre con http_method, http_path, status_code y duracion_ms."""
    run = _with_request_ids(ctx)
    cases = [("a", "GET", "/items/1"), ("n", "GET", "/items/9999"), ("b", "POST", "/items"),
             ("v", "POST", "/items"), ("f", "GET", "/_corrector/fallo")]
    for marker, method, path in cases:
        sent = run.sent[marker]
        label = f"{method} {path} ({sent.status})"
        lines = run.closing(sent.request_id)
        assert lines, (
            f"La petición {label}, con {HEADER}: {sent.request_id}, no deja ninguna línea con "
            "«duracion_ms» y su request_id: al terminar cada petición el middleware escribe "
            "una línea de cierre con http_method, http_path, status_code y duracion_ms "
            "(también cuando la aplicación lanza una excepción).")
        assert len(lines) == 1, (
            f"La petición {label} deja {len(lines)} líneas de cierre (con duracion_ms): "
            "se espera una por petición.")
        line = lines[0]
        missing = [k for k in CLOSING_KEYS if k not in line]
        assert not missing, (f"La línea de cierre de {label} no lleva {', '.join(missing)}: "
                             f"{_example(line)}.")
        expected = {"http_method": method, "http_path": path, "status_code": sent.status}
        wrong = {k: line[k] for k, v in expected.items() if line[k] != v}
        assert not wrong, (
            f"La línea de cierre de {label} dice {wrong} (se esperaba "
            f"{ {k: expected[k] for k in wrong} }): el método y la ruta sin la consulta, y el "
            "código que de verdad recibió el cliente (500 si la aplicación lanzó una excepción).")
        duration = line["duracion_ms"]
        assert isinstance(duration, (int, float)) and not isinstance(duration, bool) \
            and 0 <= duration < 60_000, (
                f"La línea de cierre de {label} lleva duracion_ms={duration!r}: un número de "
                "milisegundos (p. ej. 1.734).")
    for i in range(CONCURRENT):
        sent = run.sent[f"c{i}"]
        lines = run.closing(sent.request_id)
        assert lines, f"La petición lenta {sent.request_id} no deja línea de cierre."
        duration = lines[0].get("duracion_ms")
        assert isinstance(duration, (int, float)) and SLOW_S * 1000 * 0.9 <= duration < 30_000, (
            f"Una petición que tarda al menos {SLOW_S * 1000:.0f} ms dice "
            f"duracion_ms={duration!r}: mide en milisegundos, desde que entra la petición "
            "hasta que termina la aplicación (time.perf_counter()).")


@check("middleware.asgi_puro", points=1)
def pure_asgi(ctx):
    """La línea de cierre ve el contexto que enlazó el manejador (middleware ASGI puro, no BaseHTTPMiddleware)."""
    run = _with_request_ids(ctx)
    sent = run.sent["u"]
    assert sent.echoed == sent.request_id, (
        f"GET /_corrector/usuario con {HEADER}: {sent.request_id} respondió con {sent.echoed!r}.")
    lines = run.closing(sent.request_id)
    assert lines, (f"La petición {sent.request_id} no deja línea de cierre (con duracion_ms): "
                   "revisa «peticion.cierre».")
    bound = f"{run.user_bound}-u"
    assert lines[0].get("usuario_id") == bound, (
        f"El manejador de GET /_corrector/usuario enlaza usuario_id={bound!r} con "
        "bind_contextvars, pero la línea de cierre del middleware no lo lleva "
        f"({_example(lines[0], 140)}). Con BaseHTTPMiddleware la aplicación corre en otra "
        "tarea y su contexto se pierde al volver de call_next: escribe el middleware como "
        "ASGI puro, una clase con __call__(scope, receive, send).")


def _program(ctx, program: Path, key: str) -> subprocess.CompletedProcess:
    """Run one of the grader's small programs inside the student's service folder."""
    def run() -> subprocess.CompletedProcess:
        missing = [n for n in service_without("lab07")[:1] if not (ctx.service_dir / n).exists()]
        assert not missing, "Falta app/logging_config.py en la carpeta del servicio."
        try:
            return subprocess.run([sys.executable, str(program)], check=False,
                                  cwd=ctx.service_dir, capture_output=True, text=True, timeout=60,
                                  env=logs.clean_env({"NO_COLOR": "1", "COLUMNS": "100"},
                                                     pythonpath=[ctx.service_dir]))
        except subprocess.TimeoutExpired:
            raise AssertionError("configure_logging(...) no terminó en 60 s.") from None
    return ctx.memo(key, run)


@check("logs.idempotente", points=1)
def idempotent(ctx):
    """Llamar dos veces a configure_logging no duplica líneas."""
    done = _program(ctx, IDEMPOTENT_PROGRAM, "idempotent")
    assert done.returncode == 0, (
        "Llamar dos veces a configure_logging(\"INFO\", json_logs=True, service=…, version=…) "
        "falla: " + logs.tail(done.stderr, 4))
    records, _ = logs.parse(done.stdout)
    for event in ("evento_tras_dos_configuraciones", "linea_estandar_tras_dos_configuraciones"):
        count = sum(1 for r in records if r.get("event") == event)
        assert count == 1, (
            f"Tras llamar dos veces a configure_logging, «{event}» sale {count} veces "
            f"(se esperaba una){': ¿se añade un manejador nuevo en cada llamada sin quitar el anterior?' if count > 1 else ''}.")


@check("seguimiento.demo", points=1)
def notebook_demo(ctx):
    """El cuaderno guarda en seguimiento.json los ids devueltos y las líneas de la petición lab07-demo."""
    if ctx.execution.status == runner.NOT_EXECUTED:
        raise NotVerifiable(
            f"esta comprobación lee {DEMO_FILE}, que escribe el cuaderno al ejecutarse, y una "
            "entrega de ficheros no se ejecuta. Entrega el cuaderno "
            "(curso corregir labs/lab07_logging.ipynb).")
    path = ctx.workdir / DEMO_FILE
    assert path.is_file(), (f"No existe {DEMO_FILE} en la carpeta de trabajo: la tarea 3 lo "
                            "escribe tras seguir la petición.")
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise AssertionError(f"{DEMO_FILE} no es JSON válido: {exc}") from None
    assert isinstance(data, dict), f"{DEMO_FILE} debe ser un objeto JSON."
    echoed, generated = data.get("id_devuelto"), data.get("id_generado")
    assert echoed == DEMO_ID, (
        f"id_devuelto es {echoed!r}: debe ser la cabecera {HEADER} de la respuesta a la petición "
        f"enviada con {HEADER}: {DEMO_ID}.")
    assert isinstance(generated, str) and VALID_ID.fullmatch(generated) and generated != DEMO_ID, (
        f"id_generado es {generated!r}: debe ser la cabecera {HEADER} de la respuesta a la "
        "petición sin cabecera, un id nuevo que cumple la política del servicio.")
    lines = data.get("lineas")
    assert isinstance(lines, list) and lines and all(isinstance(r, dict) for r in lines), (
        "«lineas» debe ser la lista (no vacía) de las líneas de log de la petición "
        f"{DEMO_ID}, cada una como diccionario.")
    others = [r for r in lines if r.get("request_id") != DEMO_ID]
    assert not others, (f"{len(others)} de las líneas guardadas no son de la petición {DEMO_ID}, "
                        f"p. ej. {_example(others[0], 120)}.")
    closing = [r for r in lines if "duracion_ms" in r]
    assert closing and closing[0].get("status_code") == 200 \
        and closing[0].get("http_path") == "/items/1", (
            f"Entre las líneas guardadas de {DEMO_ID} no está su línea de cierre de GET /items/1 "
            "con status_code 200.")
    # Written by this execution: the lines' timestamps fall inside the notebook's run.
    now = time.time()
    earliest = now - ctx.execution.seconds - 600
    for record in lines:
        stamp = _epoch(record.get("timestamp"))
        assert stamp is not None and earliest <= stamp <= now + 60, (
            f"La línea {_example(record, 120)} no se escribió durante esta ejecución del "
            "cuaderno: guarda las líneas que tu servicio acaba de escribir, no unas copiadas.")


def _epoch(stamp: object) -> float | None:
    if not isinstance(stamp, str) or not TIMESTAMP.fullmatch(stamp):
        return None
    return datetime.fromisoformat(stamp).timestamp()  # Python ≥ 3.11 reads the Z


# --- task items → checks (format in CONTRIBUTING.md; tests/test_task_items.py keeps it in sync)
TASK_ITEMS: dict[str, tuple[str, ...]] = {
    "1.1": ("logs.json_stdout",),
    "1.2": ("logs.campos_estandar",),
    "1.3": ("logs.servicio_version",),
    "1.4": ("logs.stdlib_y_uvicorn",),
    "1.5": ("errores.traza",),                   # text or structured frames
    "1.6": ("secretos.ocultos",),
    "1.7": ("secretos.anidados",),
    "1.8": ("consola.desarrollo",),
    "1.9": ("logs.idempotente",),
    "2.1": ("contexto.request_id", "contexto.id_validado"),
    "2.2": ("contexto.request_id", "errores.id_en_500"),   # echoed, generated, on a 500
    "2.3": ("contexto.request_id",),
    "2.4": ("peticion.cierre",),
    "2.5": ("errores.traza", "errores.id_en_500"),
    "2.6": ("contexto.aislado",),
    "2.7": ("middleware.asgi_puro",),
    "3.1": ("seguimiento.demo",),                # the ids the notebook's requests got back
    "3.2": ("seguimiento.demo",),                # the lines it saved, written by this run
}
UNTASKED: dict[str, str] = {}
KNOWN_GAPS: dict[str, str] = {}

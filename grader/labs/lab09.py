"""Lab 09 (15.9): the shipper's configuration (syslog-ng: tail, parse, label, drop,
redact, post), LogsQL queries and the store's retention.

Every check looks at reality: the grader starts VictoriaLogs with the student's
retention, two copies of the service (``catalogo-2`` with injected errors) writing their
JSON logs to files, and syslog-ng with the student's configuration tailing them; it then
sends traffic with known request ids, errors, health checks, a non-JSON line with a
secret, and asks the store what arrived. Everything runs as local processes of the run
(course.logstore), so the lab needs no Docker engine."""
from __future__ import annotations

import json
import os
import re
import signal
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
import yaml

from course import logstore, logsynth, processes
from grader.checks import Blocked, check

LOGS_DIR = "logs"
CONFIG = "syslog-ng.conf"
QUERIES = "consultas.yml"
STORE = "almacen.yml"
ALIASES = ("catalogo-1", "catalogo-2")
FAULTS = {"FAULT_ERROR_RATE": "0.35"}
REQUESTS = 24                           # request ids, each crossing both services
ARRIVAL_S = 10                          # every line must be searchable within this bound
MAX_STREAMS = 20
HIGH_CARDINALITY = ("request_id", "client_ip", "user_id", "http_path", "duracion_ms", "_msg",
                    "event", "timestamp")
SECRET = "s3cr3t-lab09-"                # values the grader sends; none may reach the store
RAW_LINE = "AVISO biblioteca-externa: conexión reintentada password={secret} intento=2"
BURST = 20_000                          # lines written at once: the default queue holds 10 000
BURST_S = 15
STALL_S = 3                             # the store is stopped this long during the burst
RETENTION_MIN_S, RETENTION_MAX_S = 24 * 3600, 366 * 24 * 3600
DURATION = re.compile(r"^(\d+)([hdwy])$")
RFC3339 = re.compile(r"(?P<whole>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?P<fraction>\.\d+)?"
                     r"(?P<zone>Z|z|[+-]\d\d:\d\d)$")
TIME_TOLERANCE_S = 0.001                # a stored _time equal to the line's own timestamp
UNITS = {"h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}


# --- files --------------------------------------------------------------------------

def _read(ctx, name: str) -> str:
    path = ctx.workdir / LOGS_DIR / name
    assert path.is_file(), f"No existe {LOGS_DIR}/{name}: el laboratorio debe escribirlo."
    return path.read_text()


def _yaml(ctx, name: str) -> dict:
    try:
        data = yaml.safe_load(_read(ctx, name)) or {}
    except yaml.YAMLError as exc:
        raise AssertionError(f"{name} no es YAML válido: {exc}") from None
    assert isinstance(data, dict), f"{name} debe ser un mapa YAML."
    return data


def _config(ctx) -> str:
    return ctx.memo("config", lambda: _read(ctx, CONFIG))


def _queries(ctx) -> dict[str, str]:
    def load():
        data = _yaml(ctx, QUERIES)
        missing = [k for k in ("peticion", "errores_por_ruta") if not str(data.get(k) or "").strip()]
        assert not missing, f"En {QUERIES} faltan las claves: {', '.join(missing)}."
        return {k: str(data[k]).strip() for k in ("peticion", "errores_por_ruta")}
    return ctx.memo("queries", load)


def _retention(ctx) -> str:
    def load():
        value = str(_yaml(ctx, STORE).get("retencion") or "").strip()
        assert value, f"En {STORE} falta la clave retencion (p. ej. «14d»)."
        return value
    return ctx.memo("retention", load)


def _seconds(value: str) -> int | None:
    match = DURATION.match(value)
    return int(match[1]) * UNITS[match[2]] if match else None


# --- the running pipeline -----------------------------------------------------------

@dataclass
class Traffic:
    ids: list[str]
    errors: dict[str, int] = field(default_factory=dict)     # http_path → 5xx sent
    health_ids: list[str] = field(default_factory=list)
    raw_marker: str = ""
    seconds_to_arrive: float | None = None


def _pipeline(ctx) -> logstore.Pipeline:
    # grade() stops the processes with the run and removes the scratch with the work dir.
    return ctx.memo("pipeline", lambda: logstore.Pipeline(
        ctx.run_id, scratch=ctx.workdir / ".logs", service_dir=ctx.service_dir))


def _store(ctx) -> logstore.Store:
    def start():
        retention = _retention(ctx) if _valid_retention(ctx) else "7d"
        try:
            return _pipeline(ctx).store(retention)
        except processes.NotReady as exc:
            raise AssertionError(f"VictoriaLogs no arranca con retencion={retention}:\n{exc}") from None
    return ctx.memo("store", start)


def _valid_retention(ctx) -> bool:
    try:
        seconds = _seconds(_retention(ctx))
    except AssertionError:
        return False
    return seconds is not None and RETENTION_MIN_S <= seconds <= RETENTION_MAX_S


def _syntax(ctx) -> tuple[int, str]:
    def run():
        store = _store(ctx)
        return logstore.syntax_check(_config(ctx), _pipeline(ctx).variables(store))
    return ctx.memo("syntax", run)


def _traffic(ctx) -> Traffic:
    """Start services and shipper, then send a known load and wait (bounded) for it."""
    def generate():
        code, output = _syntax(ctx)
        assert code == 0, f"syslog-ng rechaza tu {CONFIG}:\n{output}"
        pipeline, store = _pipeline(ctx), _store(ctx)
        urls = {alias: pipeline.service(alias, FAULTS if alias == "catalogo-2" else {})
                for alias in ALIASES}
        try:
            pipeline.shipper(_config(ctx), store)
        except processes.NotReady as exc:
            raise AssertionError(str(exc)) from None
        run = ctx.run_id[-6:]
        traffic = Traffic(ids=[f"lab09-{run}-{n:03d}" for n in range(REQUESTS)])
        with httpx.Client(timeout=10, trust_env=False) as http:
            for n, rid in enumerate(traffic.ids):
                headers = {"X-Request-ID": rid, "Authorization": f"Bearer {SECRET}auth"}
                http.get(f"{urls['catalogo-1']}/items/1", params={"token": f"{SECRET}query"},
                         headers=headers)
                path = "/items" if n % 2 else "/items/2"
                answer = http.get(f"{urls['catalogo-2']}{path}", headers=headers)
                if answer.status_code >= 500:
                    traffic.errors[path] = traffic.errors.get(path, 0) + 1
            for n in range(5):
                rid = f"salud-{run}-{n}"
                traffic.health_ids.append(rid)
                http.get(f"{urls['catalogo-1']}/health/live", headers={"X-Request-ID": rid})
        traffic.raw_marker = f"biblioteca-externa-{run}"
        with (pipeline.logs_dir / "catalogo-1.log").open("a") as log:
            log.write(RAW_LINE.replace("biblioteca-externa", traffic.raw_marker)
                      .format(secret=f"{SECRET}raw") + "\n")
        started = time.monotonic()
        expected = sum(_lines_in_files(ctx, rid) for rid in traffic.ids)
        prefix = traffic.ids[0][:-4]
        found = store.wait_count(f'request_id:"{prefix}"* or "{prefix}"*', expected,
                                 timeout=ARRIVAL_S)
        if found >= expected:
            traffic.seconds_to_arrive = time.monotonic() - started
        time.sleep(0.5)  # the raw line and the health lines, written last
        store.flush()
        return traffic
    return ctx.memo("traffic", generate)


def _written_lines(ctx, request_id: str) -> list[dict]:
    """The JSON lines the services wrote for one request (health probes aside). Parsed,
    not searched as text: the service's JSON is compact (orjson), a student's may not be."""
    found = []
    for alias in ALIASES:
        for line in _pipeline(ctx).log_lines(alias):
            if request_id not in line or "/health" in line:
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and entry.get("request_id") == request_id:
                found.append(entry)
    return found


def _lines_in_files(ctx, request_id: str) -> int:
    count = len(_written_lines(ctx, request_id))
    if not count:  # never compare the store with nothing: that would pass vacuously
        raise RuntimeError(f"el corrector no encuentra en los ficheros de log las líneas de "
                           f"su propia petición {request_id}")
    return count


def _query(ctx, logsql: str, what: str) -> list[dict]:
    try:
        return _store(ctx).query(logsql)
    except logstore.QueryError as exc:
        raise AssertionError(f"VictoriaLogs rechaza tu consulta de {what} ({exc}): {logsql}") from None


def _by_id(ctx, request_id: str) -> list[dict]:
    """The stored lines of one request: parsed (a request_id field) or not (in the text)."""
    return _query(ctx, f'request_id:="{request_id}" or "{request_id}"', "una petición")


def _everything(ctx) -> list[dict]:
    """Every stored line once the load arrived (a few hundred), to search all its fields."""
    def load():
        traffic = _traffic(ctx)
        _store(ctx).wait_count(f'"{traffic.raw_marker}"', 1, timeout=5)
        return _query(ctx, "*", "todo")
    return ctx.memo("everything", load)


# --- checks -----------------------------------------------------------------------

@check("envio.config_valida", points=1, needs=("logs",))
def config_is_valid(ctx):
    """`syslog-ng.conf` pasa `syslog-ng --syntax-only` y envía por HTTP a VictoriaLogs."""
    code, output = _syntax(ctx)
    assert code == 0, f"syslog-ng --syntax-only falla:\n{output}"
    config = _config(ctx)
    assert "http(" in config and "`VLOGS_URL`" in config, (
        "Tu configuración no tiene un destino http() hacia `VLOGS_URL` (la dirección del almacén).")
    assert "`LOGS_DIR`" in config, "Tu configuración no lee los ficheros de `LOGS_DIR`."


@check("envio.lineas_completas", points=2, needs=("logs",))
def every_line_arrives(ctx):
    """Todas las líneas de cada petición (de los dos servicios) llegan al almacén en menos de 10 s."""
    traffic = _traffic(ctx)
    missing = []
    for rid in traffic.ids[:6]:
        expected = _lines_in_files(ctx, rid)
        got = len(_by_id(ctx, rid))
        if got != expected:
            missing.append(f"{rid}: {got} de {expected}")
    assert not missing, (
        f"Faltan (o sobran) líneas en el almacén {ARRIVAL_S} s después de enviarlas: "
        + "; ".join(missing) + ". ¿Lees los dos ficheros (catalogo-1.log y catalogo-2.log)? "
        "¿Tu destino http() manda la cabecera Content-Type: application/x-ndjson? Sin ella "
        "VictoriaLogs toma el cuerpo por un formulario y no guarda nada.")
    assert traffic.seconds_to_arrive is not None, f"Las líneas tardan más de {ARRIVAL_S} s."


@check("envio.campos", points=2, needs=("logs",))
def lines_are_parsed(ctx):
    """Las líneas JSON se guardan como campos (level, status_code, http_path…), no como un texto."""
    traffic = _traffic(ctx)
    lines = _by_id(ctx, traffic.ids[1])
    assert lines, "No llega ninguna línea de las peticiones del corrector."
    finished = [r for r in lines if "peticion_terminada" in (r.get("_msg"), r.get("event"))]
    assert finished, (
        "Ninguna línea tiene como mensaje «peticion_terminada»: el JSON se guarda entero como "
        f"texto (p. ej. _msg = {lines[0].get('_msg', '')[:90]!r}). Analízalo con json-parser() y "
        "envía los campos con format-json, usando event como mensaje (_msg_field=event).")
    missing = [f for f in ("level", "status_code", "http_path", "request_id", "service")
               if not finished[0].get(f)]
    assert not missing, (f"A las líneas les faltan los campos {', '.join(missing)}: revisa el "
                         "prefijo del json-parser y el --rekey/--shift de format-json.")


@check("envio.hora", points=1, needs=("logs",))
def time_comes_from_the_line(ctx):
    """La hora de cada línea en el almacén (`_time`) es su campo `timestamp`, no la de llegada."""
    traffic = _traffic(ctx)
    rid = traffic.ids[4]
    written = sorted(_instant(entry["timestamp"]) for entry in _written_lines(ctx, rid))
    stored = sorted(_instant(row["_time"]) for row in _by_id(ctx, rid) if row.get("_time"))
    if not written or len(stored) != len(written):
        raise Blocked(f"Bloqueada: no llegan las {len(written)} líneas de {rid} (el motivo está "
                      "en envio.lineas_completas).")
    worst = max(abs(a - b) for a, b in zip(written, stored))
    assert worst <= TIME_TOLERANCE_S, (
        f"La hora que guarda el almacén para las líneas de {rid} se aleja hasta {worst * 1000:.0f} "
        "ms de su campo timestamp: es la hora de llegada, no la del suceso. Dile a VictoriaLogs "
        "qué campo es la hora (_time_field=timestamp).")


def _instant(text: str) -> float:
    """Seconds since the epoch of an RFC 3339 time with any number of decimals."""
    match = RFC3339.match(text.strip())
    assert match, f"Hora que no entiendo: {text!r}."
    zone = "+00:00" if match["zone"] in ("Z", "z") else match["zone"]
    return datetime.fromisoformat(match["whole"] + zone).timestamp() + float("0" + (match["fraction"] or ""))


@check("envio.etiquetas_acotadas", points=2, needs=("logs",))
def labels_are_bounded(ctx):
    """Los flujos (etiquetas) son pocos y acotados: `service` sí, request_id o client_ip nunca."""
    _traffic(ctx)
    streams = _store(ctx).streams()
    keys = {k for s in streams for k in re.findall(r'([\w.]+)="', s)}
    bad = sorted(k for k in keys if k in HIGH_CARDINALITY)
    assert not bad, (f"Usas como etiqueta de flujo {', '.join(bad)}: un valor distinto por "
                     f"petición crea un flujo por petición ({len(streams)} flujos). Deja esos "
                     "campos como campos normales (se buscan igual) y en _stream_fields solo "
                     "service (y level).")
    assert "service" in keys, ("Los flujos no distinguen el servicio: añade service a "
                               f"_stream_fields (flujos: {streams[:4]}).")
    assert len(streams) <= MAX_STREAMS, f"{len(streams)} flujos: demasiados (máximo {MAX_STREAMS})."


@check("envio.descarta_ruido", points=1, needs=("logs",))
def health_lines_dropped(ctx):
    """Las líneas de las sondas `/health/...` se descartan en el envío; las demás no."""
    traffic = _traffic(ctx)
    stored = sum(len(_by_id(ctx, rid)) for rid in traffic.health_ids)
    assert stored == 0, (f"Llegan {stored} líneas de /health/live al almacén: descártalas en el "
                         "envío con un filter sobre el campo http_path.")
    assert _by_id(ctx, traffic.ids[2]), "Tu filtro descarta también las líneas de /items."


@check("envio.no_json", points=1, needs=("logs",))
def raw_lines_survive(ctx):
    """Una línea que no es JSON llega igualmente (como texto), sin bloquear el envío."""
    traffic = _traffic(ctx)
    store = _store(ctx)
    found = store.wait_count(f'"{traffic.raw_marker}"', 1, timeout=5)
    assert found >= 1, (
        "La línea de texto que no es JSON no llegó al almacén: si json-parser() falla, "
        "syslog-ng descarta el mensaje en ese camino. Añade una rama para el texto "
        "(if { parser(...); } else { ... }) que la envíe con el texto como mensaje.")


@check("envio.sin_secretos", points=2, needs=("logs",))
def no_secrets_stored(ctx):
    """Ningún secreto (token, cabecera Authorization, password= en una línea de texto) llega al almacén."""
    leaked = [row for row in _everything(ctx) if SECRET in json.dumps(row, ensure_ascii=False)]
    assert not leaked, (
        f"{len(leaked)} línea(s) del almacén contienen un secreto, p. ej.: "
        f"{leaked[0].get('_msg', '')[:120]!r}. El servicio ya redacta sus líneas JSON (15.7), pero "
        "las de texto de otras bibliotecas no: redacta password=… con un rewrite subst() antes del envío.")


@check("consultas.peticion", points=2, needs=("logs",))
def request_query(ctx):
    """Tu consulta `peticion` devuelve exactamente las líneas de una petición en los dos servicios."""
    traffic = _traffic(ctx)
    rid = traffic.ids[3]
    template = _queries(ctx)["peticion"]
    assert "{request_id}" in template, "La consulta peticion debe contener {request_id}."
    rows = _query(ctx, template.replace("{request_id}", rid), "peticion")
    expected = _lines_in_files(ctx, rid)
    services = {r.get("service") for r in rows}
    assert len(rows) == expected, (f"Tu consulta devuelve {len(rows)} líneas para {rid} y en los "
                                   f"ficheros hay {expected}.")
    assert set(ALIASES) <= services, f"Solo aparecen los servicios {sorted(services)}: deben salir los dos."
    assert all(r.get("request_id") == rid for r in rows), "Devuelve líneas de otras peticiones."


@check("consultas.errores_por_ruta", points=2, needs=("logs",))
def errors_per_route(ctx):
    """Tu consulta `errores_por_ruta` cuenta bien los 5xx por ruta en los últimos 5 minutos."""
    traffic = _traffic(ctx)
    logsql = _queries(ctx)["errores_por_ruta"]
    assert "_time:" in logsql, "La consulta errores_por_ruta debe acotar la ventana (_time:5m)."
    rows = _query(ctx, logsql, "errores_por_ruta")
    got = {}
    for row in rows:
        numbers = [v for k, v in row.items() if k != "http_path" and str(v).isdigit()]
        assert "http_path" in row and numbers, (
            f"Cada fila debe tener http_path y un recuento: {row}. Usa stats by (http_path) count().")
        got[row["http_path"]] = int(numbers[0])
    assert got == traffic.errors, (f"Tu consulta da {got or 'nada'} y el corrector provocó "
                                   f"{traffic.errors} errores 5xx por ruta. Filtra status_code:>=500 "
                                   "(una línea por petición) y agrupa por http_path.")


def _interleaved_copy(ctx, traffic: Traffic, tag: str) -> list[dict]:
    """The stored lines of one real request (no 5xx, so errores_por_ruta stays exact),
    as the student's pipeline stored them, under a new request id and with timestamps
    that alternate between the two services: the store returns a query's lines stream by
    stream, so only a query that sorts by time gets them in order."""
    for rid in traffic.ids:
        rows = _by_id(ctx, rid)
        services = {r.get("service") for r in rows}
        statuses = [str(r.get("status_code", "")) for r in rows]
        if set(ALIASES) <= services and not any(s.startswith("5") for s in statuses):
            break
    else:
        raise Blocked("Bloqueada: ninguna petición del corrector llegó desde los dos servicios "
                      "sin errores (el motivo está en envio.lineas_completas o consultas.peticion).")
    by_service = {alias: [r for r in rows if r.get("service") == alias] for alias in ALIASES}
    order = [row for pair in zip(*by_service.values()) for row in pair]
    order += [r for r in rows if r not in order]
    start = time.time() - 60
    copies = []
    for n, row in enumerate(order):
        renamed = json.loads(json.dumps(row).replace(rid, tag))
        record = {k: v for k, v in renamed.items() if not k.startswith("_")}
        record["_msg"] = renamed.get("_msg", "")
        record["timestamp"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(start + n)) + "Z"
        copies.append(record)
    return copies


@check("consultas.orden", points=1, needs=("logs",))
def request_query_is_ordered(ctx):
    """Tu consulta `peticion` devuelve las líneas ordenadas por tiempo aunque vengan de dos servicios."""
    traffic = _traffic(ctx)
    template = _queries(ctx)["peticion"]
    assert "{request_id}" in template, "La consulta peticion debe contener {request_id}."
    tag = f"orden-{ctx.run_id[-6:]}"
    copies = _interleaved_copy(ctx, traffic, tag)
    store = _store(ctx)
    answer = store.jsonline(copies, msg_field="_msg", time_field="timestamp")
    stored = store.wait_count(f'request_id:="{tag}" or "{tag}"', len(copies), timeout=5)
    if stored < len(copies):
        raise RuntimeError(f"el almacén guardó {stored} de las {len(copies)} líneas de prueba "
                           f"(HTTP {answer.status_code}: {answer.text[:200]})")
    rows = _query(ctx, template.replace("{request_id}", tag), "peticion")
    if len(rows) != len(copies):
        raise Blocked(f"Bloqueada: para una petición con {len(copies)} líneas repartidas entre los "
                      f"dos servicios tu consulta peticion devuelve {len(rows)}, así que no se puede "
                      "juzgar su orden (el motivo está en consultas.peticion o envio.campos).")
    times = [_instant(r["_time"]) if r.get("_time") else None for r in rows]
    assert None not in times, ("Tu consulta no devuelve _time en cada línea: sin la hora no se ve "
                               "el orden (no la quites con fields).")
    ascending, descending = times == sorted(times), times == sorted(times, reverse=True)
    assert ascending or descending, (
        "Tu consulta devuelve las líneas de la petición agrupadas por servicio (el almacén responde "
        "flujo a flujo), no en el orden en que ocurrieron: "
        + ", ".join(f"{r.get('service')}@{t - min(times):.0f}s" for r, t in zip(rows, times))
        + ". Añade | sort by (_time).")


@check("retencion.configurada", points=1, needs=("logs",))
def retention_is_set(ctx):
    """La retención está fijada (entre 1 día y 1 año) y el almacén rechaza lo más antiguo."""
    value = _retention(ctx)
    seconds = _seconds(value)
    assert seconds is not None, (f"retencion: {value!r} no es una duración como 14d, 4w o 1y "
                                 "(número y unidad h, d, w o y).")
    assert RETENTION_MIN_S <= seconds <= RETENTION_MAX_S, (
        f"retencion: {value} está fuera de lo razonable para el laboratorio (entre 1d y 1y).")
    store = _store(ctx)
    old = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - seconds - 2 * 86400))
    marker = f"antigua-{ctx.run_id[-6:]}"
    store.jsonline([{"event": marker, "timestamp": old, "service": "corrector"}])
    store.jsonline([{"event": f"{marker}-reciente", "service": "corrector"}], time_field="ninguno")
    assert store.wait_count(f'"{marker}-reciente"', 1, timeout=5) == 1, "El almacén no guarda una línea actual."
    assert store.count(f'"{marker}"') == 1, "El almacén guardó una línea más antigua que la retención."


@check("envio.rafaga", points=1, needs=("logs",))
def burst_arrives_complete(ctx):
    """Una ráfaga de 20 000 líneas llega entera: el agente frena la lectura en vez de descartar."""
    traffic = _traffic(ctx)
    assert traffic.seconds_to_arrive is not None, (
        "Ni siquiera el tráfico normal llega entero al almacén (envio.lineas_completas): no "
        "se prueba la ráfaga.")
    tag = f"rafaga-{ctx.run_id[-6:]}"
    lines = logsynth.lines(BURST, seed=9)
    for n, line in enumerate(lines):
        line["request_id"] = f"{tag}-{n:05d}"
    # The store stalls while the burst is written (SIGSTOP, as a slow or overloaded store
    # would): the shipper's queue is the only buffer, on any machine, however fast.
    store = _store(ctx)
    os.kill(store.process.popen.pid, signal.SIGSTOP)
    try:
        with (_pipeline(ctx).logs_dir / "catalogo-1.log").open("a") as log:
            log.write("".join(json.dumps(line) + "\n" for line in lines))
        time.sleep(STALL_S)
    finally:
        os.kill(store.process.popen.pid, signal.SIGCONT)
    found = store.wait_count(f'request_id:"{tag}"* or "{tag}"*', BURST, timeout=BURST_S)
    assert found == BURST, (
        f"De una ráfaga de {BURST} líneas con el almacén parado {STALL_S} s llegaron {found} en "
        f"{BURST_S} s. Cuando la cola del destino se llena, syslog-ng descarta lo que no cabe: pon "
        "flags(flow-control) en el log (y una ventana de lectura grande en la fuente: "
        "log-iw-size(20000)).")


STORE_DOWN_S = 2                        # the store is really down this long
REOPEN_S = 10                           # the lines written meanwhile arrive within this
REOPEN_LINES = 50


@check("envio.reconecta", points=1, needs=("logs",))
def shipper_reconnects_soon(ctx):
    """Si el almacén se cae y vuelve, lo escrito mientras tanto llega en pocos segundos (time-reopen)."""
    traffic = _traffic(ctx)
    if traffic.seconds_to_arrive is None:
        raise Blocked("Bloqueada: ni el tráfico normal llega entero al almacén (el motivo está en "
                      "envio.lineas_completas).")
    tag = f"caida-{ctx.run_id[-6:]}"
    lines = logsynth.lines(REOPEN_LINES, seed=11, errors=0)
    for n, line in enumerate(lines):
        line["request_id"] = f"{tag}-{n:03d}"
    store = _store(ctx)
    # Stopped for real (not frozen, as in envio.rafaga): the shipper's HTTP requests are
    # refused, and syslog-ng waits time-reopen() before it tries again (60 s by default).
    store.close()
    try:
        with (_pipeline(ctx).logs_dir / "catalogo-1.log").open("a") as log:
            log.write("".join(json.dumps(line) + "\n" for line in lines))
        time.sleep(STORE_DOWN_S)
    finally:
        store = store.restart()   # same port, same data
        ctx.forget("store")
        ctx.memo("store", lambda: store)
    found = store.wait_count(f'request_id:"{tag}"* or "{tag}"*', REOPEN_LINES, timeout=REOPEN_S)
    assert found == REOPEN_LINES, (
        f"El almacén estuvo caído {STORE_DOWN_S} s; {REOPEN_S} s después de volver han llegado "
        f"{found} de las {REOPEN_LINES} líneas escritas mientras tanto. syslog-ng espera "
        "time-reopen() antes de reintentar (60 s por defecto): pon time-reopen(1) en options.")


# --- task items → checks (format in CONTRIBUTING.md; tests/test_task_items.py keeps it in sync)
TASK_ITEMS: dict[str, tuple[str, ...]] = {
    "1.1": ("envio.config_valida", "envio.lineas_completas"),  # both *.log files, no-parse
    "1.2": ("envio.campos",),
    "1.3": ("envio.descarta_ruido",),
    "1.4": ("envio.no_json", "envio.sin_secretos"),
    "1.5": ("envio.config_valida", "envio.campos", "envio.hora", "envio.etiquetas_acotadas"),
    "1.6": ("envio.lineas_completas",),                        # without it nothing is stored
    "1.7": ("envio.rafaga",),
    "1.8": ("envio.reconecta",),
    "2.1": ("consultas.peticion", "consultas.orden"),
    "2.2": ("consultas.errores_por_ruta",),
    "3": ("retencion.configurada",),
}
UNTASKED: dict[str, str] = {}
KNOWN_GAPS: dict[str, str] = {}

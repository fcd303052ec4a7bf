"""course.logstore under bad input, with the real store and shipper (local processes):
the store goes down (the service is not slowed down, the shipper retries and delivers
once it is back) or fills up (429, reported and retried), a burst of lines (none lost), a
shipper configuration syslog-ng rejects (the grader says so in Spanish and still cleans
everything up)."""
import json
import os
import time

import httpx
import pytest

from course import logstore, logsynth, processes
from course import docker as cdocker
from grader.grade import grade
from tests.test_grader_lab09 import SOLVED, submit_dir


@pytest.fixture
def pipeline():
    if logstore.missing():
        reason = f"faltan {', '.join(logstore.missing())} (bash scripts/install_logs.sh)"
        if os.environ.get("TEMA15_REQUIERE_LOGS"):
            pytest.fail(f"TEMA15_REQUIERE_LOGS está activo pero {reason}")
        pytest.skip(reason)
    run = cdocker.new_run_id()
    with logstore.Pipeline(run) as p:
        yield p
    assert processes.leftovers(run) == []


def _mean_ms(url: str, tag: str, n: int = 20) -> float:
    with httpx.Client(timeout=10, trust_env=False) as http:
        started = time.perf_counter()
        for i in range(n):
            assert http.get(f"{url}/items/1", headers={"X-Request-ID": f"{tag}-{i}"}).status_code == 200
    return (time.perf_counter() - started) / n * 1000


def test_store_down_does_not_block_the_service_and_the_shipper_retries(pipeline):
    store = pipeline.store()
    url = pipeline.service("catalogo-1")
    pipeline.shipper(SOLVED["SYSLOG_NG_CONF"], store)
    up = _mean_ms(url, "arriba")
    store.close()
    down = _mean_ms(url, "caido")
    assert down < max(3 * up, up + 20), f"el servicio se frena sin almacén: {up:.1f} → {down:.1f} ms"
    time.sleep(1.5)  # the shipper has failed at least once and is waiting to retry
    store = store.restart()
    assert store.wait_count('request_id:"caido-"*', 40, timeout=20) == 40
    assert store.count('request_id:"arriba-"*') == 40   # the data survived the restart


def test_a_burst_of_lines_arrives_complete(pipeline):
    store = pipeline.store()
    pipeline.shipper(SOLVED["SYSLOG_NG_CONF"], store)
    lines = logsynth.lines(20_000)
    with (pipeline.logs_dir / "rafaga.log").open("a") as out:
        out.write("".join(json.dumps(r) + "\n" for r in lines))
    assert store.wait_count("*", len(lines), timeout=60) == len(lines)


def test_a_config_syslog_ng_rejects_is_reported_not_crashed(tmp_path, graded_as_on_binder):
    if logstore.missing():
        pytest.skip("faltan los binarios de 15.9")
    broken = SOLVED["SYSLOG_NG_CONF"].replace("json-parser(prefix", "json-parse(prefix")
    result = grade(submit_dir(tmp_path, config=broken), "lab09")
    got, says = result.statuses(), result.messages()
    assert got["envio.config_valida"] == "failed" and "--syntax-only" in says["envio.config_valida"]
    assert "syslog-ng rechaza" in says["envio.lineas_completas"]
    assert got["retencion.configurada"] == "passed"
    assert "error" not in got.values() and result.score < 0.5
    assert processes.leftovers(result.run_id) == []


def test_store_full_is_reported_and_retried_without_blocking_the_service(pipeline):
    """VictoriaLogs without free disk (forced with -storage.minFreeDiskSpaceBytes) goes
    read-only and answers 429; syslog-ng logs it and keeps retrying; the service runs on."""
    store = pipeline.store(extra=["-storage.minFreeDiskSpaceBytes=1000000000000000"])
    answer = store.jsonline([{"event": "sin-sitio", "service": "prueba"}])
    assert answer.status_code == 429 and "read-only" in answer.text
    url = pipeline.service("catalogo-1")
    shipper = pipeline.shipper(SOLVED["SYSLOG_NG_CONF"], store)
    assert _mean_ms(url, "lleno") < 200
    deadline = time.monotonic() + 10
    while "status_code='429'" not in shipper.tail(50) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert "status_code='429'" in shipper.tail(50) and "trying again" in shipper.tail(50)
    assert shipper.alive() and store.count("*") == 0

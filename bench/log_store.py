"""Section 15.9's log store on this machine: ingest rate through each API VictoriaLogs
speaks (JSON lines, Loki push, Elasticsearch bulk), query latency (one request_id, 5xx per
route, a word), syslog-ng's end-to-end rate (file → parse → HTTP → searchable), and the
cardinality experiment (request_id as a stream field vs bounded fields) at a larger size
than the notebook's. Ratios come from one run on the same machine.

Run: .venv/bin/python bench/log_store.py [lines]   (needs scripts/install_logs.sh; ~1 minute)
"""
from __future__ import annotations

import json
import sys
import time
from datetime import datetime

import nbformat

from results_io import show_and_save  # sibling module (run as a script)
from course import REPO_ROOT, logstore, logsynth
from course import docker as cdocker

SOLUTION = REPO_ROOT / "solutions" / "lab09_logs.ipynb"
BATCH = 2000


def _loki_body(records: list[dict]) -> dict:
    streams: dict[tuple, list] = {}
    for r in records:
        key = (r["service"], r["level"])
        ns = int(datetime.fromisoformat(r["timestamp"].replace("Z", "+00:00")).timestamp() * 1e9)
        streams.setdefault(key, []).append([str(ns), json.dumps(r)])
    return {"streams": [{"stream": {"service": s, "level": lv}, "values": v}
                        for (s, lv), v in streams.items()]}


def ingest_rates(pipeline: logstore.Pipeline, records: list[dict]) -> dict[str, float]:
    """Lines per second through each ingestion API, each into a fresh store."""
    rates = {}
    for api in ("jsonline", "loki", "elasticsearch"):
        store = pipeline.store(name=f"api-{api}")
        started = time.perf_counter()
        for i in range(0, len(records), BATCH):
            chunk = records[i:i + BATCH]
            if api == "jsonline":
                answer = store.jsonline(chunk, stream_fields=logsynth.BOUNDED)
            elif api == "loki":
                answer = store.http.post("/insert/loki/api/v1/push", json=_loki_body(chunk),
                                         params={"_msg_field": "event"})
            else:
                answer = store.bulk_es(chunk, stream_fields=logsynth.BOUNDED, msg_field="event",
                                       time_field="timestamp")
            answer.raise_for_status()
        store.flush()
        rates[api] = len(records) / (time.perf_counter() - started)
        assert store.count("*") == len(records), f"{api}: faltan líneas"
        store.close()
    return rates


def shipper_rate(pipeline: logstore.Pipeline, records: list[dict]) -> float:
    """syslog-ng with the lab's solution: a file of JSON lines to searchable, lines/s."""
    namespace: dict = {}
    for cell in nbformat.read(SOLUTION, as_version=4).cells:
        if "SYSLOG_NG_CONF = r'''" in cell.source:
            exec(cell.source.split("### END SOLUTION")[0], namespace)
    store = pipeline.store(name="agente")
    with (pipeline.logs_dir / "bench.log").open("w") as out:
        for r in records:
            out.write(json.dumps(r) + "\n")
    started = time.perf_counter()
    pipeline.shipper(namespace["SYSLOG_NG_CONF"], store)
    arrived = store.wait_count("*", len(records), timeout=300)
    seconds = time.perf_counter() - started
    assert arrived == len(records), f"el agente entregó {arrived} de {len(records)} líneas"
    return len(records) / seconds


def main(n: int = 100_000) -> dict:
    records = logsynth.lines(n)
    with cdocker.run_scope() as run, logstore.Pipeline(run) as pipeline:
        rates = ingest_rates(pipeline, records)
        shipped = shipper_rate(pipeline, records[: n // 2])
        bounded = logsynth.measure(pipeline.store(name="acotadas"), records, logsynth.BOUNDED)
        unbounded = logsynth.measure(pipeline.store(name="request-id"), records, logsynth.UNBOUNDED)
        word = pipeline.store(name="palabra")
        word.jsonline(records, stream_fields=logsynth.BOUNDED).raise_for_status()
        word.flush()
        started = time.perf_counter()
        for _ in range(5):
            word.query("peticion_terminada | stats count() n")
        word_ms = (time.perf_counter() - started) / 5 * 1000
    results = {
        "lineas": n,
        "ingesta_jsonline_lineas_s": rates["jsonline"],
        "ingesta_loki_lineas_s": rates["loki"],
        "ingesta_bulk_es_lineas_s": rates["elasticsearch"],
        "agente_syslog_ng_lineas_s": shipped,
        "consulta_request_id_ms": bounded.query_id_ms,
        "consulta_5xx_por_ruta_ms": bounded.query_stats_ms,
        "consulta_palabra_y_recuento_ms": word_ms,
        "flujos_acotados": bounded.streams,
        "flujos_con_request_id": unbounded.streams,
        "disco_acotadas_bytes_por_linea": bounded.disk_bytes / n,
        "disco_con_request_id_bytes_por_linea": unbounded.disk_bytes / n,
        "ratio_disco_request_id": unbounded.disk_bytes / bounded.disk_bytes,
        "ratio_ingesta_acotadas_vs_request_id": bounded.lines_per_s / unbounded.lines_per_s,
        "ratio_consulta_5xx_request_id": unbounded.query_stats_ms / bounded.query_stats_ms,
        "ratio_consulta_un_id_request_id": unbounded.query_id_ms / bounded.query_id_ms,
    }
    show_and_save("VictoriaLogs y syslog-ng en esta máquina", "log_store", results)
    return results


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)

"""Lab 09 end to end with the real store and shipper (local processes, no engine): the
solution scores 100 %, the untouched lab fails cleanly, each typical mistake is caught by
its own check with a Spanish message, and a valid alternative (two file sources, the
Elasticsearch bulk API, other LogsQL spellings) scores 100 %.

Faulty submissions are directories (graded without executing a notebook); each carries
several independent mistakes, so one grading run covers several checks."""
import os
import re

import nbformat
import pytest
import yaml

from course import REPO_ROOT, logstore, processes
from grader.grade import grade
from tests.conftest import assert_full_marks

SOLUTION = REPO_ROOT / "solutions" / "lab09_logs.ipynb"
LAB = REPO_ROOT / "labs" / "lab09_logs.ipynb"
MARKED = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)


def solution_values() -> dict:
    """SYSLOG_NG_CONF, CONSULTAS and ALMACEN as the solution defines them."""
    namespace: dict = {}
    for cell in nbformat.read(SOLUTION, as_version=4).cells:
        for block in MARKED.findall(cell.source):
            exec(block, namespace)  # plain assignments of string and dict literals
    return namespace


SOLVED = solution_values()


@pytest.fixture(autouse=True)
def pipeline_binaries(graded_as_on_binder):
    """The lab needs VictoriaLogs and syslog-ng (scripts/install_logs.sh); nothing in Docker."""
    if logstore.missing():
        reason = f"faltan {', '.join(logstore.missing())} (bash scripts/install_logs.sh)"
        if os.environ.get("TEMA15_REQUIERE_LOGS"):
            pytest.fail(f"TEMA15_REQUIERE_LOGS está activo pero {reason}")
        pytest.skip(reason)


def submit_dir(tmp_path, *, config=None, queries=None, store=None):
    folder = tmp_path / "entrega-lab09"
    (folder / "logs").mkdir(parents=True)
    (folder / "logs" / "syslog-ng.conf").write_text(config or SOLVED["SYSLOG_NG_CONF"])
    (folder / "logs" / "consultas.yml").write_text(
        yaml.safe_dump(queries or SOLVED["CONSULTAS"], allow_unicode=True, width=200))
    (folder / "logs" / "almacen.yml").write_text(yaml.safe_dump(store or SOLVED["ALMACEN"]))
    return folder


def graded(submission, lab=None):
    result = grade(submission, lab)
    assert processes.leftovers(result.run_id) == [], "procesos del corrector sin detener"
    return result


def test_solution_scores_everything():
    result = graded(SOLUTION)
    assert_full_marks(result, "lab09", min_checks=8)


def test_untouched_lab_fails_cleanly():
    result = graded(LAB)
    assert result.execution.status == "error_en_celda"
    assert "TU CÓDIGO AQUÍ" in result.execution.message
    assert result.score < 0.5 and not result.success
    assert "error" not in result.statuses().values(), result.to_markdown()
    assert "No existe logs/syslog-ng.conf" in result.messages()["envio.config_valida"]


# Mistakes: request_id as a stream label, no drop rule for the probes, no branch for
# non-JSON lines, no flow control (a burst is partly dropped), a retention without unit,
# a 5xx query without a time window, no time-reopen (60 s before retrying a store that
# was down).
SOL = SOLVED["SYSLOG_NG_CONF"]
WINDOW = SOL[SOL.index("\n                # Ventana"):SOL.index(" log-fetch-limit(2000)") + len(" log-fetch-limit(2000)")]
LABELLED_UNFILTERED = (SOL.replace("_stream_fields=service,level", "_stream_fields=service,request_id")
                       .replace("if { parser(p_json); filter(f_ruido); }\n", "parser(p_json);\n")
                       .replace('  else { filter { not message("^[[:space:]]*\\\\{"); }; rewrite(r_texto); };\n', "")
                       .replace("  flags(flow-control);\n", "")
                       .replace("time-reopen(1); ", "")
                       .replace(WINDOW, ""))


def test_labels_drops_raw_lines_retention_and_window_are_caught(tmp_path):
    assert LABELLED_UNFILTERED.count("request_id") == 1 and "else {" not in LABELLED_UNFILTERED
    assert "flags(flow-control)" not in LABELLED_UNFILTERED
    queries = {**SOLVED["CONSULTAS"],
               "errores_por_ruta": "status_code:>=500 | stats by (http_path) count() errores"}
    result = graded(submit_dir(tmp_path, config=LABELLED_UNFILTERED, queries=queries,
                               store={"retencion": "14"}), "lab09")
    got, says = result.statuses(), result.messages()
    assert got["envio.etiquetas_acotadas"] == "failed" and "request_id" in says["envio.etiquetas_acotadas"]
    assert got["envio.descarta_ruido"] == "failed" and "/health/live" in says["envio.descarta_ruido"]
    assert got["envio.no_json"] == "failed" and "no es JSON" in says["envio.no_json"]
    assert got["retencion.configurada"] == "failed" and "14d" in says["retencion.configurada"]
    assert got["consultas.errores_por_ruta"] == "failed" and "_time:5m" in says["consultas.errores_por_ruta"]
    assert got["envio.rafaga"] == "failed" and "flow-control" in says["envio.rafaga"]
    assert got["envio.reconecta"] == "failed" and "time-reopen(1)" in says["envio.reconecta"]
    for ok in ("envio.config_valida", "envio.lineas_completas", "envio.campos",
               "envio.sin_secretos", "consultas.peticion"):
        assert got[ok] == "passed", (ok, says[ok])
    assert "error" not in got.values()


# Mistakes: the whole JSON line shipped as one text (no parsing), so the probes are not
# dropped either and the secret in a third-party text line is not redacted.
UNPARSED = """\
@version: 3.38
source s { wildcard-file(base-dir("`LOGS_DIR`") filename-pattern("*.log") flags(no-parse)
                         follow-freq(0.2)); };
rewrite r_servicio { set("$(basename ${FILE_NAME})" value("service"));
                     subst("\\\\.log$", "", value("service")); };
destination d { http(url("`VLOGS_URL`/insert/jsonline?_stream_fields=service&_msg_field=event")
                     method("POST") headers("Content-Type: application/x-ndjson")
                     body("$(format-json service=${service} event=${MESSAGE})")
                     batch-lines(100) batch-timeout(300)); };
log { source(s); rewrite(r_servicio); destination(d); };
"""


def test_unparsed_lines_and_leaked_secret_are_caught(tmp_path):
    result = graded(submit_dir(tmp_path, config=UNPARSED), "lab09")
    got, says = result.statuses(), result.messages()
    assert got["envio.campos"] == "failed" and "json-parser" in says["envio.campos"]
    assert got["envio.sin_secretos"] == "failed" and "subst()" in says["envio.sin_secretos"]
    assert got["envio.descarta_ruido"] == "failed"
    for ok in ("envio.config_valida", "envio.lineas_completas", "envio.etiquetas_acotadas",
               "envio.no_json", "retencion.configurada"):
        assert got[ok] == "passed", (ok, says[ok])
    assert "error" not in got.values()


def test_missing_content_type_is_caught(tmp_path):
    """Without it libcurl posts a form: VictoriaLogs answers 200 and stores nothing."""
    config = SOL.replace('       headers("Content-Type: application/x-ndjson")\n', "")
    assert config != SOL
    result = graded(submit_dir(tmp_path, config=config), "lab09")
    got, says = result.statuses(), result.messages()
    assert got["envio.lineas_completas"] == "failed"
    assert "Content-Type: application/x-ndjson" in says["envio.lineas_completas"]
    assert got["envio.config_valida"] == "passed" and got["retencion.configurada"] == "passed"
    assert result.score < 0.5 and "error" not in got.values()


def test_arrival_time_and_unsorted_query_are_caught(tmp_path):
    """Without _time_field VictoriaLogs stamps each line when it arrives: the query by
    time (errores_por_ruta, retention) would judge the wrong moment."""
    config = SOL.replace("&_time_field=timestamp", "")
    assert config != SOL
    # And a request query without | sort by (_time): the store answers stream by stream.
    queries = {**SOLVED["CONSULTAS"], "peticion": 'request_id:="{request_id}"'}
    result = graded(submit_dir(tmp_path, config=config, queries=queries), "lab09")
    got, says = result.statuses(), result.messages()
    assert got["envio.hora"] == "failed", result.to_markdown()
    assert "_time_field=timestamp" in says["envio.hora"]
    assert got["consultas.orden"] == "failed", says["consultas.orden"]
    assert "agrupadas por servicio" in says["consultas.orden"]
    assert "sort by (_time)" in says["consultas.orden"]
    for ok in ("envio.lineas_completas", "envio.campos", "envio.etiquetas_acotadas",
               "consultas.peticion"):
        assert got[ok] == "passed", (ok, says[ok])
    assert "error" not in got.values()


# A valid alternative: one file() source per service, the Elasticsearch bulk API, the
# probes dropped before parsing, other LogsQL spellings (newest line first), a retention
# in weeks, another short time-reopen.
ALTERNATIVE = r"""@version: 3.38
options { time-reopen(2); };
source s_uno { file("`LOGS_DIR`/catalogo-1.log" flags(no-parse) follow-freq(0.2) log-iw-size(25000)); };
source s_dos { file("`LOGS_DIR`/catalogo-2.log" flags(no-parse) follow-freq(0.2)); };
rewrite r_uno { set("catalogo-1" value("service")); };
rewrite r_dos { set("catalogo-2" value("service")); };
filter f_sondas { not message("\"http_path\": ?\"/health"); };  # compact JSON or not
rewrite r_secretos { subst("password=[^ ]+", "password=***", value("MESSAGE") flags(global)); };
destination d_es {
  http(url("`VLOGS_URL`/insert/elasticsearch/_bulk?_msg_field=msg&_time_field=ts&_stream_fields=service")
       method("POST") headers("Content-Type: application/x-ndjson")
       body("{\"create\":{}}\n$(format-json --key log.* --rekey log.* --shift 4 service=${service} msg=${log.event} ts=${log.timestamp})")
       batch-lines(100) batch-timeout(250));
};
destination d_texto {
  http(url("`VLOGS_URL`/insert/elasticsearch/_bulk?_msg_field=msg&_stream_fields=service")
       method("POST") headers("Content-Type: application/x-ndjson")
       body("{\"create\":{}}\n$(format-json service=${service} msg=${MESSAGE})")
       batch-lines(100) batch-timeout(250));
};
log {
  junction {
    channel { source(s_uno); rewrite(r_uno); };
    channel { source(s_dos); rewrite(r_dos); };
  };
  filter(f_sondas);
  if { parser { json-parser(prefix("log.")); }; destination(d_es); }
  else { rewrite(r_secretos); destination(d_texto); };
  flags(flow-control);
};
"""


def test_valid_alternative_scores_everything(tmp_path):
    queries = {"peticion": 'request_id:"{request_id}" | sort by (_time) desc',
               "errores_por_ruta": '_time:5m status_code:~"^5" | stats by (http_path) count(*) n'}
    result = graded(submit_dir(tmp_path, config=ALTERNATIVE, queries=queries,
                               store={"retencion": "4w"}), "lab09")
    assert result.score == 1.0, result.to_markdown()
    assert result.verifiable_points == result.total_points


def test_the_grader_reads_compact_and_spaced_json_and_never_compares_with_nothing():
    """The service writes compact JSON (orjson); a student's service may add spaces. With
    no line of its own request in the files, the grader reports its own error instead of
    comparing the store with nothing (which would pass vacuously)."""
    from grader.labs import lab09

    class Pipeline:
        lines = {"catalogo-1": ['{"request_id":"r-1","event":"a"}', "texto r-1 sin JSON",
                                '{"request_id": "r-1", "http_path": "/health/live"}'],
                 "catalogo-2": ['{"request_id": "r-1", "event": "b"}', '{"request_id":"r-10"}']}

        def log_lines(self, alias):
            return self.lines[alias]

    class Ctx:
        def memo(self, key, make):
            assert key == "pipeline"
            return Pipeline()

    assert lab09._lines_in_files(Ctx(), "r-1") == 2
    with pytest.raises(RuntimeError, match="no encuentra"):
        lab09._lines_in_files(Ctx(), "r-2")

"""deploy/prometheus, deploy/grafana and deploy/compose/observabilidad.yml (section 15.8):
promtool and amtool accept the configuration and the rules (and the rules' unit tests
pass), the Grafana provisioning files fit together, and a real Prometheus started by
Compose, scraping a real service container, returns data for every dashboard query."""
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import promql_parser
import pytest
import yaml

from course import REPO_ROOT, env, images, prom, traffic
from course import docker as cdocker
from course import imagebuild
from course.processes import free_port

DEPLOY = REPO_ROOT / "deploy"
PROMETHEUS_DIR = DEPLOY / "prometheus"
GRAFANA_DIR = DEPLOY / "grafana"
COMPOSE_FILE = DEPLOY / "compose" / "observabilidad.yml"
DATASOURCES = GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml"
PROVIDERS = GRAFANA_DIR / "provisioning" / "dashboards" / "catalogo.yml"
DASHBOARD = GRAFANA_DIR / "dashboards" / "catalogo.json"
# Grafana's $__rate_interval: max(4 × the datasource's timeInterval (5s), …) = 20s here.
GRAFANA_VARS = {"$__rate_interval": "20s"}


def prometheus_files() -> dict[str, str]:
    return {p.name: p.read_text() for p in PROMETHEUS_DIR.glob("*.yml")}


def panel_queries() -> list[tuple[str, str]]:
    queries = []
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        for target in panel["targets"]:
            expr = target["expr"]
            for var, value in GRAFANA_VARS.items():
                expr = expr.replace(var, value)
            queries.append((panel["title"], expr))
    return queries


# --- without an engine -----------------------------------------------------------------

def test_grafana_provisioning_fits_together():
    datasources = yaml.safe_load(DATASOURCES.read_text())
    assert datasources["apiVersion"] == 1
    (source,) = datasources["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    providers = yaml.safe_load(PROVIDERS.read_text())["providers"]
    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    grafana_mounts = compose["services"]["grafana"]["volumes"]
    # the provider reads the folder where Compose mounts deploy/grafana/dashboards
    assert f"../grafana/dashboards:{providers[0]['options']['path']}:ro" in grafana_mounts
    assert "../grafana/provisioning:/etc/grafana/provisioning:ro" in grafana_mounts
    dashboard = json.loads(DASHBOARD.read_text())
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == source["uid"], panel["title"]
        for target in panel["targets"]:
            assert target.get("datasource", panel["datasource"])["uid"] == source["uid"]
    exprs = [expr for _, expr in panel_queries()]
    for expr in exprs:
        promql_parser.parse(expr)  # raises ValueError on invalid PromQL
    assert any(e.startswith("sum(rate(http_requests_total") and 'status=~"5.."' in e
               and ") / sum(rate(" in e for e in exprs), "panel del ratio de errores"
    assert any(e.startswith("histogram_quantile(0.95, sum by (le)") for e in exprs), "panel del p95"
    assert any("rate(http_requests_total" in e and "5.." not in e for e in exprs), "tasa de peticiones"
    assert any("catalogo_items" in e for e in exprs), "panel de negocio"


def test_compose_file_is_valid():
    if not env.has("compose"):
        pytest.skip(f"sin docker compose ({env.get('compose').detail})")

    def services(*profiles: str) -> set[str]:
        flags = [arg for profile in profiles for arg in ("--profile", profile)]
        done = subprocess.run(["docker", "compose", "-f", str(COMPOSE_FILE), *flags, "config",
                               "--services"], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        return set(done.stdout.split())

    # Behind profiles: a plain `docker compose up` of the main file starts none of them.
    assert services() == set()
    assert services("observabilidad") == {"prometheus", "alertmanager"}
    assert services("grafana") == {"prometheus", "alertmanager", "grafana"}


def test_prometheus_scrapes_the_service_of_the_main_compose_file():
    """deploy/prometheus/prometheus.yml finds the service by its Compose name."""
    main = REPO_ROOT / "docker-compose.yml"
    if not main.exists():
        pytest.skip("todavía no hay docker-compose.yml en la raíz")
    services = yaml.safe_load(main.read_text())["services"]
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "catalogo"]
    names = [n for sd in job["dns_sd_configs"] for n in sd["names"]]
    assert names and all(n in services for n in names), (names, sorted(services))
    assert all(sd["port"] == 8000 for sd in job["dns_sd_configs"])


# --- with an engine: promtool, amtool ---------------------------------------------------

@pytest.fixture(scope="module")
def tools(docker_client):
    images.ensure("prometheus")
    images.ensure("alertmanager")
    return docker_client


def test_prometheus_config_and_rules_pass_promtool(tools, run_id):
    files = prometheus_files()
    code, out = prom.promtool("check", "config", "prometheus.yml", files=files, run=run_id)
    assert code == 0 and "2 rule files found" in out, out
    code, out = prom.promtool("check", "rules", "reglas.yml", "alertas.yml", files=files, run=run_id)
    assert code == 0, out
    code, out = prom.promtool("test", "rules", "alertas_test.yml", files=files, run=run_id)
    assert code == 0 and "SUCCESS" in out, out


def test_promtool_catches_a_broken_rule(tools, run_id):
    files = prometheus_files()
    files["alertas.yml"] = files["alertas.yml"].replace("for: 2m", "for: dos minutos", 1)
    code, out = prom.promtool("check", "rules", "alertas.yml", files=files, run=run_id)
    assert code != 0 and "dos minutos" in out


def test_alertmanager_config_passes_amtool(tools, run_id):
    code, out = prom.amtool("check-config", "alertmanager.yml",
                            files={"alertmanager.yml": prometheus_files()["alertmanager.yml"]},
                            run=run_id)
    assert code == 0 and "2 receivers" in out, out


# --- with an engine: the Compose stack scraping the real service -------------------------

@pytest.fixture(scope="module")
def stack(tools, run_id):
    if not env.has("compose"):
        pytest.skip(f"sin docker compose ({env.get('compose').detail})")
    tag = imagebuild.build(REPO_ROOT / "service", f"{run_id}-catalogo:observabilidad", run=run_id,
                        quiet=True).tag
    folder = Path(tempfile.mkdtemp(prefix=f"{run_id}-"))
    compose = folder / "compose.yml"
    compose.write_text(yaml.safe_dump({
        "include": [{"path": str(COMPOSE_FILE)}],
        "services": {"api": {  # the service's name in docker-compose.yml
            "image": tag, "init": True, "ports": ["127.0.0.1::8000"],
            "healthcheck": {"interval": "2s"},  # the image's check, polled faster for --wait
            "environment": {"FAULT_ERROR_RATE": "0.2", "FAULT_EXTRA_LATENCY_MS": "20"},
            "labels": cdocker.labels(run_id)}},
    }))
    ports = {"PROMETHEUS_PORT": free_port(), "ALERTMANAGER_PORT": free_port()}
    cmd = ["docker", "compose", "-p", run_id, "-f", str(compose), "--profile", "observabilidad"]
    environ = {**os.environ, **{k: str(v) for k, v in ports.items()}}
    try:
        up = subprocess.run([*cmd, "up", "-d", "--wait", "--wait-timeout", "90"], env=environ,
                            capture_output=True, text=True, check=False)
        assert up.returncode == 0, up.stderr[-3000:]
        port = subprocess.run([*cmd, "port", "api", "8000"], env=environ, capture_output=True,
                              text=True, check=True).stdout.strip().rsplit(":", 1)[1]
        p = prom.Prometheus(None, f"http://127.0.0.1:{ports['PROMETHEUS_PORT']}")
        yield p, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{ports['ALERTMANAGER_PORT']}"
    finally:
        subprocess.run([*cmd, "down", "-v", "--timeout", "5"], env=environ, capture_output=True,
                       check=False)
        shutil.rmtree(folder, ignore_errors=True)


def test_every_dashboard_query_returns_data(stack):
    p, service, _ = stack
    p.wait_targets(1, job="catalogo", timeout=30)
    load = traffic.load({"catalogo": service}, ["/items", "/items/1", "/items/404"], seconds=10, rate=25)
    assert load.errors > 0  # FAULT_ERROR_RATE gives the error panel something to show
    p.wait_for('sum(rate(http_requests_total{job="catalogo",status=~"5.."}[20s]))',
               lambda s: bool(s) and s[0].value > 0, timeout=20)
    empty = [(title, expr) for title, expr in panel_queries() if not p.query(expr)]
    assert not empty, f"paneles sin datos: {empty}"


def test_rules_load_and_every_target_is_up(stack):
    p, service, alertmanager = stack
    traffic.load({"catalogo": service}, ["/items"], seconds=3, rate=10)  # some traffic to record
    targets = p.wait_targets(3, timeout=30)
    assert {t["job"] for t in targets if t["health"] == "up"} >= {"catalogo", "prometheus",
                                                                   "alertmanager"}, targets
    rules = p.rules()
    assert {r["type"] for r in rules} == {"recording", "alerting"}
    assert all(r["health"] in ("ok", "unknown") for r in rules), rules
    assert any(r["name"] == "CatalogoTasaErroresAlta" for r in rules)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not p.query("job:http_requests:rate1m"):
        time.sleep(1)
    assert p.query('job:http_requests:rate1m{job="catalogo"}'), "la regla de registro no produce datos"
    am = p.api("alertmanagers")["activeAlertmanagers"]
    assert any("alertmanager:9093" in a["url"] for a in am), am
    assert httpx.get(f"{alertmanager}/-/ready", timeout=5, trust_env=False).status_code == 200

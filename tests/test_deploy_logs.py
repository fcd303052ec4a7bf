"""deploy/logs (section 15.9 on a laptop): both compose profiles are valid Compose files
with pinned official images, and their configurations keep the course's rules: bounded
labels (request_id never a label), probes dropped, retention set, a provisioned Grafana
logs panel. The images cannot be pulled here: `docker compose config` is the check."""
import json
import re
import subprocess

import pytest
import yaml

from course import REPO_ROOT, env

LOGS = REPO_ROOT / "deploy" / "logs"
PROFILES = ("compose.loki.yml", "compose.elk.yml")
PINNED = re.compile(r"^[\w./-]+:v?\d+\.\d+\.\d+$")


@pytest.mark.parametrize("name", PROFILES)
def test_compose_profile_is_valid_and_pinned(name):
    if not env.has("compose"):
        pytest.skip(f"sin docker compose ({env.get('compose').detail})")
    done = subprocess.run(["docker", "compose", "-f", str(LOGS / name), "config", "--format", "json"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    services = json.loads(done.stdout)["services"]
    assert {"catalogo-1", "catalogo-2"} <= set(services)
    for service, spec in services.items():
        if "image" in spec:
            assert PINNED.match(spec["image"]), f"{service}: imagen sin versión fija ({spec['image']})"
        for port in spec.get("ports", []):
            assert port.get("host_ip") == "127.0.0.1", f"{service} publica un puerto fuera de loopback"


def test_loki_retention_and_bounded_labels():
    loki = yaml.safe_load((LOGS / "loki" / "loki.yml").read_text())
    assert loki["limits_config"]["retention_period"] == "336h"
    assert loki["compactor"]["retention_enabled"] is True      # without it nothing is deleted
    alloy = (LOGS / "loki" / "config.alloy").read_text()
    labels = re.search(r"stage\.labels \{(.*?)\n  \}", alloy, re.S)[1]
    assert "request_id" not in labels and "level" in labels
    assert "stage.structured_metadata" in alloy and "stage.drop" in alloy


def test_grafana_provisions_loki_and_a_logs_panel():
    source = yaml.safe_load((LOGS / "grafana" / "provisioning" / "datasources" / "loki.yml").read_text())
    assert source["datasources"][0]["type"] == "loki"
    dashboard = json.loads((LOGS / "grafana" / "dashboards" / "logs_catalogo.json").read_text())
    kinds = {p["type"]: p for p in dashboard["panels"]}
    assert "logs" in kinds and "request_id" in kinds["logs"]["targets"][0]["expr"]
    assert "status_code >= 500" in kinds["timeseries"]["targets"][0]["expr"]


def test_filebeat_parses_at_the_root_drops_probes_and_has_ilm():
    filebeat = yaml.safe_load((LOGS / "elk" / "filebeat.yml").read_text())
    parsers = filebeat["filebeat.autodiscover"]["providers"][0]["templates"][0]["config"][0]["parsers"]
    assert {"ndjson": {"target": "", "add_error_key": True, "message_key": "event"}} in parsers
    assert filebeat["processors"][0]["drop_event"]["when"]["regexp"]["http_path"] == "^/health"
    ilm = json.loads((LOGS / "elk" / "ilm-logs-catalogo.json").read_text())
    assert ilm["policy"]["phases"]["delete"]["min_age"] == "14d"


K8S_VERSION = "1.35"
ALLOY_K8S = LOGS / "k8s" / "alloy.yaml"


def test_alloy_daemonset_is_valid_kubernetes():
    import kubernetes_validate

    objects = [o for o in yaml.safe_load_all(ALLOY_K8S.read_text()) if o]
    for obj in objects:
        assert kubernetes_validate.validate(obj, K8S_VERSION, strict=True) == K8S_VERSION
    kinds = {o["kind"]: o for o in objects}
    container = kinds["DaemonSet"]["spec"]["template"]["spec"]["containers"][0]
    assert PINNED.match(container["image"])
    config = kinds["ConfigMap"]["data"]["config.alloy"]
    labels = re.search(r"stage\.labels \{(.*?)\n\s*\}\n", config, re.S)[1]
    assert "request_id" not in labels and "stage.drop" in config


def test_alloy_daemonset_is_ready_on_every_node(k8s_cluster):
    """On the course's cluster the shipper's DaemonSet reaches numberReady ==
    desiredNumberScheduled (on kwok nodes the pod status is simulated: no container runs).
    Only the namespaced objects are applied, in the run's namespace, so the cleanup of
    the run removes everything; the cluster-wide RBAC is validated above."""
    import time

    from course import k8s
    from course import docker as cdocker

    run = cdocker.new_run_id()
    namespaced = [o for o in yaml.safe_load_all(ALLOY_K8S.read_text())
                  if o and o["kind"] in ("ServiceAccount", "ConfigMap", "DaemonSet")]
    try:
        namespace = k8s_cluster.namespace(run)
        k8s_cluster.kubectl("apply", "-f", "-", namespace=namespace,
                            input=yaml.safe_dump_all(namespaced), echo=False)
        deadline, status = time.monotonic() + 60, {}
        while time.monotonic() < deadline:
            out = k8s_cluster.kubectl("get", "daemonset", "alloy-logs", "-o", "json",
                                      namespace=namespace, echo=False)
            status = json.loads(out.stdout)["status"]
            if status.get("desiredNumberScheduled", 0) > 0 and \
                    status.get("numberReady") == status["desiredNumberScheduled"]:
                break
            time.sleep(1)
        assert status.get("desiredNumberScheduled", 0) > 0, status
        assert status.get("numberReady") == status["desiredNumberScheduled"], status
    finally:
        k8s.cleanup(run)

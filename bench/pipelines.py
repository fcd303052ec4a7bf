"""Time one run of the service's pipeline (deploy/cicd) with act and with gitlab-ci-local:
first run with a cold image build, then a second run (push to main) that reuses the layer
cache, and a pull/merge request (lint and tests only). With a cluster (kind or the local
control plane, e.g. after `curso cluster crear`), the deploy jobs really apply the release to a
namespace of the run (KUBECONFIG_DATA); without one they only render the chart.

Run: .venv/bin/python bench/pipelines.py   (needs Docker, act and gitlab-ci-local; ~2 min)
The first run of each tool is made cold by a line that only that run's Dockerfile has, so
the dependency layers are rebuilt (pip install inside the build). One run: noisy machines.
"""
from __future__ import annotations

from results_io import show_and_save  # sibling module (run as a script)
from course import images, k8s, pipelines
from course import docker as cdocker
from course import registry as creg

SOURCES = pipelines.REFERENCE_DIR


def cold(work: pipelines.WorkRepo, marker: str) -> None:
    """A builder-stage line unique to this run: every layer after it is rebuilt."""
    dockerfile = (work.path / "Dockerfile").read_text()
    stage = "FROM ${PYTHON_IMAGE} AS builder\n"
    lines = [line for line in dockerfile.splitlines() if not line.startswith("RUN echo bench")]
    dockerfile = "\n".join(lines) + "\n"
    work.write("Dockerfile", dockerfile.replace(stage, f"{stage}RUN echo bench {marker}\n", 1))
    work.commit(f"bench: {marker}")


def main() -> dict:
    results = {}
    with cdocker.run_scope() as run:
        host = creg.start(run, suffix="registro-bench").host
        variables = {"REGISTRY": host, "PYTHON_IMAGE": images.ensure("python-slim")}
        secrets = {"REGISTRY_PASSWORD": "bench-" + run}
        cluster = k8s.find()
        if cluster is not None:
            secrets["KUBECONFIG_DATA"] = pipelines.kubeconfig_secret(cluster)
            variables["KUBE_NAMESPACE"] = cluster.namespace(run, "bench")
        results["deploy"] = f"al clúster ({cluster.summary()})" if cluster else "solo helm template"
        work = pipelines.new_repo(run, github=(SOURCES / "github-ci.yml").read_text(),
                                  gitlab=(SOURCES / "gitlab-ci.yml").read_text())
        try:
            for tool, version in (("act", "v9.0.0"), ("gitlab-ci-local", "v9.0.1")):
                cold(work, f"{run}-{tool}")
                work.tag(version)
                if tool == "act":
                    first = pipelines.run_act(work, ref=f"refs/tags/{version}", variables=variables,
                                              secrets=secrets)
                else:
                    first = pipelines.run_gitlab(work, tag=version, variables=variables,
                                                 secrets=secrets, manual=("deploy",))
                work.write("CHANGELOG.md", f"{tool}\n")
                work.commit("push a main")
                if tool == "act":
                    second = pipelines.run_act(work, ref="refs/heads/main", variables=variables,
                                               secrets=secrets)
                    request = pipelines.run_act(work, event="pull_request", secrets=secrets)
                else:
                    second = pipelines.run_gitlab(work, branch="main", variables=variables,
                                                  secrets=secrets)
                    request = pipelines.run_gitlab(work, merge_request=True, secrets=secrets)
                assert first.ok and second.ok and request.ok, (first.summary(), second.summary())
                results[f"{tool}_first_cold_s"] = first.seconds
                results[f"{tool}_second_cached_s"] = second.seconds
                results[f"{tool}_request_no_build_s"] = request.seconds
                results[f"{tool}_cached_over_first"] = second.seconds / first.seconds
        finally:
            pipelines.cleanup(run, registry_host=host)
            k8s.cleanup(run)
    show_and_save("Pipeline del servicio: act y gitlab-ci-local (una sola ejecución)", "pipelines",
                  results)
    return results


if __name__ == "__main__":
    main()
